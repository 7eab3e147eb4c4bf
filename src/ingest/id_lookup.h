#pragma once
// Deduplication against the database: the ids of a batch that earlier runs (or other
// consumers) stored, and what that makes of each of the batch's events.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "clickhouse/client.h"
#include "common/result.h"
#include "ingest/batch.h"
#include "ingest/counters.h"

namespace tp::ingest {

// Ids per lookup over HTTP: keeps each request's parameter (and URL) moderate.
inline constexpr size_t kHttpLookupChunk = 5000;

// The rows the database holds for the batches' ids, searched within their event-time range
// widened by `lookback_ms` (redeliveries carry the same timestamp; the margin catches
// conflicting copies whose timestamps differ). `ids_per_query` 0: one query for all of them.
Result<StoredRows> find_stored(clickhouse::Client& client, std::span<const Batch> batches,
                               int64_t lookback_ms, size_t ids_per_query);

// Splits the batch's events into those to insert and the duplicates of stored rows (counted in
// `counters`, with the conflicting ones). A row a killed run of ours stored past this source's
// checkpoint is inserted again: ReplacingMergeTree and FINAL collapse the copy.
void classify(const Batch& batch, const StoredRows& stored,
              std::vector<const PendingEvent*>& to_insert, BatchCounters& counters);

}  // namespace tp::ingest
