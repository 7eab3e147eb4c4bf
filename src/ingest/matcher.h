#pragma once
// Keeps event_matches current: the seating, placement and completion each event is matched to,
// stored as candidate rows (max/min over them is the match), so wait-times and turnover read
// one key range instead of joining at query time. See sql/migrations/0004_event_matches.sql.
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "clickhouse/client.h"
#include "common/result.h"

namespace tp::ingest {

// An event-time range, both ends included (epoch ms).
struct TimeRange {
  int64_t first_ms = 0;
  int64_t last_ms = 0;
};

// Ranges covering every instant of `ts_ms` (any order): instants less than `max_gap_ms` apart
// share a range, and the closest ranges are merged until at most `max_ranges` are left, so a
// batch with a few very late events scans a few narrow ranges rather than one wide one.
std::vector<TimeRange> cover_instants(const std::vector<int64_t>& ts_ms, int64_t max_gap_ms,
                                      size_t max_ranges);

// The same for ranges (any order, overlapping or not): the union of several batches' ranges.
std::vector<TimeRange> merge_ranges(std::vector<TimeRange> ranges, int64_t max_gap_ms,
                                    size_t max_ranges);

// Writes the candidate rows for the stored events in `ranges` and for stored events that
// events in `ranges` may now match. `open_ended` (a consumer's batch): a seating in the ranges
// may be the match of any later placement already stored (it arrived late); otherwise (a
// rematch of history) only placements up to the end of the last range are considered.
Status refresh_matches(clickhouse::Client& client, const std::vector<TimeRange>& ranges,
                       bool open_ended);

// Progress of rematch(), reported after each chunk.
struct RematchProgress {
  uint64_t events_done = 0;
  uint64_t events_total = 0;
  int64_t reached_ms = 0;  // event time up to which every match has been refreshed
};

// Recomputes the matches of every stored event in [from_ms, to_ms] (all history when unset),
// in chunks of whole hours holding about `chunk_events` events: for data inserted without the
// consumer (INSERT … SELECT, another tool) and for events stored before event_matches existed.
Status rematch(clickhouse::Client& client, std::optional<int64_t> from_ms,
               std::optional<int64_t> to_ms, uint64_t chunk_events,
               const std::function<void(const RematchProgress&)>& on_progress);

}  // namespace tp::ingest
