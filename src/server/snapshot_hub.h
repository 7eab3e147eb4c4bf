#pragma once
// The live page's data: one thread computes a snapshot of all six panels per tick (after each
// insert and each checkpoint of the consumer, at most every 250 ms, and at least every 2 s) and
// hands the same text to every connected page, so N pages cost one set of queries, not N. A
// snapshot after an insert recomputes only the panels an insert changes (query::data_moment)
// and repeats the others from the last one, so the page follows each insert at half the cost.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "clickhouse/broken_parts.h"
#include "clickhouse/client.h"
#include "common/result.h"
#include "ingest/stats.h"
#include "query/metrics.h"
#include "server/prometheus.h"

namespace tp::server {

// How metrics are computed: query::run_metric and query::list_restaurants in the binary,
// fakes in tests (and while the metrics library is not linked).
struct MetricsBackend {
  std::function<Result<nlohmann::ordered_json>(clickhouse::Client&, const query::MetricRequest&)>
      run_metric;
  std::function<Result<nlohmann::ordered_json>(clickhouse::Client&, int64_t as_of_ms)>
      list_restaurants;
};

// Tick timing of the snapshot thread.
struct SnapshotTiming {
  int64_t heartbeat_ms = 2000;    // a snapshot at least this often, even with nothing new
  int64_t min_interval_ms = 250;  // at most one snapshot per filter this often (start to start;
                                  // and at most half the thread's time computing, on average)
  int64_t poll_ms = 20;           // how often the thread looks at the batch counters
};

// The panels of one filter's last snapshot, by the moment their data changes, with the
// consumer's count of that moment's batches read before they were computed: a panel is reused
// while that count stands (and it is younger than the heartbeat, for the sliding windows).
struct PanelCache {
  struct Group {
    uint64_t batches = 0;             // stored_batches or batches when it was computed
    int64_t computed_ms = INT64_MIN;  // steady clock; INT64_MIN: never
    nlohmann::ordered_json panels = nlohmann::ordered_json::object();  // name -> rows
  };
  Group stored;        // query::DataMoment::kStored panels
  Group checkpointed;  // query::DataMoment::kCheckpointed panels
};

// Events per second over the last few seconds, from samples of a growing counter.
class RateMeter {
 public:
  explicit RateMeter(int64_t span_ms = 5000) : span_ms_(span_ms) {}
  // Records `count` at `at_ms` (steady clock) and returns the rate over the span.
  double sample(int64_t at_ms, uint64_t count);

 private:
  int64_t span_ms_;
  std::deque<std::pair<int64_t, uint64_t>> samples_;
};

// The parts as /healthz and the snapshots show them: [{"table", "name", "reason"}, …].
nlohmann::ordered_json broken_parts_json(const std::vector<clickhouse::BrokenPart>& parts);

// Produces snapshots for the restaurant filters that have subscribers.
class SnapshotHub {
 public:
  // A subscriber's position in its channel; obtained from subscribe().
  struct Subscription {
    std::string restaurant_id;  // "" = all restaurants
    uint64_t seen_version = 0;
  };

  SnapshotHub(clickhouse::ClientFactory& factory, MetricsBackend backend,
              std::shared_ptr<ingest::IngestStats> stats, QueryLatencies& latencies,
              SnapshotTiming timing = {});
  ~SnapshotHub();
  SnapshotHub(const SnapshotHub&) = delete;
  SnapshotHub& operator=(const SnapshotHub&) = delete;

  // Starts the snapshot thread; stop() ends it and wakes every waiting subscriber.
  void start();
  void stop();

  // Registers a page for the snapshots of `restaurant_id` ("" = all).
  std::shared_ptr<Subscription> subscribe(const std::string& restaurant_id);
  // Forgets a subscription (the page went away).
  void unsubscribe(const std::shared_ptr<Subscription>& subscription);

  // Waits up to `timeout` for a snapshot newer than the subscriber's last one; returns the
  // SSE event text ("event: snapshot\ndata: {...}\n\n") or nullptr on timeout or stop.
  std::shared_ptr<const std::string> next(Subscription& subscription,
                                          std::chrono::milliseconds timeout);

  // Connected subscribers, for /metrics and the connection limit.
  size_t subscriber_count() const;

  // Computes one snapshot now on `client` (the snapshot thread's body; public for tests),
  // reusing from `cache` the panels whose data has no news, and leaving the new ones in it.
  nlohmann::ordered_json compute(clickhouse::Client& client, const std::string& restaurant_id,
                                 PanelCache* cache = nullptr);

  // The consumer's live counters as the snapshot's "ingest" object.
  nlohmann::ordered_json ingest_json();

  // Marks the consumer as failed, shown in every later snapshot's ingest.error.
  void set_ingest_error(std::string message);
  // Why the consumer stopped, or "" while it runs (or none runs in this process).
  std::string ingest_error();

  // Remembers `error` if it says stored data does not read back (kDataCorrupted: a part
  // changed in place, which opening the directory cannot see); /healthz reports the first one
  // until the process ends, as such data does not heal.
  void note_query_error(const Error& error);
  // The first such error, if a query met one.
  std::optional<Error> data_error();

  // The parts the engine set aside (--allow-broken-parts), shown in every snapshot's
  // broken_parts; set before start().
  void set_broken_parts(std::vector<clickhouse::BrokenPart> parts);
  const std::vector<clickhouse::BrokenPart>& broken_parts() const { return broken_parts_; }

 private:
  struct Channel {
    size_t subscribers = 0;
    uint64_t version = 0;
    std::shared_ptr<const std::string> event;
    int64_t last_ms = 0;        // steady clock of the last snapshot
    uint64_t last_batches = 0;  // stats->batches + stored_batches seen by the last snapshot
  };

  void run();

  clickhouse::ClientFactory& factory_;
  MetricsBackend backend_;
  std::shared_ptr<ingest::IngestStats> stats_;
  QueryLatencies& latencies_;
  SnapshotTiming timing_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;  // a new snapshot, a new subscriber, or stop
  std::map<std::string, Channel> channels_;
  size_t subscribers_ = 0;
  bool stopping_ = false;
  std::thread thread_;

  std::mutex rate_mutex_;
  RateMeter rate_;
  std::string ingest_error_;
  std::vector<clickhouse::BrokenPart> broken_parts_;
  std::optional<Error> data_error_;  // guarded by rate_mutex_
};

}  // namespace tp::server
