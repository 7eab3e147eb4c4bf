#include "ingest/consumer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "clickhouse/schema.h"
#include "common/fault.h"
#include "common/time.h"
#include "decode/decoder.h"
#include "ingest/batch.h"
#include "ingest/checkpoints.h"
#include "ingest/database_retries.h"
#include "ingest/dead_letters.h"
#include "ingest/id_lookup.h"
#include "ingest/late_events.h"
#include "ingest/matcher.h"
#include "ingest/progress.h"
#include "ingest/recent_ids.h"
#include "ingest/row_encoder.h"
#include "ingest/stage.h"
#include "source/kafka.h"
#include "source/line_reader.h"

namespace tp::ingest {
namespace {

using Clock = BatchClock;

constexpr int64_t kMatchRangeGapMs = 600'000;  // a batch's events further apart than this
constexpr size_t kMaxMatchRanges = 8;          // … are refreshed as separate ranges, up to 8

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// The deduplication token of an insert covering batches with these tokens (source:start:end):
// a lone batch's own, or the first one's with a hash of them all (a group of many partitions
// would make a long one).
std::string group_token(const std::vector<std::string>& tokens) {
  if (tokens.size() == 1) return tokens.front();
  uint64_t hash = decode::stable_hash("");
  for (const std::string& token : tokens) hash = decode::stable_hash(token + "\n", hash);
  return fmt::format("{}+{}:{:016x}", tokens.front(), tokens.size() - 1, hash);
}

}  // namespace

nlohmann::json IngestSummary::to_json() const {
  nlohmann::json out = counters.to_json();
  out.update({{"batches", batches},
              {"resumed_from_checkpoint", resumed_from_checkpoint},
              {"dead_letters_dropped", dead_letters_dropped},
              {"seconds", seconds}});
  return out;
}

// The pipeline's glue: reads and decodes lines into batches (this thread), and hands them to two
// stages (ingest/stage.h): the committer (lookup, insert) and the matcher (match step, dead
// letters, checkpoint, counters). The pieces it drives are each in a file of their own.
class Consumer::Impl : public source::PartitionListener {
 public:
  Impl(clickhouse::ClientFactory& factory, IngestOptions options,
       std::shared_ptr<IngestStats> stats)
      : factory_(factory),
        options_(std::move(options)),
        stats_(std::move(stats)),
        decoder_({static_cast<size_t>(options_.max_line_bytes), options_.default_zone}),
        recent_(options_.dedup_memory_ids),
        retrier_(options_.retry, *stats_, stop_),
        progress_(*stats_) {}

  Result<IngestSummary> run();
  void stop() { stop_.store(true); }

 private:
  Status prepare();
  Status consume_source(const std::string& path);
  // Reads options_.kafka's topic until stopped (or caught up), one open batch per partition.
  Status consume_kafka();
  // PartitionListener: a new partition starts after its checkpoint; a revoked one's batches
  // are committed before it goes.
  Result<std::vector<std::optional<int64_t>>> assigned(
      const std::vector<int32_t>& partitions) override;
  void revoked(const std::vector<int32_t>& partitions) override;
  // Adds one message to its partition's batch (handing the batches over when full).
  Status add_kafka_message(const source::KafkaMessage& message);
  // Hands every partition's open batch to the committer, as one group; `keep_polling`: while
  // the committer is full, Kafka is still served (rebalances) and paused if it stays full.
  Status hand_over_partitions(bool keep_polling);
  Status submit_polling(BatchGroup&& group);
  // Messages the owned partitions hold past what was read (from the watermarks of the last
  // fetches; no broker round trip).
  uint64_t kafka_backlog();
  // The offset after the last message of `partition` read so far (its checkpoint if none).
  uint64_t kafka_read_end(int32_t partition) const;
  // Waits until every batch handed over is checkpointed (the stages restart empty).
  Status drain_stages();
  // The partitions' high watermarks and state into stats_ (/metrics, the page).
  void publish_kafka_state();
  // Looks the group's ids up on the reader's connection while the committer is still busy
  // with the previous group; a failure leaves it to the committer.
  void prefetch(BatchGroup& group);
  // Where reading `path` continues (its newest generation's last checkpoint), and that
  // generation's committed end.
  Result<source::ResumePoint> resume_point(const std::string& path, uint64_t& committed_end);
  void add_line(const source::Line& line, Batch& batch);
  // Counts `line` as refused for `reason` and queues its dead letter (a prefix of it).
  void reject_line(const source::Line& line, Batch& batch, decode::Reason reason,
                   std::string detail);
  // Looks the group's ids up, inserts its new events and hands its batches to the match stage.
  Status commit(clickhouse::Client& client, BatchGroup& group);
  // One match step for inserted batches, then their dead letters, one insert of their
  // checkpoints, and their counters.
  Status finish_batches(clickhouse::Client& client, std::vector<InsertedBatch>& inserted);
  Status checkpoint(clickhouse::Client& client, const std::vector<InsertedBatch>& inserted,
                    double match_ms);
  // One insert of a block in `format`, its latency recorded for /metrics.
  Status timed_insert(clickhouse::Client& client, std::string_view table, std::string_view format,
                      const std::string& data, const std::string& token);

  clickhouse::ClientFactory& factory_;
  IngestOptions options_;
  std::shared_ptr<IngestStats> stats_;
  std::unique_ptr<clickhouse::Client> reader_client_;  // the reading thread's connection
  decode::Decoder decoder_;
  RecentIds recent_;           // in-run deduplication (bounded)
  LateDetector late_;          // used by the committer only, after prepare()
  std::atomic<bool> stop_{false};
  DatabaseRetrier retrier_;
  std::unique_ptr<DeadLetterFile> dead_letters_;  // null: not written
  std::optional<int> ttl_days_;  // the database's retention, read at start; unset: none
  std::string run_id_ = fmt::format(
      "{:016x}", std::random_device{}() * 0x100000000ULL ^ static_cast<uint64_t>(now_ms()));
  bool use_insert_tokens_ = !factory_.embedded();
  // In-process one lookup takes the whole batch (its ids go through a file); over HTTP chunks
  // keep each request moderate.
  const size_t lookup_ids_per_query_ = factory_.embedded() ? 0 : kHttpLookupChunk;
  IngestSummary summary_;
  Clock::time_point started_ = Clock::now();
  bool show_progress_ = false;
  ProgressLine progress_;
  // Kafka (consume_kafka): the source, each owned partition's open batch and the checkpoint
  // it had when assigned, the rows (events and refusals) of the open batches, the group
  // waiting for room in the committer, and what a rebalance callback failed with (returned by
  // the reading loop).
  std::unique_ptr<source::KafkaSource> kafka_;
  std::unique_ptr<source::KafkaProducer> dead_letter_producer_;  // --dlq-topic
  std::map<int32_t, Batch> kafka_batches_;
  std::map<int32_t, uint64_t> kafka_committed_;
  size_t kafka_open_rows_ = 0;
  std::set<int32_t> kafka_seen_;  // partitions assigned to this run at some point
  std::optional<BatchGroup> kafka_waiting_;
  bool kafka_handing_over_ = false;  // full batches do not start a second hand-over
  bool kafka_closing_ = false;       // leaving the group: revoked() has nothing to commit
  Status kafka_failure_;
  // Last, so their threads stop before the members they use are destroyed.
  // Three threads in a pipeline (memory stays bounded and the reader never runs ahead of what
  // the database accepts): the reader decodes batch N+2 while the committer inserts batch N+1
  // (one batch waits for it) and the matcher runs the match step and checkpoints of the
  // groups inserted before (up to 4 wait for it, their events already dropped; it lingers
  // up to --batch-ms, and at least --match-ms, for them, since a step costs ≈ 80 ms of CPU
  // even for a few events (≈ 300 ms with 1M stored): a live stream gets about one step a
  // second by default whatever its insert cadence, a bulk load larger steps). Match steps run
  // in batch order, each after its batches' inserts (docs/DESIGN.md §6a).
  Stage<std::vector<InsertedBatch>> matcher_{
      factory_, 4,
      std::chrono::milliseconds(
          std::max<int64_t>(options_.batch_max_age_ms, options_.match_linger_ms)),
      [this](clickhouse::Client& client, std::vector<std::vector<InsertedBatch>>& groups) {
        std::vector<InsertedBatch> batches;
        for (auto& group : groups) {
          for (InsertedBatch& one : group) batches.push_back(std::move(one));
        }
        return finish_batches(client, batches);
      }};
  Stage<BatchGroup> committer_{
      factory_, 1, std::chrono::milliseconds(0),
      [this](clickhouse::Client& client, std::vector<BatchGroup>& groups) -> Status {
        for (BatchGroup& group : groups) {
          TP_RETURN_IF_ERROR(commit(client, group));
        }
        return Status();
      }};
};

Status Consumer::Impl::prepare() {
  auto client = factory_.connect();
  if (!client.ok()) return client.error();
  reader_client_ = std::move(client.value());
  // A database that is away at start is waited for as during the run.
  TP_RETURN_IF_ERROR(retrier_.run("reading the late-detection marks", [&] {
    auto marks = load_committed_high_water_marks(*reader_client_);
    if (!marks.ok()) return Status(marks.error());
    late_.seed(std::move(marks.value()));
    return Status();
  }));
  if (!options_.dead_letter_path.empty()) {
    auto file = DeadLetterFile::open(options_.dead_letter_path, options_.dead_letter_max_bytes);
    if (!file.ok()) return file.error();
    dead_letters_ = std::move(file.value());
  }
  // Events the TTL would delete are refused (expired): the summary counts what stays stored.
  auto ttl = clickhouse::current_ttl_days(*reader_client_);
  if (!ttl.ok()) return ttl.error();
  ttl_days_ = ttl.value();
  show_progress_ = options_.progress && ::isatty(STDERR_FILENO);
  return {};
}

Result<IngestSummary> Consumer::Impl::run() {
  stats_->running.store(true);
  Status status;
  // The reading thread's exception boundary (the stages have their own): the run ends with an
  // error, its committed batches stay committed.
  try {
    status = prepare();
    if (status.ok()) {
      for (const auto& path : options_.sources) {
        status = consume_source(path);
        if (!status.ok() || stop_.load()) break;
      }
      if (status.ok() && !stop_.load() && !options_.kafka.brokers.empty()) {
        status = consume_kafka();
      }
    }
  } catch (const std::exception& e) {
    status = make_error(ErrorCode::kInternal, "consumer failed: {}", e.what());
  }
  dead_letters_.reset();
  stats_->running.store(false);
  summary_.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  if (show_progress_) progress_.update(true);
  if (!status.ok()) return status.error();
  return summary_;
}

Result<source::ResumePoint> Consumer::Impl::resume_point(const std::string& path,
                                                         uint64_t& committed_end) {
  source::ResumePoint resume;
  committed_end = 0;
  auto checkpoint = read_file_checkpoint(*reader_client_, path);
  if (!checkpoint.ok()) return checkpoint.error();
  if (!checkpoint->has_value()) return resume;
  const FileCheckpoint& last = **checkpoint;
  resume.generation = last.generation;
  committed_end = last.end_offset;
  if (options_.resume) {
    resume.offset = last.end_offset;
    resume.lines_before = last.end_line;
    resume.tail = last.end_tail;
  }
  return resume;
}

Status Consumer::Impl::consume_source(const std::string& path) {
  // Only a regular file can be resumed by byte offset: a pipe or a device starts over with
  // whatever it delivers now (and its line numbers count from 1).
  struct stat info {};
  const bool resumable = path != "-" && ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
  uint64_t committed_end = 0;
  source::ResumePoint resume;
  if (resumable) {
    TP_RETURN_IF_ERROR(retrier_.run(fmt::format("reading the checkpoint of {}", path), [&] {
      auto point = resume_point(path, committed_end);
      if (!point.ok()) return Status(point.error());
      resume = std::move(point.value());
      return Status();
    }));
  }
  auto opened =
      source::LineReader::open(path, resume, static_cast<size_t>(options_.max_line_bytes));
  if (!opened.ok()) return opened.error();
  auto& reader = *opened.value();
  uint64_t offset = 0, lines_before = 0;
  if (reader.resumed()) {
    offset = resume.offset;
    lines_before = resume.lines_before;
    summary_.resumed_from_checkpoint += lines_before;
    spdlog::info("{}: resuming after line {} (byte {}), committed by an earlier run", path,
                 lines_before, offset);
  } else if (resume.offset > 0) {
    // A checkpoint the file no longer matches: the reader started the next generation, and
    // nothing of it is committed.
    committed_end = 0;
  }
  if (dead_letters_ != nullptr) {
    if (options_.resume && resumable) {
      TP_RETURN_IF_ERROR(dead_letters_->remember_written_beyond(reader.source_id(), lines_before));
    } else {
      dead_letters_->forget_written();
    }
  }

  Batch batch;
  batch.position.source_id = reader.source_id();
  batch.position.file_identity = reader.file_identity();
  batch.position.committed_end = committed_end;
  batch.position.end_offset = batch.start_offset = offset;
  batch.position.end_line = lines_before;
  batch.position.end_tail = resume.tail;
  Status failure;
  matcher_.start();
  committer_.start();
  // The reader looks the batch's ids up on its own connection while the committer is still
  // inserting the previous batch; if that fails, the committer looks again (with retries).
  // Ids of the previous batch cannot be among them: the in-run map already turned those away.
  auto hand_over = [&]() {
    Batch next = batch.successor();
    BatchGroup group(std::move(batch));
    prefetch(group);
    failure = committer_.submit(std::move(group));
    batch = std::move(next);
  };
  auto flush_if_due = [&]() {
    if (batch.empty() || !failure.ok()) return;
    auto age =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - batch.first_line_at);
    if (age.count() >= options_.batch_max_age_ms) hand_over();
    if (show_progress_) progress_.update(false);
  };
  while (!stop_.load() && failure.ok()) {
    auto next = reader.next(options_.follow, stop_, flush_if_due);
    if (!next.ok()) {
      failure = next.error();  // what was read before still commits
      break;
    }
    if (!next->has_value()) break;
    const source::Line& line = **next;
    if (reader.source_id() != batch.source_id()) {
      // The followed file was rotated or truncated: its next generation starts a batch of its
      // own, from its start, and nothing of it is committed yet.
      if (!batch.empty()) hand_over();
      if (!failure.ok()) break;
      batch.position = SourcePosition{reader.source_id(), reader.file_identity(), 0, 0, 0, {}};
      batch.start_offset = 0;
    }
    if (batch.empty()) {
      batch.first_line_at = Clock::now();
      batch.first_read_wall_ms = now_ms();
    }
    add_line(line, batch);
    batch.position.end_offset = line.end_offset;
    batch.position.end_line = line.number;
    batch.position.end_tail.assign(line.tail);
    if (batch.events.size() >= options_.batch_max_rows ||
        batch.rejects.size() >= options_.batch_max_rows) {
      hand_over();
    } else if (options_.follow || !reader.seekable()) {
      flush_if_due();  // a stream: bound the delay; a file read to its end fills whole batches
    }
  }
  if (failure.ok() && !batch.empty()) hand_over();
  Status committed = committer_.finish();  // first: it hands its last batch to the matcher
  Status matched = matcher_.finish();
  if (!failure.ok()) return failure;
  if (!committed.ok()) return committed;
  return matched;
}

void Consumer::Impl::prefetch(BatchGroup& group) {
  auto lookup_start = Clock::now();
  auto stored = find_stored(*reader_client_, group.batches, options_.dedup_lookback_ms,
                            lookup_ids_per_query_);
  spdlog::debug("lookup for {} batches: {:.0f} ms", group.batches.size(),
                ms_between(lookup_start, Clock::now()));
  if (stored.ok()) group.prefetched = std::move(stored.value());
}

Status Consumer::Impl::consume_kafka() {
  source::KafkaOptions kafka = options_.kafka;
  kafka.prefetch_kbytes = source::kafka_prefetch_kbytes(options_.batch_max_rows);
  if (!kafka.dead_letter_topic.empty()) {
    auto producer = source::KafkaProducer::open(kafka.brokers, kafka.properties);
    if (!producer.ok()) return producer.error();
    dead_letter_producer_ = std::move(producer.value());
  }
  {
    std::lock_guard lock(stats_->mutex);
    stats_->kafka_topic = kafka.topic;
  }
  matcher_.start();
  committer_.start();
  Status failure;
  auto opened = source::KafkaSource::open(kafka, *this);
  if (opened.ok()) {
    kafka_ = std::move(opened.value());
  } else {
    failure = opened.error();
  }
  auto published = Clock::now();
  auto backlog_at = Clock::time_point();
  uint64_t backlog = 0;
  while (kafka_ && failure.ok() && !stop_.load()) {
    auto message = kafka_->poll(std::chrono::milliseconds(100));
    if (!kafka_failure_.ok()) {
      failure = kafka_failure_;
      break;
    }
    if (!message.ok()) {
      failure = message.error();
      break;
    }
    if (message->has_value()) failure = add_kafka_message(**message);
    // All the batches go when the oldest one is old enough (a live stream), unless what waits
    // in the partitions fills them anyway (a backlog is read in whole batches, as a file is).
    const auto oldest_kept = Clock::now() - std::chrono::milliseconds(options_.batch_max_age_ms);
    bool due = false;
    for (const auto& [partition, batch] : kafka_batches_) {
      due = due || (!batch.empty() && batch.first_line_at <= oldest_kept);
    }
    if (due && failure.ok()) {
      // The backlog at most every 100 ms: while it fills the batches, every message is past due.
      if (Clock::now() - backlog_at >= std::chrono::milliseconds(100)) {
        backlog = kafka_backlog();
        backlog_at = Clock::now();
      }
      const size_t room =
          options_.batch_max_rows - std::min(options_.batch_max_rows, kafka_open_rows_);
      if (backlog < room) failure = hand_over_partitions(true);
    }
    if (Clock::now() - published >= std::chrono::seconds(1)) {
      publish_kafka_state();
      if (show_progress_) progress_.update(false);
      published = Clock::now();
    }
    if (kafka.until_caught_up && kafka_->caught_up() && !message->has_value()) break;
  }
  if (failure.ok()) failure = hand_over_partitions(false);
  if (failure.ok() && kafka_waiting_) failure = committer_.submit(std::move(*kafka_waiting_));
  kafka_waiting_.reset();
  Status committed = committer_.finish();
  Status matched = matcher_.finish();
  if (kafka_) {
    publish_kafka_state();
    kafka_closing_ = true;
    kafka_->close();  // commits the checkpointed offsets to Kafka and leaves the group
    kafka_.reset();
  }
  if (dead_letter_producer_) {
    Status flushed = dead_letter_producer_->flush(std::chrono::seconds(30));
    if (failure.ok() && !flushed.ok()) failure = flushed;
  }
  if (!failure.ok()) return failure;
  if (!committed.ok()) return committed;
  return matched;
}

Status Consumer::Impl::add_kafka_message(const source::KafkaMessage& message) {
  auto [it, added] = kafka_batches_.try_emplace(message.partition);
  Batch& batch = it->second;
  if (added) {
    batch.position.source_id = source::kafka_source_id(options_.kafka.topic, message.partition);
    batch.position.kafka_partition = message.partition;
    batch.position.committed_end = kafka_committed_[message.partition];
  }
  const uint64_t offset = static_cast<uint64_t>(message.offset);
  if (batch.empty()) {
    const uint64_t expected = kafka_read_end(message.partition);
    if (offset > expected && expected > 0) {
      spdlog::warn(
          "{}: offsets {}..{} are gone (the topic's retention or compaction) before "
          "they were read",
          batch.source_id(), expected, offset - 1);
    }
    batch.start_offset = offset;
    batch.first_line_at = Clock::now();
    batch.first_read_wall_ms = now_ms();
  }
  // One message, one event line: line n of a partition is its message at offset n - 1.
  std::string_view text = message.payload;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  source::Line line;
  line.offset = offset;
  line.end_offset = offset + 1;
  line.number = offset + 1;
  line.bytes = text.size();
  line.too_long = text.size() > static_cast<size_t>(options_.max_line_bytes);
  line.text = line.too_long ? text.substr(0, source::kKeptLineBytes) : text;
  const size_t rows_before = batch.events.size() + batch.rejects.size();
  add_line(line, batch);
  kafka_open_rows_ += batch.events.size() + batch.rejects.size() - rows_before;
  batch.position.end_offset = line.end_offset;
  batch.position.end_line = line.number;
  if (!kafka_handing_over_ && kafka_open_rows_ >= options_.batch_max_rows) {
    return hand_over_partitions(true);
  }
  return {};
}

Status Consumer::Impl::hand_over_partitions(bool keep_polling) {
  BatchGroup group;
  for (auto& [partition, batch] : kafka_batches_) {
    if (batch.empty()) continue;
    Batch next = batch.successor();
    group.batches.push_back(std::move(batch));
    batch = std::move(next);
  }
  kafka_open_rows_ = 0;
  if (group.batches.empty()) return {};
  prefetch(group);
  return keep_polling ? submit_polling(std::move(group)) : committer_.submit(std::move(group));
}

uint64_t Consumer::Impl::kafka_backlog() {
  uint64_t backlog = 0;
  for (const auto& [partition, high] : kafka_->high_watermarks()) {
    const uint64_t read = kafka_read_end(partition);
    if (high > 0 && static_cast<uint64_t>(high) > read) backlog += high - read;
  }
  return backlog;
}

uint64_t Consumer::Impl::kafka_read_end(int32_t partition) const {
  auto batch = kafka_batches_.find(partition);
  if (batch != kafka_batches_.end() && batch->second.position.end_offset > 0) {
    return batch->second.position.end_offset;
  }
  auto committed = kafka_committed_.find(partition);
  return committed == kafka_committed_.end() ? 0 : committed->second;
}

Status Consumer::Impl::submit_polling(BatchGroup&& group) {
  // An insert takes well under a second: only a committer full for longer (the database slow
  // or away) pauses the partitions, which drops librdkafka's prefetched messages.
  constexpr auto kPauseAfter = std::chrono::seconds(2);
  kafka_waiting_ = std::move(group);
  kafka_handing_over_ = true;
  const auto started = Clock::now();
  Status status;
  while (kafka_waiting_) {
    auto taken = committer_.offer(*kafka_waiting_, std::chrono::milliseconds(100));
    if (!taken.ok()) {
      status = taken.error();
      break;
    }
    if (taken.value()) break;
    if (Clock::now() - started < kPauseAfter) continue;
    if (!kafka_->paused()) {
      spdlog::warn("Kafka: the database falls behind: partitions paused until it catches up");
      kafka_->pause();
      publish_kafka_state();
    }
    // Paused, polling serves rebalances and keeps this member in its group; revoked() may
    // commit the waiting group itself.
    auto message = kafka_->poll(std::chrono::milliseconds(0));
    if (!message.ok()) {
      status = message.error();
      break;
    }
    if (message->has_value()) status = add_kafka_message(**message);
    if (!status.ok() || !kafka_failure_.ok()) break;
  }
  kafka_waiting_.reset();
  kafka_handing_over_ = false;
  if (kafka_->paused()) {
    spdlog::info("Kafka: partitions resumed");
    kafka_->resume();
    publish_kafka_state();
  }
  return status;
}

Status Consumer::Impl::drain_stages() {
  Status committed = committer_.finish();
  Status matched = matcher_.finish();
  if (!committed.ok()) return committed;
  if (!matched.ok()) return matched;
  matcher_.start();
  committer_.start();
  return {};
}

Result<std::vector<std::optional<int64_t>>> Consumer::Impl::assigned(
    const std::vector<int32_t>& partitions) {
  // The committer must not run while the late-detection marks change.
  TP_RETURN_IF_ERROR(drain_stages());
  std::map<int32_t, uint64_t> checkpoints;
  TP_RETURN_IF_ERROR(retrier_.run("reading the checkpoints of the assigned partitions", [&] {
    auto read = read_partition_checkpoints(*reader_client_, options_.kafka.topic);
    if (!read.ok()) return Status(read.error());
    checkpoints = std::move(read.value());
    // Restaurants of partitions another member read so far: their committed marks.
    auto marks = load_committed_high_water_marks(*reader_client_);
    if (!marks.ok()) return Status(marks.error());
    late_.merge(marks.value());
    return Status();
  }));
  std::vector<std::optional<int64_t>> starts;
  std::map<std::string, uint64_t> dead_letters_after;
  for (int32_t partition : partitions) {
    auto found = checkpoints.find(partition);
    const uint64_t end = found == checkpoints.end() ? 0 : found->second;
    kafka_committed_[partition] = end;
    kafka_batches_.erase(partition);
    const std::string source_id = source::kafka_source_id(options_.kafka.topic, partition);
    dead_letters_after[source_id] = end;  // line n is offset n - 1: the checkpoint's last line
    if (found == checkpoints.end()) {
      starts.emplace_back();
    } else {
      starts.emplace_back(static_cast<int64_t>(end));
      // Counted once per partition: a partition that comes back after a rebalance holds this
      // run's own batches too.
      if (kafka_seen_.insert(partition).second) summary_.resumed_from_checkpoint += end;
      spdlog::info("{}: resuming at offset {}", source_id, end);
    }
    std::lock_guard lock(stats_->mutex);
    stats_->kafka_partitions[partition].committed =
        found == checkpoints.end() ? -1 : static_cast<int64_t>(end);
  }
  if (dead_letters_ != nullptr) {
    TP_RETURN_IF_ERROR(dead_letters_->remember_written_beyond(dead_letters_after));
  }
  return starts;
}

void Consumer::Impl::revoked(const std::vector<int32_t>& partitions) {
  if (kafka_closing_) return;
  // Their batches are committed (the waiting group too) before the partitions go: their next
  // owner starts after the checkpoint, so nothing of them is half done or done twice. The
  // batches of the partitions kept go with them (one group, and the stages are drained anyway).
  Status status;
  if (kafka_waiting_) {
    status = committer_.submit(std::move(*kafka_waiting_));
    kafka_waiting_.reset();
  }
  if (status.ok()) status = hand_over_partitions(false);
  if (status.ok()) status = drain_stages();
  for (int32_t partition : partitions) {
    kafka_batches_.erase(partition);
    kafka_committed_.erase(partition);
  }
  {
    std::lock_guard lock(stats_->mutex);
    for (int32_t partition : partitions) stats_->kafka_partitions.erase(partition);
  }
  if (!status.ok() && kafka_failure_.ok()) kafka_failure_ = status;
}

void Consumer::Impl::publish_kafka_state() {
  auto highs = kafka_->high_watermarks();
  std::lock_guard lock(stats_->mutex);
  stats_->kafka_paused = kafka_->paused();
  for (const auto& [partition, high] : highs) {
    if (high >= 0) stats_->kafka_partitions[partition].high_watermark = high;
  }
}

void Consumer::Impl::add_line(const source::Line& line, Batch& batch) {
  fault_point("reader");
  const int64_t now = now_ms();
  stats_->last_read_ms.store(now, std::memory_order_relaxed);
  if (!line.too_long && line.text.find_first_not_of(" \t\r") == std::string_view::npos) {
    ++batch.read.blank;
    return;
  }
  ++batch.read.lines;
  stats_->lines_read.fetch_add(1, std::memory_order_relaxed);
  std::variant<decode::Decoded, decode::Rejection> result =
      line.too_long ? std::variant<decode::Decoded, decode::Rejection>(
                          decode::Rejection{decode::Reason::kLineTooLong,
                                            fmt::format("{} bytes, longer than {}", line.bytes,
                                                        options_.max_line_bytes)})
                    : decoder_.decode(line.text);
  if (auto* rejection = std::get_if<decode::Rejection>(&result)) {
    reject_line(line, batch, rejection->reason, std::move(rejection->detail));
    return;
  }
  auto& decoded = std::get<decode::Decoded>(result);
  if (ttl_days_ && clickhouse::expired_by_ttl(decoded.event.ts_ms, *ttl_days_, now)) {
    reject_line(line, batch, decode::Reason::kExpired,
                fmt::format("timestamp {} is older than the retention of {} days",
                            format_iso_ms(decoded.event.ts_ms), *ttl_days_));
    return;
  }
  IdKey key = id_key(decoded.event.event_id);
  if (auto seen = recent_.find(key)) {
    ++batch.read.duplicates;
    if (*seen != decoded.content_hash) ++batch.read.conflicting_duplicates;
    return;
  }
  recent_.insert(key, decoded.content_hash);
  batch.events.push_back({std::move(decoded), key, line.offset});
}

void Consumer::Impl::reject_line(const source::Line& line, Batch& batch, decode::Reason reason,
                                 std::string detail) {
  std::string code(decode::reason_code(reason));
  ++batch.read.rejected;
  ++batch.read.rejected_by_reason[code];
  batch.rejects.push_back({std::string(kept_prefix(line.text)), code, std::move(detail),
                           line.number, line.too_long ? line.bytes : line.text.size()});
}

Status Consumer::Impl::timed_insert(clickhouse::Client& client, std::string_view table,
                                    std::string_view format, const std::string& data,
                                    const std::string& token) {
  auto started = Clock::now();
  Status status = client.insert(table, format, data, {token});
  if (status.ok()) stats_->record_insert_latency(ms_between(started, Clock::now()));
  return status;
}

Status Consumer::Impl::commit(clickhouse::Client& client, BatchGroup& group) {
  fault_point("committer");
  std::vector<Batch>& batches = group.batches;
  // Per batch: its counters and its inserted rows' event-time span, for its checkpoint row.
  std::vector<BatchCounters> counters(batches.size());
  std::vector<std::pair<int64_t, int64_t>> spans(batches.size());
  std::optional<LateDetector::Pass> late;  // applied once the group lands
  auto phase_start = Clock::now();
  auto lookup_done = phase_start;
  std::vector<std::string> tokens;
  for (const Batch& batch : batches) {
    tokens.push_back(
        fmt::format("{}:{}:{}", batch.source_id(), batch.start_offset, batch.position.end_offset));
  }
  const std::string token = group_token(tokens);
  const std::string what = fmt::format(
      "batch at {} byte {}{}", batches.front().source_id(), batches.front().start_offset,
      batches.size() > 1 ? fmt::format(" and {} more", batches.size() - 1) : "");
  Status status = retrier_.run(what, [&]() -> Status {
    // Every attempt looks up the group's ids again, so rows an earlier, failed attempt did
    // store (an insert spanning partitions can land in part) are found, not inserted twice.
    late.emplace(late_.begin());
    if (!group.prefetched) {
      auto stored = find_stored(client, batches, options_.dedup_lookback_ms, lookup_ids_per_query_);
      if (!stored.ok()) return stored.error();
      group.prefetched = std::move(stored.value());
    }
    StoredRows stored = std::move(*group.prefetched);
    group.prefetched.reset();  // a retry looks again: a failed attempt may have stored rows
    lookup_done = Clock::now();
    EventBlock block;
    for (size_t i = 0; i < batches.size(); ++i) {
      const Batch& batch = batches[i];
      counters[i] = batch.read;
      spans[i] = {INT64_MAX, 0};
      std::vector<const PendingEvent*> to_insert;
      classify(batch, stored, to_insert, counters[i]);
      for (const PendingEvent* pending : to_insert) {
        const Event& event = pending->decoded.event;
        counters[i].late_events += late->observe(event.restaurant_id, event.ts_ms);
        counters[i].subtotal_mismatch += pending->decoded.subtotal_mismatch;
        counters[i].total_mismatch += pending->decoded.total_mismatch;
        counters[i].naive_timestamps += pending->decoded.naive_timestamp;
        spans[i].first = std::min(spans[i].first, event.ts_ms);
        spans[i].second = std::max(spans[i].second, event.ts_ms);
        block.add(event, pending->decoded.content_hash, {batch.source_id(), pending->offset});
      }
      counters[i].inserted += to_insert.size();
    }
    if (block.rows() == 0) return Status();
    // Over HTTP an insert can time out and still land later: the token makes the server
    // drop such a repeat. In-process the outcome is never in doubt, and the lookup above
    // already covers a partial landing, so the embedded engine skips the token's cost.
    return timed_insert(client, fmt::format("events {}", event_row_columns()), kEventBlockFormat,
                        block.finish(), use_insert_tokens_ ? "events:" + token : std::string());
  });
  TP_RETURN_IF_ERROR(status);
  late_.apply(*late);
  uint64_t lines = 0;
  for (const Batch& batch : batches) lines += batch.read.lines;
  stats_->stored_batches.fetch_add(batches.size());
  std::atomic_thread_fence(std::memory_order_release);  // the count before the lines (stats.h)
  stats_->stored_lines.fetch_add(lines, std::memory_order_relaxed);

  std::vector<InsertedBatch> inserted(batches.size());
  const auto insert_done = Clock::now();
  for (size_t i = 0; i < batches.size(); ++i) {
    // The match step covers the batch's duplicates too: the run that stored them may have died
    // before its own step.
    std::vector<int64_t> instants;
    instants.reserve(batches[i].events.size());
    for (const PendingEvent& pending : batches[i].events) {
      instants.push_back(pending.decoded.event.ts_ms);
    }
    InsertedBatch& one = inserted[i];
    one.ranges = cover_instants(std::move(instants), kMatchRangeGapMs, kMaxMatchRanges);
    one.counters = std::move(counters[i]);
    one.min_ts = spans[i].first;
    one.max_ts = spans[i].second;
    one.token = std::move(tokens[i]);
    one.started = phase_start;
    one.lookup_done = lookup_done;
    one.insert_done = insert_done;
    batches[i].events = {};  // the stored events are not needed any more: free them now
    one.batch = std::move(batches[i]);
  }
  return matcher_.submit(std::move(inserted));
}

Status Consumer::Impl::finish_batches(clickhouse::Client& client,
                                      std::vector<InsertedBatch>& inserted) {
  fault_point("matcher");
  // The matches wait-times and turnover read, for the batches and for what they complete;
  // before the checkpoints, so a crash here replays the batches and their match step.
  std::vector<TimeRange> ranges;
  for (const InsertedBatch& one : inserted) {
    ranges.insert(ranges.end(), one.ranges.begin(), one.ranges.end());
  }
  ranges = merge_ranges(std::move(ranges), kMatchRangeGapMs, kMaxMatchRanges);
  auto match_start = Clock::now();
  TP_RETURN_IF_ERROR(retrier_.run(
      fmt::format("matches of {} byte {}", inserted.front().batch.source_id(),
                  inserted.front().batch.start_offset),
      [&] { return refresh_matches(client, ranges, true); }));
  const double match_ms =
      ms_between(match_start, Clock::now()) / static_cast<double>(inserted.size());
  return checkpoint(client, inserted, match_ms);
}

Status Consumer::Impl::checkpoint(clickhouse::Client& client,
                                  const std::vector<InsertedBatch>& inserted, double match_ms) {
  auto checkpoint_start = Clock::now();
  std::vector<uint64_t> dropped(inserted.size(), 0);
  bool produced = false;
  for (size_t i = 0; i < inserted.size(); ++i) {
    const Batch& batch = inserted[i].batch;
    if (dead_letters_ != nullptr) {
      auto written = dead_letters_->write(batch.source_id(), batch.rejects);
      if (!written.ok()) return written.error();
      dropped[i] = written.value();
    }
    if (dead_letter_producer_ != nullptr) {
      // Produced before the checkpoint: a crash between the two produces them again (at least
      // once), never loses one.
      for (const auto& reject : batch.rejects) {
        TP_RETURN_IF_ERROR(
            dead_letter_producer_->produce(options_.kafka.dead_letter_topic, batch.source_id(),
                                           dead_letter_record(reject, batch.source_id())));
        produced = true;
      }
    }
  }
  if (produced) TP_RETURN_IF_ERROR(dead_letter_producer_->flush(std::chrono::seconds(30)));

  // The batch rows are the checkpoints: written last, in one insert, so a crash before it
  // replays the batches.
  std::string rows;
  std::vector<std::string> tokens;
  for (const InsertedBatch& one : inserted) {
    rows += checkpoint_row(one, run_id_);
    tokens.push_back(one.token);
  }
  const std::string& first = inserted.front().batch.source_id();
  TP_RETURN_IF_ERROR(retrier_.run(fmt::format("checkpoint of {}", first), [&] {
    return timed_insert(client, "ingest_batches", "JSONEachRow", rows,
                        "batch:" + group_token(tokens));
  }));
  const double checkpoint_ms = ms_between(checkpoint_start, Clock::now());

  stats_->batches.fetch_add(inserted.size());
  std::atomic_thread_fence(std::memory_order_release);  // the count before the counters (stats.h)
  const int64_t now = now_ms();
  int64_t first_read_ms = now;
  for (size_t i = 0; i < inserted.size(); ++i) {
    const InsertedBatch& one = inserted[i];
    const Batch& batch = one.batch;
    first_read_ms = std::min(first_read_ms, batch.first_read_wall_ms);
    if (const int32_t partition = batch.position.kafka_partition; partition >= 0) {
      // For lag tools: ClickHouse's checkpoint is the truth, Kafka's commit follows it.
      kafka_->commit(partition, static_cast<int64_t>(batch.position.end_offset));
      std::lock_guard lock(stats_->mutex);
      auto owned = stats_->kafka_partitions.find(partition);
      if (owned != stats_->kafka_partitions.end()) {
        owned->second.committed = static_cast<int64_t>(batch.position.end_offset);
      }
    }
    spdlog::debug(
        "batch of {} lines ({}): lookup {:.0f} ms, encode+insert {:.0f} ms, matches {:.0f} ms "
        "(its share), checkpoints {:.0f} ms, inserted to checkpointed {:.0f} ms",
        batch.read.lines, batch.source_id(), ms_between(one.started, one.lookup_done),
        ms_between(one.lookup_done, one.insert_done), match_ms, checkpoint_ms,
        ms_between(one.insert_done, Clock::now()));
    summary_.counters += one.counters;
    summary_.dead_letters_dropped += dropped[i];
    ++summary_.batches;
    stats_->add(one.counters);
    stats_->dead_letters_dropped.fetch_add(dropped[i], std::memory_order_relaxed);
  }
  stats_->lag_ms.store(now - first_read_ms, std::memory_order_relaxed);
  stats_->last_commit_ms.store(now, std::memory_order_relaxed);
  return {};
}

Consumer::Consumer(clickhouse::ClientFactory& factory, IngestOptions options,
                   std::shared_ptr<IngestStats> stats)
    : impl_(std::make_unique<Impl>(factory, std::move(options), stats)), stats_(std::move(stats)) {}

Consumer::~Consumer() = default;

Result<IngestSummary> Consumer::run() { return impl_->run(); }

void Consumer::stop() { impl_->stop(); }

}  // namespace tp::ingest
