#pragma once
// Kafka as a source and as a sink of event lines (librdkafka's C++ API). The consumer side
// leaves every offset decision to its listener: where a partition starts comes from the
// checkpoints stored in ClickHouse (the source of truth), and offsets are committed to Kafka
// only after they are checkpointed there, so that standard lag tools see the truth too.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace tp::source {

// How to reach the cluster and what to read; the defaults suit one consumer group per chain.
// librdkafka's own default for queued.max.messages.kbytes (64 MB): the least prefetch we ask for.
inline constexpr int64_t kLibraryPrefetchKbytes = 65536;

struct KafkaOptions {
  std::string brokers;               // bootstrap.servers ("host:9092,host2:9092"); empty: no Kafka
  std::string topic;                 // the events topic
  std::string group = "tablepulse";  // group.id: processes of one group share the partitions
  // librdkafka properties passed through (SASL, TLS, timeouts …); a value "env:NAME" is read
  // from the environment variable NAME, so secrets stay out of argv and logs.
  std::vector<std::pair<std::string, std::string>> properties;
  bool until_caught_up = false;   // end once every assigned partition reached the end offset
                                  // it had when it was assigned (batch jobs, tests)
  std::string dead_letter_topic;  // refused messages are also produced here; empty: not
  // librdkafka's prefetch, all partitions together (queued.max.messages.kbytes; librdkafka's
  // default). The consumer sizes it to hold two of its batches: smaller than one batch, it was
  // drained before each batch was full and the reading waited for the fetcher (1M events from
  // 6 partitions at 16 MB: 7-10 s of 23 s in empty polls).
  int64_t prefetch_kbytes = kLibraryPrefetchKbytes;
};

// The prefetch that holds two batches of `batch_rows` event lines at 512 bytes a line (the
// generator's lines average 427), and at least librdkafka's default.
int64_t kafka_prefetch_kbytes(size_t batch_rows);

// The checkpoint identity of a partition: "kafka:<topic>/<partition>"; the prefix shared by a
// topic's partitions ("kafka:<topic>/"); and back (nullopt: not a partition's id).
std::string kafka_source_id(std::string_view topic, int32_t partition);
std::string kafka_source_prefix(std::string_view topic);
std::optional<std::pair<std::string, int32_t>> parse_kafka_source_id(std::string_view id);

// One message of the topic (payload copied: valid after the next poll()).
struct KafkaMessage {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string payload;
};

// What a partition assignment needs from the consumer: where each new partition starts (its
// checkpoint's end, nullopt: never checkpointed, from the beginning) and, before partitions are
// taken away, their batches committed (or dropped), never half.
class PartitionListener {
 public:
  virtual ~PartitionListener() = default;
  virtual Result<std::vector<std::optional<int64_t>>> assigned(
      const std::vector<int32_t>& partitions) = 0;
  virtual void revoked(const std::vector<int32_t>& partitions) = 0;
};

// A member of a consumer group reading one topic. Not thread-safe, except commit(), which the
// checkpointing thread calls.
class KafkaSource {
 public:
  // Connects and subscribes; fails with not_found if the topic does not exist, auth_failed at
  // once if a broker refuses the credentials or the TLS handshake fails, unavailable if no
  // broker answers within `connect_timeout`.
  static Result<std::unique_ptr<KafkaSource>> open(
      const KafkaOptions& options, PartitionListener& listener,
      std::chrono::milliseconds connect_timeout = std::chrono::seconds(30));
  ~KafkaSource();
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  // The next message, waiting up to `timeout`; nullopt when none came. Rebalances run in here
  // (the listener is called from this thread). A failure the client cannot recover from
  // (fatal errors, a failed assignment) ends the run.
  Result<std::optional<KafkaMessage>> poll(std::chrono::milliseconds timeout);

  // Commits `next_offset` (the first not checkpointed) of `partition` to Kafka, asynchronously.
  void commit(int32_t partition, int64_t next_offset);

  // Stops fetching from every assigned partition (backpressure) and starts again.
  void pause();
  void resume();
  bool paused() const;

  // Whether every assigned partition reached its end offset as of its assignment (and at least
  // one assignment happened).
  bool caught_up() const;

  // The partitions this member owns, with their last known high watermark (-1: unknown).
  std::map<int32_t, int64_t> high_watermarks();

  // Commits the last offsets given to commit() synchronously and leaves the group (revoking
  // the partitions through the listener first).
  void close();

  const KafkaOptions& options() const;

 private:
  class Impl;
  explicit KafkaSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// An idempotent producer of event lines (lz4, batched): `generate --kafka` and the dead-letter
// topic.
class KafkaProducer {
 public:
  static Result<std::unique_ptr<KafkaProducer>> open(
      const std::string& brokers,
      const std::vector<std::pair<std::string, std::string>>& properties);
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  // Queues one message (keyed: same key, same partition, in order); waits while the local
  // queue is full. Fails only when the client cannot go on (a fatal error).
  Status produce(const std::string& topic, std::string_view key, std::string_view payload);
  // Waits until every queued message is acknowledged (or failed); the first delivery failure.
  Status flush(std::chrono::milliseconds timeout);
  uint64_t delivered() const;

 private:
  class Impl;
  explicit KafkaProducer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The partitioning key of an event line: its restaurant (restaurant_id or location_id), so a
// restaurant's events stay in order in one partition; empty if none is found.
std::string_view event_key(std::string_view line);

}  // namespace tp::source
