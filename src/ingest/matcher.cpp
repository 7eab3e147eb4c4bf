#include "ingest/matcher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "common/resources.h"
#include "common/time.h"

namespace tp::ingest {
namespace {

constexpr int64_t kFirstMs = -2'208'988'800'000;    // 1900-01-01 00:00:00, DateTime64's first
constexpr int64_t kOpenEndMs = 10'413'791'999'999;  // 2299-12-31 23:59:59.999, DateTime64's last

// The SQL of a file in sql/matches/ with {{seated_tables}} (the tables with a seating in the
// ranges: whose later placements a late seating may now match; one definition for both
// files) and {{ranges}} (an OR of `ts BETWEEN` over numbered parameters: the ranges' count
// shapes the SQL, their values stay parameters) written out.
Result<std::string> load_match_sql(std::string_view file, size_t range_count) {
  auto text = find_resource(fmt::format("sql/matches/{}.sql", file));
  if (!text)
    return make_error(ErrorCode::kInternal, "no embedded SQL file sql/matches/{}.sql", file);
  std::string condition;
  for (size_t i = 0; i < range_count; ++i) {
    if (i > 0) condition += " OR ";
    condition += fmt::format(
        "ts BETWEEN {{range_first_{0}:DateTime64(3, 'UTC')}} AND {{range_last_{0}:DateTime64(3, "
        "'UTC')}}",
        i);
  }
  std::string sql = clickhouse::replace_all(std::string(*text), "{{seated_tables}}",
                                           "(SELECT restaurant_id, table_id FROM events "
                                           "WHERE event_type = 'table_seated' AND ({{ranges}}))");
  return clickhouse::replace_all(std::move(sql), "{{ranges}}", condition);
}

}  // namespace

std::vector<TimeRange> cover_instants(const std::vector<int64_t>& ts_ms, int64_t max_gap_ms,
                                      size_t max_ranges) {
  std::vector<TimeRange> points;
  points.reserve(ts_ms.size());
  for (int64_t ts : ts_ms) points.push_back({ts, ts});
  return merge_ranges(std::move(points), max_gap_ms, max_ranges);
}

std::vector<TimeRange> merge_ranges(std::vector<TimeRange> ranges, int64_t max_gap_ms,
                                    size_t max_ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const TimeRange& a, const TimeRange& b) { return a.first_ms < b.first_ms; });
  std::vector<TimeRange> merged;
  for (const TimeRange& range : ranges) {
    if (!merged.empty() && range.first_ms - merged.back().last_ms < max_gap_ms) {
      merged.back().last_ms = std::max(merged.back().last_ms, range.last_ms);
    } else {
      merged.push_back(range);
    }
  }
  while (merged.size() > std::max<size_t>(1, max_ranges)) {
    size_t closest = 0;
    for (size_t i = 1; i + 1 < merged.size(); ++i) {
      if (merged[i + 1].first_ms - merged[i].last_ms <
          merged[closest + 1].first_ms - merged[closest].last_ms) {
        closest = i;
      }
    }
    merged[closest].last_ms = merged[closest + 1].last_ms;
    merged.erase(merged.begin() + static_cast<std::ptrdiff_t>(closest) + 1);
  }
  return merged;
}

Status refresh_matches(clickhouse::Client& client, const std::vector<TimeRange>& ranges,
                       bool open_ended) {
  if (ranges.empty()) return {};
  clickhouse::QueryParams params;
  for (size_t i = 0; i < ranges.size(); ++i) {
    params.emplace_back(fmt::format("range_first_{}", i), format_clickhouse_ms(ranges[i].first_ms));
    params.emplace_back(fmt::format("range_last_{}", i), format_clickhouse_ms(ranges[i].last_ms));
  }
  params.emplace_back("scan_start", format_clickhouse_ms(ranges.front().first_ms));
  params.emplace_back("scan_end",
                      format_clickhouse_ms(open_ended ? kOpenEndMs : ranges.back().last_ms));
  // Seatings first: the order candidates read the placements' seatings they store.
  for (std::string_view file : {"seat_candidates", "order_candidates"}) {
    auto sql = load_match_sql(file, ranges.size());
    if (!sql.ok()) return sql.error();
    auto started = std::chrono::steady_clock::now();
    TP_RETURN_IF_ERROR(client.execute(sql.value(), params));
    spdlog::debug(
        "match step {}: {:.0f} ms", file,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count());
  }
  return {};
}

Status rematch(clickhouse::Client& client, std::optional<int64_t> from_ms,
               std::optional<int64_t> to_ms, uint64_t chunk_events,
               const std::function<void(const RematchProgress&)>& on_progress) {
  auto rows = client.query_json_rows(
      "SELECT toInt64(toUnixTimestamp(toStartOfHour(ts))) * 1000 AS hour_ms, count() AS events "
      "FROM events WHERE ts >= {from:DateTime64(3, 'UTC')} AND ts <= {to:DateTime64(3, 'UTC')} "
      "GROUP BY hour_ms ORDER BY hour_ms",
      {{"from", format_clickhouse_ms(from_ms.value_or(kFirstMs))},
       {"to", format_clickhouse_ms(to_ms.value_or(kOpenEndMs))}});
  if (!rows.ok()) return rows.error();
  std::vector<std::pair<int64_t, uint64_t>> hours;
  RematchProgress progress;
  for (const auto& row : rows.value()) {
    auto json = nlohmann::json::parse(row);
    hours.emplace_back(json["hour_ms"].get<int64_t>(), json["events"].get<uint64_t>());
    progress.events_total += hours.back().second;
  }
  constexpr int64_t kHourMs = 3'600'000;
  for (size_t i = 0; i < hours.size();) {
    // Whole hours until the chunk holds about chunk_events (at least one hour).
    size_t end = i;
    uint64_t events = 0;
    while (end < hours.size() && (end == i || events + hours[end].second <= chunk_events)) {
      events += hours[end].second;
      ++end;
    }
    TimeRange range{std::max(hours[i].first, from_ms.value_or(INT64_MIN)),
                    std::min(hours[end - 1].first + kHourMs - 1, to_ms.value_or(INT64_MAX))};
    TP_RETURN_IF_ERROR(refresh_matches(client, {range}, false));
    progress.events_done += events;
    progress.reached_ms = range.last_ms;
    if (on_progress) on_progress(progress);
    i = end;
  }
  return {};
}

}  // namespace tp::ingest
