#pragma once
// The counters of ingestion, defined once. Every committed batch carries them (each is a
// column of ingest_batches); the run's JSON summary, the live stats, /metrics, the SSE
// snapshot, the data-quality query and the page all take their names from this list.
#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace tp::ingest {

// X-macro: field (also the ingest_batches column, the summary's and the snapshot's key), its
// name in the data-quality API ("" when it is not there), its Prometheus counter ("" when it is
// exported otherwise) and what it counts. Every committed batch satisfies
// lines == inserted + duplicates + rejected.
#define TP_BATCH_COUNTERS(X)                                                                     \
  X(lines, "", "tablepulse_lines_total",                                                         \
    "Non-blank lines of committed batches (= inserted + duplicates + rejected).")                \
  X(blank, "", "tablepulse_blank_lines_total", "Blank lines of committed batches, skipped.")     \
  X(inserted, "events", "tablepulse_events_inserted_total", "Events stored.")                    \
  X(duplicates, "duplicates", "tablepulse_events_duplicates_total",                              \
    "Redeliveries recognised and dropped.")                                                      \
  X(rejected, "rejected", "", "Lines refused, by reason code (rejected_by_reason).")             \
  X(late_events, "late_events", "tablepulse_events_late_total",                                  \
    "Events more than 60 s older than an earlier event of the same restaurant.")                 \
  X(subtotal_mismatch, "subtotal_mismatch", "tablepulse_events_subtotal_mismatch_total",         \
    "Events stored whose items do not add up to their subtotal (by more than 0.01).")            \
  X(total_mismatch, "total_mismatch", "tablepulse_events_total_mismatch_total",                  \
    "Events stored whose subtotal, tax and tip do not add up to their total (by more than 0.01).") \
  X(conflicting_duplicates, "conflicting_duplicates",                                            \
    "tablepulse_events_conflicting_duplicates_total",                                            \
    "Redeliveries whose contents differ from the stored event.")                                 \
  X(naive_timestamps, "naive_timestamps", "tablepulse_events_naive_timestamps_total",            \
    "Events stored whose timestamp named no zone (read in --default-timezone).")

// One set of the counters: a batch's, or the sum over a run's batches.
struct BatchCounters {
#define TP_COUNTER_FIELD(field, dq_name, prometheus_name, help) uint64_t field = 0;
  TP_BATCH_COUNTERS(TP_COUNTER_FIELD)
#undef TP_COUNTER_FIELD
  std::map<std::string, uint64_t> rejected_by_reason;  // `rejected`, by reason code

  BatchCounters& operator+=(const BatchCounters& other);
  // Every counter under its field name, rejected_by_reason as an object.
  nlohmann::json to_json() const;
};

// The data-quality query's select list over ingest_batches: each counter that has a
// data-quality name summed under it, rejected_by_reason summed as a map after `rejected`.
std::string data_quality_select_list();

}  // namespace tp::ingest
