#include "ingest/late_events.h"

#include <fmt/format.h>

#include <algorithm>

#include <nlohmann/json.hpp>

namespace tp::ingest {

Result<std::unordered_map<std::string, int64_t>> load_committed_high_water_marks(
    clickhouse::Client& client) {
  auto ends = client.query_json_rows(
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
  auto rows = client.query_json_rows(
      "SELECT restaurant_id, toUnixTimestamp64Milli(max(ts)) AS max_ms FROM events "
      "WHERE source_offset < {committed:Map(String, UInt64)}[source_id] GROUP BY restaurant_id",
      {{"committed", committed}});
  if (!rows.ok()) return rows.error();
  std::unordered_map<std::string, int64_t> marks;
  for (const auto& row : rows.value()) {
    auto json = nlohmann::json::parse(row);
    marks[json["restaurant_id"].get<std::string>()] = json["max_ms"].get<int64_t>();
  }
  return marks;
}

bool LateDetector::Pass::observe(const std::string& restaurant_id, int64_t ts_ms) {
  auto known = updates_.find(restaurant_id);
  if (known == updates_.end()) {
    known = updates_.emplace(restaurant_id, detector_.high_water_mark(restaurant_id).value_or(ts_ms))
                .first;
  }
  const bool late = known->second - ts_ms > kLateThresholdMs;
  known->second = std::max(known->second, ts_ms);
  return late;
}

void LateDetector::apply(const Pass& pass) {
  for (const auto& [restaurant, ts] : pass.updates_) max_ts_[restaurant] = ts;
}

std::optional<int64_t> LateDetector::high_water_mark(const std::string& restaurant_id) const {
  auto it = max_ts_.find(restaurant_id);
  if (it == max_ts_.end()) return std::nullopt;
  return it->second;
}

}  // namespace tp::ingest
