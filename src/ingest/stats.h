#pragma once
// Live counters of a running consumer, shared with the HTTP server (/metrics, the page's
// data-quality panel) without locks on the hot path.
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace tp::ingest {

// Counters since the consumer started; updated by the consumer thread, read by anyone.
struct IngestStats {
  std::atomic<uint64_t> lines{0};       // non-blank lines read
  std::atomic<uint64_t> blank{0};       // blank lines skipped
  std::atomic<uint64_t> inserted{0};    // events stored
  std::atomic<uint64_t> duplicates{0};  // redeliveries recognised
  std::atomic<uint64_t> conflicting_duplicates{0};  // redeliveries with different content
  std::atomic<uint64_t> rejected{0};    // lines refused (see rejected_by_reason)
  std::atomic<uint64_t> dead_letters_dropped{0};  // refused lines not written (file at its cap)
  std::atomic<uint64_t> late_events{0};  // per the spec's 60 s rule
  std::atomic<uint64_t> naive_timestamps{0};  // stored events whose timestamp named no zone
  std::atomic<uint64_t> batches{0};     // committed batches
  std::atomic<uint64_t> insert_failures{0};  // failed database attempts of the consumer
  std::atomic<uint64_t> database_retries{0};  // … of them, those tried again (transient)
  std::atomic<int64_t> last_commit_ms{0};    // wall clock of the last committed batch
  std::atomic<int64_t> last_read_ms{0};      // wall clock of the last line read
  std::atomic<int64_t> lag_ms{0};  // read-to-commit delay of the last batch's oldest line
  std::atomic<bool> running{false};

  // Rejections by reason code; guarded by mutex (rare path).
  std::map<std::string, uint64_t> rejected_by_reason;
  // Insert latencies (ms) bucketed for the Prometheus histogram; guarded by mutex.
  std::map<double, uint64_t> insert_latency_buckets;  // upper bound (ms) -> count (cumulative)
  double insert_latency_sum_ms = 0;
  uint64_t insert_latency_count = 0;
  // The database outage the consumer is riding out, and its last failure; guarded by mutex.
  int database_retrying = 0;              // operations waiting to try the database again
  int64_t database_failing_since_ms = 0;  // wall clock of the outage's first failure; 0: none
  std::string last_database_error;        // code name of the last failed attempt ("unavailable")
  int last_database_clickhouse_code = 0;  // its ClickHouse code, 0 if none
  int64_t last_database_error_ms = 0;     // when it failed (wall clock); 0: no failure yet
  mutable std::mutex mutex;
};

}  // namespace tp::ingest
