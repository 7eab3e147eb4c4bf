#include "ingest/consumer.h"

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "clickhouse/client.h"
#include "clickhouse/schema.h"
#include "common/fault.h"
#include "common/time.h"
#include "decode/decoder.h"
#include "ingest/matcher.h"
#include "ingest/recent_ids.h"
#include "ingest/row_encoder.h"
#include "source/line_reader.h"

namespace tp::ingest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kLateThresholdMs = 60'000;   // the spec's "more than 60 s later"
constexpr size_t kHttpLookupChunk = 5000;      // ids per lookup over HTTP (keeps URLs short)
constexpr int64_t kMatchRangeGapMs = 600'000;  // a batch's events further apart than this
constexpr size_t kMaxMatchRanges = 8;          // … are refreshed as separate ranges, up to 8
constexpr double kLatencyBucketsMs[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};

// A valid, new-to-this-run event waiting in a batch.
struct PendingEvent {
  decode::Decoded decoded;
  IdKey key;
  uint64_t offset = 0;
};

// A refused line waiting to be written to the dead-letter file.
struct PendingReject {
  std::string line;  // its first source::kKeptLineBytes at most (see kept_prefix)
  std::string reason;
  std::string detail;
  uint64_t line_number = 0;
  uint64_t line_bytes = 0;  // the whole line's length: more than line.size() if it was cut
};

// Rows already in the database for some of a batch's ids, by id.
using StoredRows = std::unordered_map<IdKey, nlohmann::json, IdKeyHash>;

// What one batch read; committed as a whole or not at all.
struct Batch {
  std::string source_id;       // the source (file generation) its lines come from
  std::string file_identity;   // the file's "device:inode" when it was read (checkpoint record)
  uint64_t committed_end = 0;  // that source's checkpoint when the run began: rows of ours
                               // beyond it are replays of a killed run, before it re-reads
  std::string end_tail;        // the source's last bytes up to end_offset (resume check)
  uint64_t start_offset = 0;
  uint64_t end_offset = 0;
  uint64_t end_line = 0;
  Clock::time_point first_line_at{};
  int64_t first_read_wall_ms = 0;
  std::vector<PendingEvent> events;
  std::vector<PendingReject> rejects;
  uint64_t lines = 0;
  uint64_t blank = 0;
  uint64_t duplicates = 0;  // recognised in memory before the database lookup
  uint64_t conflicting = 0;
  std::map<std::string, uint64_t> reasons;
  // The lookup the reader ran while the previous batch was being inserted (first attempt).
  std::optional<StoredRows> prefetched;

  bool empty() const { return lines == 0 && blank == 0; }
};

// Counters of one committed batch (also the row written to ingest_batches).
struct BatchResult {
  uint64_t inserted = 0;
  uint64_t duplicates = 0;
  uint64_t conflicting = 0;
  uint64_t late = 0;
  uint64_t subtotal_mismatch = 0;
  uint64_t total_mismatch = 0;
  uint64_t naive_timestamps = 0;
};

// Replaces each byte that is not part of valid UTF-8 with U+FFFD.
std::string sanitize_utf8(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xE  ? 3
                    : (c >> 3) == 0x1E ? 4
                                       : 0;
    if (length > 0 && i + length <= text.size() &&
        simdjson::validate_utf8(text.data() + i, length)) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// What the dead-letter file keeps of a refused line: its first source::kKeptLineBytes, cut
// before a UTF-8 sequence the limit would split (a valid line stays valid). Memory and the
// file stay bounded whatever a producer sends (binary garbage, one huge line).
std::string_view kept_prefix(std::string_view line) {
  if (line.size() <= source::kKeptLineBytes) return line;
  size_t cut = source::kKeptLineBytes;
  for (int back = 0; back < 3 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80; ++back) {
    --cut;  // line[cut] continues a sequence: end the prefix before its lead byte
  }
  return line.substr(0, cut);
}

std::string base64(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(data[i]) << 16) | (static_cast<uint8_t>(data[i + 1]) << 8) |
                 static_cast<uint8_t>(data[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(n >> shift) & 63]);
  }
  if (i < data.size()) {
    uint32_t n = static_cast<uint8_t>(data[i]) << 16;
    if (i + 1 < data.size()) n |= static_cast<uint8_t>(data[i + 1]) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// A batch whose events are stored, on its way to its match step and checkpoint.
struct InsertedBatch {
  Batch batch;  // its events already dropped: only counters and rejects left
  BatchResult result;
  std::vector<TimeRange> ranges;  // event time of its events, for the match step
  int64_t min_ts = INT64_MAX;     // of the rows it inserted
  int64_t max_ts = 0;
  std::string token;            // source:start:end, the checkpoint's deduplication token
  Clock::time_point started{};  // when its commit began (lookup, insert)
  Clock::time_point lookup_done{};
  Clock::time_point insert_done{};
};

// A thread that handles items from a bounded queue on a ClickHouse connection of its own
// (chDB binds a connection to the thread that opened it), all the items waiting at once: a
// stage that falls behind catches up in larger steps. With a `linger`, it waits up to that long
// after the first item for more (until `capacity` wait), so that a step with a fixed cost runs
// at most about once per linger on a trickle of small items. The bound is the backpressure:
// submit() waits while `capacity` items wait. The first failure stops the stage; later
// submit() calls and finish() return it.
template <typename Item>
class Stage {
 public:
  using Handler = std::function<Status(clickhouse::Client&, std::vector<Item>&)>;

  Stage(clickhouse::ClientFactory& factory, size_t capacity, std::chrono::milliseconds linger,
        Handler handle)
      : factory_(factory), capacity_(capacity), linger_(linger), handle_(std::move(handle)) {}
  ~Stage() { (void)finish(); }  // a failure was returned by the finish() that came first

  void start() {
    done_ = false;
    status_ = Status();
    thread_ = std::thread([this] { loop(); });
  }

  Status submit(Item&& item) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return queued_.size() < capacity_ || !status_.ok(); });
    if (!status_.ok()) return status_;
    queued_.push_back(std::move(item));
    cv_.notify_all();
    return {};
  }

  // Handles what is queued, then stops the thread; returns the stage's first failure.
  Status finish() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    queued_.clear();
    return status_;
  }

 private:
  void loop() {
    auto client = factory_.connect();
    std::unique_lock lock(mutex_);
    if (!client.ok()) {
      status_ = client.error();
      cv_.notify_all();
      return;
    }
    while (true) {
      cv_.wait(lock, [this] { return !queued_.empty() || done_; });
      if (queued_.empty()) return;
      cv_.wait_for(lock, linger_, [this] { return queued_.size() >= capacity_ || done_; });
      std::vector<Item> items;
      items.swap(queued_);
      cv_.notify_all();  // room again: the producer may queue more
      lock.unlock();
      Status status = handle_guarded(*client.value(), items);
      lock.lock();
      if (!status.ok()) {
        status_ = status;
        cv_.notify_all();
        return;
      }
    }
  }

  // The handler, with this thread's exception boundary: a bug or an unexpected answer (a JSON
  // parse of an engine reply, say) ends the stage with an error instead of the process.
  Status handle_guarded(clickhouse::Client& client, std::vector<Item>& items) {
    try {
      return handle_(client, items);
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kInternal, "consumer stage failed: {}", e.what());
    } catch (...) {
      return make_error(ErrorCode::kInternal, "consumer stage failed: unknown exception");
    }
  }

  clickhouse::ClientFactory& factory_;
  const size_t capacity_;
  const std::chrono::milliseconds linger_;
  Handler handle_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Item> queued_;
  bool done_ = false;
  Status status_;
};

}  // namespace

nlohmann::json IngestSummary::to_json() const {
  nlohmann::json reasons_json = nlohmann::json::object();
  for (const auto& [code, count] : reasons) reasons_json[code] = count;
  return nlohmann::json{{"lines", lines},
                        {"inserted", inserted},
                        {"duplicates", duplicates},
                        {"rejected", rejected},
                        {"blank", blank},
                        {"reasons", reasons_json},
                        {"conflicting_duplicates", conflicting_duplicates},
                        {"late_events", late_events},
                        {"subtotal_mismatch", subtotal_mismatch},
                        {"total_mismatch", total_mismatch},
                        {"naive_timestamps", naive_timestamps},
                        {"batches", batches},
                        {"resumed_from_checkpoint", resumed_lines},
                        {"dead_letters_dropped", dead_letters_dropped},
                        {"seconds", seconds}};
}

class Consumer::Impl {
 public:
  Impl(clickhouse::ClientFactory& factory, IngestOptions options,
       std::shared_ptr<IngestStats> stats)
      : factory_(factory),
        options_(std::move(options)),
        stats_(std::move(stats)),
        decoder_({static_cast<size_t>(options_.max_line_bytes), options_.default_zone}),
        recent_(options_.dedup_memory_ids) {}

  Result<IngestSummary> run();
  void stop() { stop_.store(true); }

 private:
  Status prepare();
  Status consume_source(const std::string& path);
  void add_line(const source::Line& line, Batch& batch);
  // Counts `line` as refused for `reason` and queues its dead letter (a prefix of it).
  void reject_line(const source::Line& line, Batch& batch, decode::Reason reason,
                   std::string detail);
  // Looks the batch's ids up, inserts its new events and hands it to the match stage.
  Status commit(clickhouse::Client& client, Batch& batch);
  // One match step for inserted batches, then in order each one's dead letters, checkpoint
  // and counters.
  Status finish_batches(clickhouse::Client& client, std::vector<InsertedBatch>& inserted);
  Status checkpoint(clickhouse::Client& client, const InsertedBatch& inserted, double match_ms);
  // Where reading `path` continues: its newest generation's last checkpoint.
  Result<source::ResumePoint> resume_point(const std::string& path, uint64_t& committed_end);
  // Seeds late detection with each restaurant's latest event time among committed rows.
  Status load_high_water_marks();
  // The rows the database already holds for the batch's ids (within its time range).
  Result<StoredRows> find_stored(clickhouse::Client& client, const Batch& batch);
  // Splits the batch into rows to insert and duplicates, given what is stored.
  void classify(const Batch& batch, const StoredRows& stored,
                std::vector<const PendingEvent*>& to_insert, BatchResult& result);
  // Runs `attempt_once` under the retry policy (options_.retry: transient failures only,
  // backoff to a cap, until it gives up or stop() is called), counting the failures and the
  // outage in progress for /metrics.
  Status with_retries(std::string_view what, const std::function<Status()>& attempt_once);
  // One insert of a block in `format`, its latency recorded for /metrics.
  Status timed_insert(clickhouse::Client& client, std::string_view table, std::string_view format,
                      const std::string& data, const std::string& token);
  // Appends the batch's dead letters, except those past --dlq-max-bytes (counted as dropped).
  Status write_dead_letters(const Batch& batch);
  // Fills dead_already_ with the line numbers of `source_id` past `after_line` that the
  // dead-letter file holds: a run killed after writing a batch's dead letters but before its
  // checkpoint wrote them, and its replay must not write them again.
  Status load_dead_letters_beyond(const std::string& source_id, uint64_t after_line);
  void record_latency(double ms);
  void print_progress(bool final_line);

  clickhouse::ClientFactory& factory_;
  IngestOptions options_;
  std::shared_ptr<IngestStats> stats_;
  std::unique_ptr<clickhouse::Client> reader_client_;  // the reading thread's connection
  decode::Decoder decoder_;
  RecentIds recent_;
  std::unordered_map<std::string, int64_t> max_ts_by_restaurant_;  // for late detection
  std::string run_id_ = fmt::format(
      "{:016x}", std::random_device{}() * 0x100000000ULL ^ static_cast<uint64_t>(now_ms()));
  bool use_insert_tokens_ = !factory_.embedded();
  std::atomic<bool> stop_{false};
  IngestSummary summary_;
  std::FILE* dead_letters_ = nullptr;
  bool dead_letters_full_ = false;  // the cap was reached in this run (warned once)
  std::optional<int> ttl_days_;  // the database's retention, read at start; unset: none
  std::unordered_set<uint64_t> dead_already_;  // lines of dead_already_source_ not to write
  std::string dead_already_source_;            // again (filled before the stages start)
  Clock::time_point started_ = Clock::now();
  Clock::time_point last_progress_ = Clock::now();
  bool progress_ = false;
  // Last, so their threads stop before the members they use are destroyed.
  // Three threads in a pipeline (memory stays bounded and the reader never runs ahead of what
  // the database accepts): the reader decodes batch N+2 while the committer inserts batch N+1
  // (one batch waits for it) and the matcher runs the match step and checkpoints of the
  // batches inserted before (up to 4 wait for it, their events already dropped; it lingers
  // up to 1 s for them, since a step costs ~80 ms of CPU even for a few events: a live stream
  // gets one step a second instead of one per 250 ms batch). Match steps run in batch order,
  // each after its batches' inserts (docs/DESIGN.md §6a).
  Stage<InsertedBatch> matcher_{
      factory_, 4, std::chrono::milliseconds(1000),
      [this](clickhouse::Client& client, std::vector<InsertedBatch>& batches) {
        return finish_batches(client, batches);
      }};
  Stage<Batch> committer_{
      factory_, 1, std::chrono::milliseconds(0),
      [this](clickhouse::Client& client, std::vector<Batch>& batches) -> Status {
        for (Batch& batch : batches) {
          TP_RETURN_IF_ERROR(commit(client, batch));
        }
        return Status();
      }};
};

Status Consumer::Impl::prepare() {
  auto client = factory_.connect();
  if (!client.ok()) return client.error();
  reader_client_ = std::move(client.value());
  // A database that is away at start is waited for as during the run.
  TP_RETURN_IF_ERROR(with_retries("reading the late-detection marks", [&] {
    max_ts_by_restaurant_.clear();
    return load_high_water_marks();
  }));
  if (!options_.dead_letter_path.empty()) {
    dead_letters_ = std::fopen(options_.dead_letter_path.c_str(), "ae");
    if (dead_letters_ == nullptr) {
      return make_error(ErrorCode::kIo, "cannot open dead-letter file {}: {}",
                        options_.dead_letter_path, std::strerror(errno));
    }
  }
  // Events the TTL would delete are refused (expired): the summary counts what stays stored.
  auto ttl = clickhouse::current_ttl_days(*reader_client_);
  if (!ttl.ok()) return ttl.error();
  ttl_days_ = ttl.value();
  progress_ = options_.progress && ::isatty(STDERR_FILENO);
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
    }
  } catch (const std::exception& e) {
    status = make_error(ErrorCode::kInternal, "consumer failed: {}", e.what());
  }
  if (dead_letters_ != nullptr) std::fclose(dead_letters_);
  stats_->running.store(false);
  summary_.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  if (progress_) print_progress(true);
  if (!status.ok()) return status.error();
  return summary_;
}

Status Consumer::Impl::load_high_water_marks() {
  // Late detection continues from what earlier runs committed. Rows a killed run stored after
  // its last checkpoint are read again by this run, in order: counted against their own
  // later neighbours first, each would be late (docs/DESIGN.md §4).
  auto ends = reader_client_->query_json_rows(
      "SELECT source_id, max(end_offset) AS committed_end FROM ingest_batches FINAL "
      "GROUP BY source_id");
  if (!ends.ok()) return ends.error();
  std::string committed = "{";
  for (const auto& row : ends.value()) {
    auto json = nlohmann::json::parse(row);
    if (committed.size() > 1) committed += ',';
    committed += clickhouse::quote_string(json["source_id"].get<std::string>());
    committed += fmt::format(":{}", json["committed_end"].get<uint64_t>());
  }
  committed += '}';
  auto rows = reader_client_->query_json_rows(
      "SELECT restaurant_id, toUnixTimestamp64Milli(max(ts)) AS max_ms FROM events "
      "WHERE source_offset < {committed:Map(String, UInt64)}[source_id] GROUP BY restaurant_id",
      {{"committed", committed}});
  if (!rows.ok()) return rows.error();
  for (const auto& row : rows.value()) {
    auto json = nlohmann::json::parse(row);
    max_ts_by_restaurant_[json["restaurant_id"].get<std::string>()] = json["max_ms"].get<int64_t>();
  }
  return {};
}

namespace {
std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string from_hex(std::string_view hex) {
  auto digit = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(digit(hex[i]) << 4 | digit(hex[i + 1])));
  }
  return out;
}
}  // namespace

Result<source::ResumePoint> Consumer::Impl::resume_point(const std::string& path,
                                                         uint64_t& committed_end) {
  // The checkpoint is the last committed batch of the path's newest generation (each content
  // the path held in turn, after rotations or truncations, is one).
  source::ResumePoint resume;
  committed_end = 0;
  const std::string file_id = source::file_source_id(path);
  auto rows = reader_client_->query_json_rows(
      "SELECT source_id, end_offset, end_line, end_tail, "
      "if(source_id = {source:String}, 1, "
      "toUInt32OrZero(substring(source_id, length({source:String}) + 2))) AS generation "
      "FROM ingest_batches FINAL "
      "WHERE source_id = {source:String} OR startsWith(source_id, concat({source:String}, '#')) "
      "ORDER BY generation DESC, end_offset DESC LIMIT 1",
      {{"source", file_id}});
  if (!rows.ok()) return rows.error();
  if (rows->empty()) return resume;
  auto json = nlohmann::json::parse(rows->front());
  resume.generation = std::max<uint32_t>(1, json["generation"].get<uint32_t>());
  committed_end = json["end_offset"].get<uint64_t>();
  if (options_.resume) {
    resume.offset = committed_end;
    resume.lines_before = json["end_line"].get<uint64_t>();
    resume.tail = from_hex(json["end_tail"].get<std::string>());
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
    TP_RETURN_IF_ERROR(with_retries(fmt::format("reading the checkpoint of {}", path), [&] {
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
    summary_.resumed_lines += lines_before;
    spdlog::info("{}: resuming after line {} (byte {}), committed by an earlier run", path,
                 lines_before, offset);
  } else if (resume.offset > 0) {
    // A checkpoint the file no longer matches: the reader started the next generation, and
    // nothing of it is committed.
    committed_end = 0;
  }
  dead_already_.clear();
  dead_already_source_ = reader.source_id();
  if (dead_letters_ != nullptr && options_.resume && resumable) {
    TP_RETURN_IF_ERROR(load_dead_letters_beyond(reader.source_id(), lines_before));
  }

  Batch batch;
  batch.source_id = reader.source_id();
  batch.file_identity = reader.file_identity();
  batch.committed_end = committed_end;
  batch.start_offset = batch.end_offset = offset;
  batch.end_line = lines_before;
  batch.end_tail = resume.tail;
  Status failure;
  matcher_.start();
  committer_.start();
  // The reader looks the batch's ids up on its own connection while the committer is still
  // inserting the previous batch; if that fails, the committer looks again (with retries).
  // Ids of the previous batch cannot be among them: the in-run map already turned those away.
  auto prefetch = [&]() {
    auto lookup_start = Clock::now();
    auto stored = find_stored(*reader_client_, batch);
    spdlog::debug("lookup of {} ids: {:.0f} ms", batch.events.size(),
                  std::chrono::duration<double, std::milli>(Clock::now() - lookup_start).count());
    if (stored.ok()) batch.prefetched = std::move(stored.value());
  };
  auto hand_over = [&]() {
    Batch next;
    next.source_id = batch.source_id;
    next.file_identity = batch.file_identity;
    next.committed_end = batch.committed_end;
    next.start_offset = next.end_offset = batch.end_offset;
    next.end_line = batch.end_line;
    next.end_tail = batch.end_tail;
    prefetch();
    failure = committer_.submit(std::move(batch));
    batch = std::move(next);
  };
  auto flush_if_due = [&]() {
    if (batch.empty() || !failure.ok()) return;
    auto age =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - batch.first_line_at);
    if (age.count() >= options_.batch_max_age_ms) hand_over();
    if (progress_) print_progress(false);
  };
  while (!stop_.load() && failure.ok()) {
    auto next = reader.next(options_.follow, stop_, flush_if_due);
    if (!next.ok()) {
      failure = next.error();  // what was read before still commits
      break;
    }
    if (!next->has_value()) break;
    const source::Line& line = **next;
    if (reader.source_id() != batch.source_id) {
      // The followed file was rotated or truncated: its next generation starts a batch of its
      // own, from its start, and nothing of it is committed yet.
      if (!batch.empty()) hand_over();
      if (!failure.ok()) break;
      batch.source_id = reader.source_id();
      batch.file_identity = reader.file_identity();
      batch.committed_end = 0;
      batch.start_offset = batch.end_offset = 0;
      batch.end_line = 0;
    }
    if (batch.empty()) {
      batch.first_line_at = Clock::now();
      batch.first_read_wall_ms = now_ms();
    }
    add_line(line, batch);
    batch.end_offset = line.end_offset;
    batch.end_line = line.number;
    batch.end_tail.assign(line.tail);
    if (batch.events.size() >= options_.batch_max_rows ||
        batch.rejects.size() >= options_.batch_max_rows) {
      hand_over();
    } else if (options_.follow || !reader.seekable()) {
      flush_if_due();  // a stream: bound the delay; a file read to its end fills whole batches
    }
  }
  if (failure.ok() && !batch.empty()) {
    prefetch();
    failure = committer_.submit(std::move(batch));
  }
  Status committed = committer_.finish();  // first: it hands its last batch to the matcher
  Status matched = matcher_.finish();
  if (!failure.ok()) return failure;
  if (!committed.ok()) return committed;
  return matched;
}

void Consumer::Impl::add_line(const source::Line& line, Batch& batch) {
  fault_point("reader");
  const int64_t now = now_ms();
  stats_->last_read_ms.store(now, std::memory_order_relaxed);
  if (!line.too_long && line.text.find_first_not_of(" \t\r") == std::string_view::npos) {
    ++batch.blank;
    stats_->blank.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ++batch.lines;
  stats_->lines.fetch_add(1, std::memory_order_relaxed);
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
    ++batch.duplicates;
    if (*seen != decoded.content_hash) ++batch.conflicting;
    return;
  }
  recent_.insert(key, decoded.content_hash);
  batch.events.push_back({std::move(decoded), key, line.offset});
}

void Consumer::Impl::reject_line(const source::Line& line, Batch& batch, decode::Reason reason,
                                 std::string detail) {
  std::string code(decode::reason_code(reason));
  ++batch.reasons[code];
  batch.rejects.push_back({std::string(kept_prefix(line.text)), code, std::move(detail),
                           line.number, line.too_long ? line.bytes : line.text.size()});
}

Result<StoredRows> Consumer::Impl::find_stored(clickhouse::Client& client, const Batch& batch) {
  // Earlier runs (or other consumers) may have stored some of these ids. Redeliveries carry
  // the same timestamp, so the search is bounded to the batch's own event-time range plus a
  // margin for conflicting copies whose timestamps differ.
  StoredRows stored;
  if (batch.events.empty()) return stored;
  std::vector<const PendingEvent*> candidates;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (const auto& pending : batch.events) {
    candidates.push_back(&pending);
    lo = std::min(lo, pending.decoded.event.ts_ms);
    hi = std::max(hi, pending.decoded.event.ts_ms);
  }
  // Each query scans the whole time range, so in-process (the ids go through a file) one
  // query takes the whole batch; over HTTP chunks keep each request's parameter moderate.
  const size_t chunk = factory_.embedded() ? candidates.size() : kHttpLookupChunk;
  for (size_t from = 0; from < candidates.size(); from += chunk) {
    size_t to = std::min(candidates.size(), from + chunk);
    std::vector<std::string_view> ids;
    ids.reserve(to - from);
    for (size_t i = from; i < to; ++i) ids.push_back(candidates[i]->decoded.event.event_id);
    auto rows = client.query_json_rows_with_values(
        "SELECT event_id AS id, content_hash, source_id, source_offset FROM events "
        "WHERE ts >= {lo:DateTime64(3, 'UTC')} AND ts <= {hi:DateTime64(3, 'UTC')} "
        "AND event_id IN {{values}}",
        {{"lo", format_clickhouse_ms(std::max<int64_t>(0, lo - options_.dedup_lookback_ms))},
         {"hi", format_clickhouse_ms(hi + options_.dedup_lookback_ms)}},
        "String", ids);
    if (!rows.ok()) return rows.error();
    for (const auto& row : rows.value()) {
      auto json = nlohmann::json::parse(row);
      stored.emplace(id_key(json["id"].get<std::string>()), std::move(json));
    }
  }
  return stored;
}

void Consumer::Impl::classify(const Batch& batch, const StoredRows& stored,
                              std::vector<const PendingEvent*>& to_insert, BatchResult& result) {
  for (const PendingEvent& pending : batch.events) {
    auto it = stored.find(pending.key);
    if (it == stored.end()) {
      to_insert.push_back(&pending);
      continue;
    }
    const auto& row = it->second;
    if (row["source_id"] == batch.source_id && row["source_offset"] == pending.offset &&
        pending.offset >= batch.committed_end) {
      // Stored by a run of ours that was killed before its checkpoint, possibly before the
      // materialized views stored their rows: insert it again. The copy has the same sorting
      // key in every table, so ReplacingMergeTree and FINAL collapse it; counted once.
      to_insert.push_back(&pending);
      continue;
    }
    ++result.duplicates;
    if (row["content_hash"].get<uint64_t>() != pending.decoded.content_hash) ++result.conflicting;
  }
}

Status Consumer::Impl::with_retries(std::string_view what,
                                    const std::function<Status()>& attempt_once) {
  bool retrying = false;  // this operation is counted in stats_->database_retrying
  auto on_failure = [&](const clickhouse::RetryNotice& notice) {
    stats_->insert_failures.fetch_add(1, std::memory_order_relaxed);
    const int64_t now = now_ms();
    std::lock_guard lock(stats_->mutex);
    stats_->last_database_error = std::string(error_code_name(notice.error.code));
    stats_->last_database_clickhouse_code = notice.error.clickhouse_code;
    stats_->last_database_error_ms = now;
    if (!notice.will_retry) return;
    stats_->database_retries.fetch_add(1, std::memory_order_relaxed);
    if (!retrying) {
      retrying = true;
      if (stats_->database_retrying++ == 0) {
        stats_->database_failing_since_ms = now - notice.failing_for_ms;
      }
    }
    spdlog::warn("{} failed ({}), retry {} in {} ms (failing for {:.1f} s)", what,
                 notice.error.to_string(), notice.attempt, notice.wait_ms,
                 static_cast<double>(notice.failing_for_ms) / 1000.0);
  };
  Status status = clickhouse::retry(options_.retry, attempt_once, &stop_, on_failure);
  if (retrying) {
    std::lock_guard lock(stats_->mutex);
    if (--stats_->database_retrying == 0) stats_->database_failing_since_ms = 0;
  }
  if (!status.ok() && stop_.load() && clickhouse::is_transient(status.error())) {
    Error stopped = status.error();
    stopped.message = fmt::format("{}: stopped while waiting for the database (not committed; the "
                                  "next run reads it again): {}",
                                  what, stopped.message);
    return stopped;
  }
  return status;
}

Status Consumer::Impl::timed_insert(clickhouse::Client& client, std::string_view table,
                                    std::string_view format, const std::string& data,
                                    const std::string& token) {
  auto started = Clock::now();
  Status status = client.insert(table, format, data, {token});
  if (status.ok()) {
    record_latency(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
  }
  return status;
}

Status Consumer::Impl::load_dead_letters_beyond(const std::string& source_id, uint64_t after_line) {
  std::ifstream in(options_.dead_letter_path, std::ios::binary);
  simdjson::ondemand::parser parser;
  uint64_t complete_bytes = 0;  // up to the end of the last line that has its newline
  for (std::string text; std::getline(in, text);) {
    if (in.eof()) {
      // A line without its newline: a killed run's unfinished write. Its batch was not
      // checkpointed, so the replay writes the whole line again; the fragment goes.
      spdlog::warn("dead-letter file {}: dropping an unfinished last line ({} bytes)",
                   options_.dead_letter_path, text.size());
      if (::truncate(options_.dead_letter_path.c_str(), static_cast<off_t>(complete_bytes)) != 0) {
        return make_error(ErrorCode::kIo, "truncating dead-letter file {}: {}",
                          options_.dead_letter_path, std::strerror(errno));
      }
      break;
    }
    complete_bytes += text.size() + 1;
    simdjson::padded_string padded(text);
    auto doc = parser.iterate(padded);
    std::string_view source;
    uint64_t line_number = 0;
    if (doc["source"].get_string().get(source) != simdjson::SUCCESS ||
        doc["line_number"].get_uint64().get(line_number) != simdjson::SUCCESS) {
      continue;  // not one of ours: nothing to skip for it
    }
    if (source == source_id && line_number > after_line) dead_already_.insert(line_number);
  }
  if (in.bad()) {
    return make_error(ErrorCode::kIo, "reading dead-letter file {}: {}", options_.dead_letter_path,
                      std::strerror(errno));
  }
  return {};
}

Status Consumer::Impl::write_dead_letters(const Batch& batch) {
  if (dead_letters_ == nullptr || batch.rejects.empty()) return {};
  // The cap is on the file, earlier runs' records included (it is appended to, run after run).
  struct stat info {};
  if (::fstat(::fileno(dead_letters_), &info) != 0) {
    return make_error(ErrorCode::kIo, "reading the size of dead-letter file {}: {}",
                      options_.dead_letter_path, std::strerror(errno));
  }
  const uint64_t size = static_cast<uint64_t>(info.st_size);
  const uint64_t cap = options_.dead_letter_max_bytes;
  uint64_t dropped = 0;
  std::string out, record;
  const std::string& source_id = batch.source_id;
  const bool may_be_written = source_id == dead_already_source_;
  for (const auto& reject : batch.rejects) {
    if (may_be_written && dead_already_.count(reject.line_number) != 0) {
      continue;  // a killed run wrote it
    }
    record = "{\"line\":";
    if (simdjson::validate_utf8(reject.line.data(), reject.line.size())) {
      append_json_string(record, reject.line);
    } else {
      // JSON cannot carry these bytes: a readable copy, and the exact bytes in base64.
      append_json_string(record, sanitize_utf8(reject.line));
      record += ",\"line_base64\":";
      append_json_string(record, base64(reject.line));
    }
    if (reject.line_bytes > reject.line.size()) {
      record += fmt::format(",\"truncated\":true,\"line_bytes\":{}", reject.line_bytes);
    }
    record += ",\"reason\":";
    append_json_string(record, reject.reason);
    record += ",\"detail\":";
    append_json_string(record, reject.detail);
    record += ",\"source\":";
    append_json_string(record, source_id);
    record += fmt::format(",\"line_number\":{}}}\n", reject.line_number);
    if (cap != 0 && size + out.size() + record.size() > cap) {
      ++dropped;  // still counted as rejected with its reason; only its copy is not kept
      continue;
    }
    out += record;
  }
  if (std::fwrite(out.data(), 1, out.size(), dead_letters_) != out.size() ||
      std::fflush(dead_letters_) != 0) {
    return make_error(ErrorCode::kIo, "writing dead-letter file {}: {}", options_.dead_letter_path,
                      std::strerror(errno));
  }
  if (dropped > 0) {
    if (!dead_letters_full_) {
      spdlog::warn("dead-letter file {} is at --dlq-max-bytes ({}): further refused lines are "
                   "counted (dead_letters_dropped), not written",
                   options_.dead_letter_path, cap);
      dead_letters_full_ = true;
    }
    summary_.dead_letters_dropped += dropped;
    stats_->dead_letters_dropped.fetch_add(dropped, std::memory_order_relaxed);
  }
  return {};
}

Status Consumer::Impl::commit(clickhouse::Client& client, Batch& batch) {
  const std::string& source_id = batch.source_id;
  fault_point("committer");
  BatchResult result;
  std::unordered_map<std::string, int64_t> max_ts_updates;  // applied once the batch lands
  int64_t min_ts = INT64_MAX, max_ts = 0;
  auto phase_start = Clock::now();
  auto lookup_done = phase_start;
  const std::string token =
      fmt::format("{}:{}:{}", source_id, batch.start_offset, batch.end_offset);
  Status status = with_retries(
      fmt::format("batch at {} byte {}", source_id, batch.start_offset), [&]() -> Status {
        // Every attempt looks up the batch's ids again, so rows an earlier, failed attempt did
        // store (an insert spanning partitions can land in part) are found, not inserted twice.
        result = BatchResult{};
        result.duplicates = batch.duplicates;
        result.conflicting = batch.conflicting;
        max_ts_updates.clear();
        min_ts = INT64_MAX;
        max_ts = 0;
        std::vector<const PendingEvent*> to_insert;
        if (!batch.prefetched) {
          auto stored = find_stored(client, batch);
          if (!stored.ok()) return stored.error();
          batch.prefetched = std::move(stored.value());
        }
        classify(batch, *batch.prefetched, to_insert, result);
        batch.prefetched.reset();  // a retry looks again: a failed attempt may have stored rows
        lookup_done = Clock::now();
        EventBlock block;
        for (const PendingEvent* pending : to_insert) {
          const Event& event = pending->decoded.event;
          auto known = max_ts_updates.find(event.restaurant_id);
          if (known == max_ts_updates.end()) {
            auto stored = max_ts_by_restaurant_.find(event.restaurant_id);
            known =
                max_ts_updates
                    .emplace(event.restaurant_id,
                             stored == max_ts_by_restaurant_.end() ? event.ts_ms : stored->second)
                    .first;
          }
          if (known->second - event.ts_ms > kLateThresholdMs) ++result.late;
          known->second = std::max(known->second, event.ts_ms);
          result.subtotal_mismatch += pending->decoded.subtotal_mismatch;
          result.total_mismatch += pending->decoded.total_mismatch;
          result.naive_timestamps += pending->decoded.naive_timestamp;
          min_ts = std::min(min_ts, event.ts_ms);
          max_ts = std::max(max_ts, event.ts_ms);
          block.add(event, pending->decoded.content_hash, {source_id, pending->offset});
        }
        result.inserted += to_insert.size();
        if (block.rows() == 0) return Status();
        // Over HTTP an insert can time out and still land later: the token makes the server
        // drop such a repeat. In-process the outcome is never in doubt, and the lookup above
        // already covers a partial landing, so the embedded engine skips the token's cost.
        return timed_insert(client, fmt::format("events {}", event_row_columns()),
                            kEventBlockFormat, block.finish(),
                            use_insert_tokens_ ? "events:" + token : std::string());
      });
  TP_RETURN_IF_ERROR(status);
  for (const auto& [restaurant, ts] : max_ts_updates) max_ts_by_restaurant_[restaurant] = ts;

  // The match step covers the batch's duplicates too: the run that stored them may have died
  // before its own step.
  std::vector<int64_t> instants;
  instants.reserve(batch.events.size());
  for (const PendingEvent& pending : batch.events) instants.push_back(pending.decoded.event.ts_ms);
  InsertedBatch inserted;
  inserted.ranges = cover_instants(std::move(instants), kMatchRangeGapMs, kMaxMatchRanges);
  inserted.result = result;
  inserted.min_ts = min_ts;
  inserted.max_ts = max_ts;
  inserted.token = token;
  inserted.started = phase_start;
  inserted.lookup_done = lookup_done;
  inserted.insert_done = Clock::now();
  batch.events = {};  // the stored events are not needed any more: free them now
  inserted.batch = std::move(batch);
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
  TP_RETURN_IF_ERROR(with_retries(
      fmt::format("matches of {} byte {}", inserted.front().batch.source_id,
                  inserted.front().batch.start_offset),
      [&] { return refresh_matches(client, ranges, true); }));
  const double match_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - match_start).count() /
      static_cast<double>(inserted.size());
  for (const InsertedBatch& one : inserted) {
    TP_RETURN_IF_ERROR(checkpoint(client, one, match_ms));
  }
  return {};
}

Status Consumer::Impl::checkpoint(clickhouse::Client& client, const InsertedBatch& inserted,
                                  double match_ms) {
  const Batch& batch = inserted.batch;
  const std::string& source_id = batch.source_id;
  const BatchResult& result = inserted.result;
  auto checkpoint_start = Clock::now();
  TP_RETURN_IF_ERROR(write_dead_letters(batch));

  // The batch row is the checkpoint: written last, so a crash before it replays the batch.
  nlohmann::json reasons = nlohmann::json::object();
  for (const auto& [code, count] : batch.reasons) reasons[code] = count;
  nlohmann::json row = {
      {"source_id", source_id},
      {"run_id", run_id_},
      {"start_offset", batch.start_offset},
      {"end_offset", batch.end_offset},
      {"end_line", batch.end_line},
      {"file_identity", batch.file_identity},
      {"end_tail", to_hex(batch.end_tail)},
      {"lines", batch.lines},
      {"blank", batch.blank},
      {"inserted", result.inserted},
      {"duplicates", result.duplicates},
      {"conflicting_duplicates", result.conflicting},
      {"rejected", batch.rejects.size()},
      {"rejected_by_reason", reasons},
      {"late_events", result.late},
      {"subtotal_mismatch", result.subtotal_mismatch},
      {"total_mismatch", result.total_mismatch},
      {"naive_timestamps", result.naive_timestamps},
      {"min_event_ts", format_clickhouse_ms(inserted.min_ts == INT64_MAX ? 0 : inserted.min_ts)},
      {"max_event_ts", format_clickhouse_ms(inserted.max_ts)}};
  const std::string checkpoint = row.dump() + "\n";
  TP_RETURN_IF_ERROR(with_retries(fmt::format("checkpoint of {}", source_id), [&] {
    return timed_insert(client, "ingest_batches", "JSONEachRow", checkpoint,
                        "batch:" + inserted.token);
  }));

  auto ms = [](auto from, auto to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
  };
  spdlog::debug(
      "batch of {} lines: lookup {:.0f} ms, encode+insert {:.0f} ms, matches {:.0f} ms (its "
      "share), checkpoint {:.0f} ms, inserted to checkpointed {:.0f} ms",
      batch.lines, ms(inserted.started, inserted.lookup_done),
      ms(inserted.lookup_done, inserted.insert_done), match_ms, ms(checkpoint_start, Clock::now()),
      ms(inserted.insert_done, Clock::now()));
  summary_.lines += batch.lines;
  summary_.blank += batch.blank;
  summary_.inserted += result.inserted;
  summary_.duplicates += result.duplicates;
  summary_.conflicting_duplicates += result.conflicting;
  summary_.rejected += batch.rejects.size();
  for (const auto& [code, count] : batch.reasons) summary_.reasons[code] += count;
  summary_.late_events += result.late;
  summary_.subtotal_mismatch += result.subtotal_mismatch;
  summary_.total_mismatch += result.total_mismatch;
  summary_.naive_timestamps += result.naive_timestamps;
  ++summary_.batches;

  stats_->inserted.fetch_add(result.inserted, std::memory_order_relaxed);
  stats_->duplicates.fetch_add(result.duplicates, std::memory_order_relaxed);
  stats_->conflicting_duplicates.fetch_add(result.conflicting, std::memory_order_relaxed);
  stats_->rejected.fetch_add(batch.rejects.size(), std::memory_order_relaxed);
  stats_->late_events.fetch_add(result.late, std::memory_order_relaxed);
  stats_->naive_timestamps.fetch_add(result.naive_timestamps, std::memory_order_relaxed);
  {
    std::lock_guard lock(stats_->mutex);
    for (const auto& [code, count] : batch.reasons) stats_->rejected_by_reason[code] += count;
  }
  int64_t now = now_ms();
  stats_->lag_ms.store(now - batch.first_read_wall_ms, std::memory_order_relaxed);
  stats_->last_commit_ms.store(now, std::memory_order_relaxed);
  stats_->batches.fetch_add(1, std::memory_order_release);

  return {};
}

void Consumer::Impl::record_latency(double ms) {
  std::lock_guard lock(stats_->mutex);
  for (double bound : kLatencyBucketsMs) {
    if (ms <= bound) ++stats_->insert_latency_buckets[bound];
  }
  ++stats_->insert_latency_buckets[std::numeric_limits<double>::infinity()];
  stats_->insert_latency_sum_ms += ms;
  ++stats_->insert_latency_count;
}

void Consumer::Impl::print_progress(bool final_line) {
  auto now = Clock::now();
  if (!final_line && now - last_progress_ < std::chrono::seconds(1)) return;
  last_progress_ = now;
  double seconds = std::chrono::duration<double>(now - started_).count();
  uint64_t lines = stats_->lines.load();
  fmt::print(stderr, "\r\x1b[2K{} lines  {:.0f}/s  inserted {}  duplicates {}  rejected {}{}",
             lines, seconds > 0 ? static_cast<double>(lines) / seconds : 0.0,
             stats_->inserted.load(), stats_->duplicates.load(), stats_->rejected.load(),
             final_line ? "\n" : "");
  std::fflush(stderr);
}

Consumer::Consumer(clickhouse::ClientFactory& factory, IngestOptions options,
                   std::shared_ptr<IngestStats> stats)
    : impl_(std::make_unique<Impl>(factory, std::move(options), stats)), stats_(std::move(stats)) {}

Consumer::~Consumer() = default;

Result<IngestSummary> Consumer::run() { return impl_->run(); }

void Consumer::stop() { impl_->stop(); }

}  // namespace tp::ingest
