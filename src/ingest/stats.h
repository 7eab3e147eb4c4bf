#pragma once
// Live counters of a running consumer, shared with the HTTP server (/metrics, the page's
// data-quality panel) without locks on the hot path.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <string>

#include "ingest/counters.h"

namespace tp::ingest {

// Upper bounds (ms) of the insert latency histogram's buckets (/metrics).
inline constexpr double kInsertLatencyBucketsMs[] = {1,   2,   5,    10,   25,  50,
                                                      100, 250, 500, 1000, 2500, 5000};

// Counters since the consumer started; updated by the consumer's threads, read by anyone.
struct IngestStats {
  // The registry's counters (ingest/counters.h), of committed batches only: they always agree
  // with each other and with what the checkpoints say.
#define TP_COUNTER_ATOMIC(field, dq_name, prometheus_name, help) std::atomic<uint64_t> field{0};
  TP_BATCH_COUNTERS(TP_COUNTER_ATOMIC)
#undef TP_COUNTER_ATOMIC
  std::atomic<uint64_t> lines_read{0};  // non-blank lines read, committed or not (read rate)
  std::atomic<uint64_t> dead_letters_dropped{0};  // refused lines not written (file at its cap)
  // Committed batches. Bumped before the counters above, behind a release fence, so a reader
  // that sees a batch's counters (and then fences) sees its count: the live page reuses a
  // checkpointed panel only while this count is unchanged since the panel was computed.
  std::atomic<uint64_t> batches{0};
  // Lines of the batches whose insert landed, checkpointed or not: their events are in the
  // revenue, funnel and top-item panels (wait times and turnover follow at the checkpoint).
  std::atomic<uint64_t> stored_lines{0};
  // … and those batches; bumped before stored_lines in the same way as `batches`.
  std::atomic<uint64_t> stored_batches{0};
  std::atomic<uint64_t> insert_failures{0};  // failed database attempts of the consumer
  std::atomic<uint64_t> database_retries{0};  // … of them, those tried again (transient)
  std::atomic<int64_t> last_commit_ms{0};    // wall clock of the last committed batch
  std::atomic<int64_t> last_read_ms{0};      // wall clock of the last line read
  std::atomic<int64_t> lag_ms{0};            // read-to-commit delay of the oldest line the last
                                             // checkpoint covered
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
  // A Kafka partition this consumer owns, as /metrics and the page show it.
  struct KafkaPartition {
    int64_t committed = -1;       // first offset not checkpointed yet (-1: none checkpointed)
    int64_t high_watermark = -1;  // the partition's end as last fetched (-1: not known yet)
  };
  std::string kafka_topic;                             // empty: no Kafka source; guarded by mutex
  std::map<int32_t, KafkaPartition> kafka_partitions;  // owned now; guarded by mutex
  bool kafka_paused = false;  // fetching stopped while the database falls behind; guarded by mutex
  mutable std::mutex mutex;

  // Messages of the owned partitions not checkpointed yet (where both ends are known).
  int64_t kafka_lag() const {
    std::lock_guard lock(mutex);
    int64_t lag = 0;
    for (const auto& [id, partition] : kafka_partitions) {
      if (partition.high_watermark >= 0) {
        lag += partition.high_watermark - std::max<int64_t>(partition.committed, 0);
      }
    }
    return lag;
  }

  // Adds a committed batch's counters (the registry's, and rejected_by_reason under mutex).
  void add(const BatchCounters& batch) {
#define TP_COUNTER_ADD(field, dq_name, prometheus_name, help) \
  field.fetch_add(batch.field, std::memory_order_relaxed);
    TP_BATCH_COUNTERS(TP_COUNTER_ADD)
#undef TP_COUNTER_ADD
    std::lock_guard lock(mutex);
    for (const auto& [code, count] : batch.rejected_by_reason) rejected_by_reason[code] += count;
  }

  // Counts one insert of `ms` milliseconds in the latency histogram.
  void record_insert_latency(double ms) {
    std::lock_guard lock(mutex);
    for (double bound : kInsertLatencyBucketsMs) {
      if (ms <= bound) ++insert_latency_buckets[bound];
    }
    ++insert_latency_buckets[std::numeric_limits<double>::infinity()];
    insert_latency_sum_ms += ms;
    ++insert_latency_count;
  }

  // The registry's counters as they are now (rejected_by_reason read under mutex).
  BatchCounters counters() const {
    BatchCounters out;
#define TP_COUNTER_LOAD(field, dq_name, prometheus_name, help) out.field = field.load();
    TP_BATCH_COUNTERS(TP_COUNTER_LOAD)
#undef TP_COUNTER_LOAD
    std::lock_guard lock(mutex);
    out.rejected_by_reason = rejected_by_reason;
    return out;
  }
};

}  // namespace tp::ingest
