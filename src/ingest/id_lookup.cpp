#include "ingest/id_lookup.h"

#include <algorithm>
#include <string_view>

#include "common/time.h"

namespace tp::ingest {

Result<StoredRows> find_stored(clickhouse::Client& client, std::span<const Batch> batches,
                               int64_t lookback_ms, size_t ids_per_query) {
  StoredRows stored;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  std::vector<std::string_view> all_ids;
  for (const Batch& batch : batches) {
    for (const auto& pending : batch.events) {
      lo = std::min(lo, pending.decoded.event.ts_ms);
      hi = std::max(hi, pending.decoded.event.ts_ms);
      all_ids.push_back(pending.decoded.event.event_id);
    }
  }
  if (all_ids.empty()) return stored;
  // Each query scans the whole time range: the fewer queries the better.
  const size_t chunk = ids_per_query == 0 ? all_ids.size() : ids_per_query;
  for (size_t from = 0; from < all_ids.size(); from += chunk) {
    const size_t to = std::min(all_ids.size(), from + chunk);
    std::vector<std::string_view> ids(all_ids.begin() + static_cast<std::ptrdiff_t>(from),
                                      all_ids.begin() + static_cast<std::ptrdiff_t>(to));
    auto rows = client.query_json_rows_with_values(
        "SELECT event_id AS id, content_hash, source_id, source_offset FROM events "
        "WHERE ts >= {lo:DateTime64(3, 'UTC')} AND ts <= {hi:DateTime64(3, 'UTC')} "
        "AND event_id IN {{values}}",
        {{"lo", format_clickhouse_ms(std::max<int64_t>(0, lo - lookback_ms))},
         {"hi", format_clickhouse_ms(hi + lookback_ms)}},
        "String", ids);
    if (!rows.ok()) return rows.error();
    for (const auto& row : rows.value()) {
      auto json = nlohmann::json::parse(row);
      stored.emplace(id_key(json["id"].get<std::string>()), std::move(json));
    }
  }
  return stored;
}

void classify(const Batch& batch, const StoredRows& stored,
              std::vector<const PendingEvent*>& to_insert, BatchCounters& counters) {
  for (const PendingEvent& pending : batch.events) {
    auto it = stored.find(pending.key);
    if (it == stored.end()) {
      to_insert.push_back(&pending);
      continue;
    }
    const auto& row = it->second;
    if (row["source_id"] == batch.source_id() && row["source_offset"] == pending.offset &&
        pending.offset >= batch.position.committed_end) {
      // Stored by a run of ours that was killed before its checkpoint, possibly before the
      // materialized views stored their rows: insert it again. The copy has the same sorting
      // key in every table, so ReplacingMergeTree and FINAL collapse it; counted once.
      to_insert.push_back(&pending);
      continue;
    }
    ++counters.duplicates;
    if (row["content_hash"].get<uint64_t>() != pending.decoded.content_hash) {
      ++counters.conflicting_duplicates;
    }
  }
}

}  // namespace tp::ingest
