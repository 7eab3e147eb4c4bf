#pragma once
// POST /api/v1/events without the HTTP: a request body (JSON lines or one JSON array, gzip
// inflated within a bound) is split into events, each decoded as a file's line would be, and
// the lines worth storing are appended to a write-ahead file and made durable (fdatasync,
// shared by concurrent requests) before the reply; the serve consumer follows that file like
// any --follow source, so an acknowledged event survives kill -9 and a retry is deduplicated.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"
#include "decode/decoder.h"
#include "ingest/checkpoints.h"
#include "ingest/recent_ids.h"
#include "server/prometheus.h"

namespace tp::server {

// One event of a request body as one line of text, and where the client had it.
struct BodyEvent {
  std::string text;     // a JSON-lines line without its line ending, or an array element with
                        // its line breaks (outside strings) turned into spaces
  uint64_t number = 0;  // 1-based: the line of a JSON-lines body, the element of an array
};

// Splits a body into its events: one JSON array (first non-blank byte '['; its elements are
// found by a scan of strings and brackets, each decoded on its own) or JSON lines (blank lines
// skipped). kMalformedBody for an array that is not well formed (unbalanced, an unterminated
// string, a raw line break inside a string, an empty element, bytes after the closing bracket).
Result<std::vector<BodyEvent>> split_events_body(std::string_view body);

// Inflates a gzip or zlib ("deflate") body: kPayloadTooLarge past `max_bytes` of output (a gzip
// bomb costs at most that much memory), kMalformedBody for anything but complete streams.
Result<std::string> inflate_body(std::string_view compressed, uint64_t max_bytes);

// A token bucket of `rate` events per second holding at most one second's worth (the burst).
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  explicit TokenBucket(double rate, Clock::time_point now = Clock::now());
  // Takes `n` tokens and returns 0, or takes none and returns the seconds until they would be
  // there. A request larger than the burst passes when the bucket is full (and leaves it owing).
  double take(double n, Clock::time_point now = Clock::now());

 private:
  std::mutex mutex_;
  double rate_;
  double tokens_;
  Clock::time_point last_;
};

// The endpoint's counters for /metrics; thread-safe.
class EventsMetrics {
 public:
  void count_request(int status);
  void count_events(uint64_t accepted, uint64_t duplicate, uint64_t refused);
  void count_bytes(uint64_t received) { bytes_received_ += received; }
  void count_logged(uint64_t bytes) { bytes_logged_ += bytes; }
  void observe_fsync(double ms) { fsync_ms_.observe(ms); }
  // The tablepulse_http_events_* lines of the /metrics text.
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::map<int, uint64_t> requests_by_status_;
  std::atomic<uint64_t> accepted_{0}, duplicate_{0}, refused_{0};
  std::atomic<uint64_t> bytes_received_{0}, bytes_logged_{0};
  LatencyHistogram fsync_ms_;
};

// What the endpoint does beyond HTTP; the defaults are serve's.
struct EventsIntakeOptions {
  std::string log_path;                  // the write-ahead file (created if missing)
  uint64_t max_body_bytes = 8ULL << 20;  // the body, and the body once inflated
  double events_per_second = 0;          // --events-rate; 0: no limit
  size_t max_listed_refusals = 100;      // refused_lines beyond this are only counted
  size_t recent_ids = 1'000'000;         // ids remembered to answer "duplicate" (~40 MB)
  decode::DecoderOptions decoder;        // as the consumer decodes (--max-line-bytes, zone)
  std::optional<int> ttl_days;           // the database's retention: older events expired
};

// One refused event of a request, as the reply lists it.
struct Refusal {
  uint64_t line = 0;
  std::string reason;  // a decode::Reason code
  std::string detail;
};

// The 200 reply's counts.
struct IntakeReply {
  uint64_t accepted = 0;   // valid, new to this process: durable in the write-ahead file
  uint64_t duplicate = 0;  // ids repeated in the request or accepted recently by this process
  uint64_t refused = 0;    // with their reason, as a file's line would be refused
  std::vector<Refusal> refused_lines;  // the first max_listed_refusals of them
  bool refused_lines_truncated = false;

  nlohmann::ordered_json to_json() const;
};

// The endpoint's state: the open write-ahead file, the recent ids and the rate limit.
class EventsIntake {
 public:
  // Opens (or creates) the write-ahead file for appending; a last line left unfinished by a
  // crash (never acknowledged) is ended with a newline, so it cannot swallow the next one.
  static Result<std::unique_ptr<EventsIntake>> open(EventsIntakeOptions options);
  ~EventsIntake();
  EventsIntake(const EventsIntake&) = delete;
  EventsIntake& operator=(const EventsIntake&) = delete;

  // Processes one (inflated) body: decodes it, appends what is to be stored and returns once
  // that is durable. kMalformedBody (nothing stored): not JSON lines (no non-blank line is
  // JSON) nor a well-formed array, or no event at all; kRateLimited with `retry_after_s` set;
  // kIo when the file cannot be written or synced (and every later request, until a restart:
  // after a failed fdatasync what reached the disk is unknown).
  Result<IntakeReply> submit(std::string_view body, int* retry_after_s = nullptr);

  // The consumer's last checkpoint of the log (read_file_checkpoint of its path).
  using CheckpointProbe = std::function<Result<std::optional<ingest::FileCheckpoint>>()>;

  // Bounds the log: once it holds `rotate_bytes` or more and the consumer's checkpoint is at
  // its end (same size, same tail bytes), it is renamed to <log>.1 (replacing the previous one,
  // committed long since) and a new log is started; the consumer's follow reader finishes the
  // old file and reads the new one from its start (tail -F). Returns whether it rotated.
  Result<bool> rotate_if_committed(uint64_t rotate_bytes, const CheckpointProbe& probe);
  // Runs rotate_if_committed every `every` on a thread of its own until destruction.
  void start_rotation(uint64_t rotate_bytes, CheckpointProbe probe,
                      std::chrono::milliseconds every = std::chrono::milliseconds(1000));

  const EventsIntakeOptions& options() const { return options_; }
  EventsMetrics& metrics() { return metrics_; }

 private:
  explicit EventsIntake(EventsIntakeOptions options, int fd);
  // Waits until every byte appended up to `target` is synced (one fdatasync for all waiters).
  Status wait_durable(uint64_t target);

  EventsIntakeOptions options_;
  uint64_t instance_ = 0;    // tells this intake's thread-local decoders from a destroyed one's
  std::atomic<int> fd_{-1};  // replaced by a rotation (under both mutexes)
  EventsMetrics metrics_;
  std::optional<TokenBucket> bucket_;
  std::mutex append_mutex_;  // appends, the recent ids and failed_
  ingest::RecentIds recent_;
  bool failed_ = false;
  std::atomic<uint64_t> appended_{0};  // appends done (a sequence number)
  std::mutex sync_mutex_;              // synced_, syncing_, sync_failed_
  std::condition_variable synced_cv_;
  uint64_t synced_ = 0;
  bool syncing_ = false;
  bool sync_failed_ = false;
  std::mutex rotation_mutex_;  // stop_rotation_ and the rotation thread's wait
  std::condition_variable rotation_cv_;
  bool stop_rotation_ = false;
  std::thread rotation_thread_;
};

}  // namespace tp::server
