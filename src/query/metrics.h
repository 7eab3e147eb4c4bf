#pragma once
// The dashboard metrics of ../shared/spec/metrics.md, run as SQL files with ClickHouse query
// parameters; the CLI, the HTTP API and the live page all call run_metric.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "clickhouse/client.h"
#include "common/result.h"

namespace tp::query {

// The six metrics, by their CLI/API names.
enum class Metric { kRevenue, kFunnel, kTopItems, kWaitTimes, kTurnover, kDataQuality };

// All metrics, in dashboard order.
const std::vector<Metric>& all_metrics();
// "revenue", "funnel", "top-items", "wait-times", "turnover", "data-quality".
std::string_view metric_name(Metric metric);
// The metric with this name, if any.
std::optional<Metric> parse_metric(std::string_view name);
// The spec's default window W (5 min for revenue, 30 min top-items, 60 min the others).
int64_t default_window_ms(Metric metric);

// When a batch's events reach a metric: at their insert (it reads the events), or at the
// batch's checkpoint (it reads the matches of the match step before it, or the checkpoint
// rows). The live page recomputes a panel only when its moment has news.
enum class DataMoment { kStored, kCheckpointed };
DataMoment data_moment(Metric metric);

// One metric question: what, at which instant, over which window.
struct MetricRequest {
  Metric metric = Metric::kRevenue;
  int64_t as_of_ms = 0;                 // window end (inclusive), UTC epoch ms
  std::optional<int64_t> window_ms;     // default: default_window_ms(metric)
  std::optional<int> limit;             // top-items only; default 10
  std::optional<std::string> restaurant_id;  // only this restaurant's rows (and its items)
};

// Runs the metric and returns a JSON array of objects with the spec's field names (numbers
// as JSON numbers, null where the spec says so), keys in the spec's order. data-quality
// returns one object.
Result<nlohmann::ordered_json> run_metric(clickhouse::Client& client, const MetricRequest& request);

// The SQL and query parameters run_metric sends (for EXPLAIN and benchmarks).
struct MetricQuery {
  std::string sql;
  clickhouse::QueryParams params;
};
Result<MetricQuery> build_metric_query(const MetricRequest& request);

// Restaurants known at `as_of_ms` with their latest names: [{restaurant_id, restaurant_name}].
Result<nlohmann::ordered_json> list_restaurants(clickhouse::Client& client, int64_t as_of_ms);

}  // namespace tp::query
