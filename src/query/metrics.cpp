#include "query/metrics.h"

#include <fmt/format.h>

#include "common/resources.h"
#include "common/time.h"

namespace tp::query {
namespace {

constexpr int kDefaultLimit = 10;
constexpr int64_t kRecentMs = 2 * 3'600'000;  // seat/order matches first sought this far back

// The SQL of a file in sql/queries/, with the shared {{names}} CTE spliced in (file
// composition; every input still arrives as a query parameter).
Result<std::string> load_sql(std::string_view file) {
  auto text = find_resource(fmt::format("sql/queries/{}.sql", file));
  if (!text) return make_error(ErrorCode::kInternal, "no embedded SQL file for {}", file);
  std::string sql(*text);
  auto names = find_resource("sql/queries/_restaurant_names.sql");
  size_t at = sql.find("{{names}}");
  if (at != std::string::npos && names) sql.replace(at, 9, *names);
  return sql;
}

std::string_view sql_file(Metric metric) {
  switch (metric) {
    case Metric::kRevenue:
      return "revenue";
    case Metric::kFunnel:
      return "funnel";
    case Metric::kTopItems:
      return "top_items";
    case Metric::kWaitTimes:
      return "wait_times";
    case Metric::kTurnover:
      return "turnover";
    case Metric::kDataQuality:
      return "data_quality";
  }
  return "";
}

Result<nlohmann::ordered_json> run_rows(clickhouse::Client& client, const std::string& sql,
                                const clickhouse::QueryParams& params) {
  auto rows = client.query_json_rows(sql, params);
  if (!rows.ok()) return rows.error();
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& row : rows.value()) {
    auto parsed = nlohmann::ordered_json::parse(row, nullptr, false);
    if (parsed.is_discarded()) {
      return make_error(ErrorCode::kProtocol, "ClickHouse returned a row that is not JSON: {}",
                        row.substr(0, 200));
    }
    out.push_back(std::move(parsed));
  }
  return out;
}

}  // namespace

const std::vector<Metric>& all_metrics() {
  static const std::vector<Metric> kAll = {Metric::kRevenue,   Metric::kFunnel,
                                           Metric::kTopItems,  Metric::kWaitTimes,
                                           Metric::kTurnover,  Metric::kDataQuality};
  return kAll;
}

std::string_view metric_name(Metric metric) {
  switch (metric) {
    case Metric::kRevenue:
      return "revenue";
    case Metric::kFunnel:
      return "funnel";
    case Metric::kTopItems:
      return "top-items";
    case Metric::kWaitTimes:
      return "wait-times";
    case Metric::kTurnover:
      return "turnover";
    case Metric::kDataQuality:
      return "data-quality";
  }
  return "";
}

std::optional<Metric> parse_metric(std::string_view name) {
  for (Metric metric : all_metrics()) {
    if (metric_name(metric) == name) return metric;
  }
  return std::nullopt;
}

int64_t default_window_ms(Metric metric) {
  switch (metric) {
    case Metric::kRevenue:
      return 5 * 60'000;
    case Metric::kTopItems:
      return 30 * 60'000;
    default:
      return 60 * 60'000;
  }
}

Result<MetricQuery> build_metric_query(const MetricRequest& request) {
  int64_t window = request.window_ms.value_or(default_window_ms(request.metric));
  int limit = request.limit.value_or(kDefaultLimit);
  if (window <= 0) return make_error(ErrorCode::kInvalidArgument, "window must be positive");
  if (limit < 1) return make_error(ErrorCode::kInvalidArgument, "limit must be at least 1");
  auto sql = load_sql(sql_file(request.metric));
  if (!sql.ok()) return sql.error();
  MetricQuery query{std::move(sql.value()), {}};
  if (request.metric != Metric::kDataQuality) {
    query.params = {{"as_of", format_clickhouse_ms(request.as_of_ms)},
                    {"window_start", format_clickhouse_ms(request.as_of_ms - window)},
                    {"restaurant_id", request.restaurant_id.value_or("")}};
    if (request.metric == Metric::kWaitTimes || request.metric == Metric::kTurnover) {
      // Matches are looked for here first; older ones are found by key (see the SQL).
      query.params.emplace_back("recent_start",
                                format_clickhouse_ms(request.as_of_ms - window - kRecentMs));
    }
    if (request.metric == Metric::kTopItems) {
      query.params.emplace_back("limit", std::to_string(limit));
    }
  }
  return query;
}

Result<nlohmann::ordered_json> run_metric(clickhouse::Client& client, const MetricRequest& request) {
  auto query = build_metric_query(request);
  if (!query.ok()) return query.error();
  return run_rows(client, query->sql, query->params);
}

Result<nlohmann::ordered_json> list_restaurants(clickhouse::Client& client, int64_t as_of_ms) {
  auto sql = load_sql("restaurants");
  if (!sql.ok()) return sql.error();
  return run_rows(client, sql.value(), {{"as_of", format_clickhouse_ms(as_of_ms)}});
}

}  // namespace tp::query
