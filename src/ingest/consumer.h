#pragma once
// The consumer: reads JSON lines from sources, validates, deduplicates, batches and inserts
// them; every line ends up stored once, counted as a duplicate, or refused with a reason.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clickhouse/client.h"
#include "clickhouse/retry.h"
#include "common/result.h"
#include "common/time.h"
#include "ingest/counters.h"
#include "ingest/stats.h"
#include "source/kafka.h"

namespace tp::ingest {

// Consumer settings; the defaults suit a laptop and a 5k events/s stream.
struct IngestOptions {
  std::vector<std::string> sources;   // files, or "-" for stdin
  bool follow = false;                // keep reading files as they grow (tail -f)
  std::string dead_letter_path;       // refused lines as JSON lines; empty: not written
  uint64_t dead_letter_max_bytes = 1ULL << 30;  // the file's size cap (records past it are
                                                // counted as dropped); 0: no cap
  size_t batch_max_rows = 100000;     // a batch is inserted when it has this many events (1M
                                      // bulk: 5.6 s at 100k, 6.5 s at 50k, 6.2 s at 200k) …
  int64_t batch_max_age_ms = 1000;    // … or when its oldest line waited this long (a live
                                      // stream at 116 events/s with a day stored: 17 CPU-s
                                      // per minute at 1 s, 32 at 250 ms)
  int64_t match_linger_ms = 1000;     // the match step waits at least this long (and at
                                      // least batch_max_age_ms) for more inserted batches: it
                                      // feeds wait times, turnover and the committed counters,
                                      // and costs ≈ 80 ms of CPU even for a few events, ≈ 300
                                      // with 1M stored (DESIGN §7: 250 ms, fresher panels for
                                      // more CPU)
  size_t dedup_memory_ids = 2000000;  // event_ids remembered in memory (bounded; older ones are
                                      // found in the database by the batch lookup)
  int64_t dedup_lookback_ms = 6 * 3600 * 1000LL;  // how far from a batch's event times the
                                                  // database lookup searches for earlier copies
  clickhouse::RetryPolicy retry;      // transient database failures: backoff 0.2 s doubling
                                      // to 10 s, for as long as the database is away (serve,
                                      // ingest --follow); `ingest` of files and stdin gives up
                                      // after 5 min (--retry-for)
  bool resume = true;                 // files: continue after the last committed batch
  bool progress = false;              // print a progress line to stderr every second
  int64_t max_line_bytes = 1 << 20;   // longer lines are refused (line_too_long)
  TimeZone default_zone;              // timestamps written without a zone are read in it
                                      // (--default-timezone; UTC unless the producer says)
  source::KafkaOptions kafka;         // a topic read after the files (--kafka); brokers empty:
                                      // none
};

// The end-of-run report; to_json() is the JSON object printed as the last line of stdout: the
// counters of the registry (ingest/counters.h) under their names, and those of the run.
struct IngestSummary {
  BatchCounters counters;  // of the batches this run committed (lines == inserted + duplicates
                           // + rejected; duplicates are the redeliveries this run recognised)
  uint64_t batches = 0;
  uint64_t resumed_from_checkpoint = 0;  // lines skipped: an earlier run had committed them
  uint64_t dead_letters_dropped = 0;     // refused lines not written: the file was at its cap
  double seconds = 0;

  nlohmann::json to_json() const;
};

// Runs the consumer until its sources end (or forever with follow) or stop() is called.
class Consumer {
 public:
  Consumer(clickhouse::ClientFactory& factory, IngestOptions options,
           std::shared_ptr<IngestStats> stats = std::make_shared<IngestStats>());
  ~Consumer();

  // Processes every source in turn; fails only when the input could not be processed
  // (unreadable file, a permanent database error, the database still unavailable when the
  // retry policy gives up or when stop() is called).
  Result<IngestSummary> run();

  // Asks run() to commit what it has and return; safe from any thread or a signal handler.
  void stop();

  const std::shared_ptr<IngestStats>& stats() const { return stats_; }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::shared_ptr<IngestStats> stats_;
};

}  // namespace tp::ingest
