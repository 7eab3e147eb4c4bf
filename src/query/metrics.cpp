#include "query/metrics.h"

#include <fmt/format.h>

#include "common/resources.h"
#include "common/time.h"
#include "ingest/counters.h"

namespace tp::query {
namespace {

constexpr int kDefaultLimit = 10;

// Replaces the first `{{placeholder}}` in `sql` with `text`.
void splice(std::string& sql, std::string_view placeholder, std::string_view text) {
  size_t at = sql.find(placeholder);
  if (at != std::string::npos) sql.replace(at, placeholder.size(), text);
}

// The SQL of a file in sql/queries/, with the shared {{names}} CTE and the counter registry's
// {{data_quality_counters}} spliced in (file composition; every input still arrives as a query
// parameter).
Result<std::string> load_sql(std::string_view file) {
  auto text = find_resource(fmt::format("sql/queries/{}.sql", file));
  if (!text) return make_error(ErrorCode::kInternal, "no embedded SQL file for {}", file);
  std::string sql(*text);
  if (auto names = find_resource("sql/queries/_restaurant_names.sql")) {
    splice(sql, "{{names}}", *names);
  }
  splice(sql, "{{data_quality_counters}}", ingest::data_quality_select_list());
  return sql;
}

// Everything that differs between metrics apart from their SQL, in dashboard order.
struct MetricInfo {
  Metric metric;
  std::string_view name;      // CLI/API name
  std::string_view sql_file;  // sql/queries/<file>.sql
  int64_t default_window_ms;  // the spec's W
  DataMoment moment;          // what its SQL reads: the events, or what the checkpoint follows
};

constexpr MetricInfo kMetrics[] = {
    {Metric::kRevenue, "revenue", "revenue", 5 * 60'000, DataMoment::kStored},
    {Metric::kFunnel, "funnel", "funnel", 60 * 60'000, DataMoment::kStored},
    {Metric::kTopItems, "top-items", "top_items", 30 * 60'000, DataMoment::kStored},
    {Metric::kWaitTimes, "wait-times", "wait_times", 60 * 60'000, DataMoment::kCheckpointed},
    {Metric::kTurnover, "turnover", "turnover", 60 * 60'000, DataMoment::kCheckpointed},
    {Metric::kDataQuality, "data-quality", "data_quality", 60 * 60'000, DataMoment::kCheckpointed},
};

const MetricInfo& info(Metric metric) {
  for (const auto& entry : kMetrics) {
    if (entry.metric == metric) return entry;
  }
  return kMetrics[0];
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
  static const std::vector<Metric> kAll = [] {
    std::vector<Metric> all;
    for (const auto& entry : kMetrics) all.push_back(entry.metric);
    return all;
  }();
  return kAll;
}

std::string_view metric_name(Metric metric) { return info(metric).name; }

std::optional<Metric> parse_metric(std::string_view name) {
  for (const auto& entry : kMetrics) {
    if (entry.name == name) return entry.metric;
  }
  return std::nullopt;
}

int64_t default_window_ms(Metric metric) { return info(metric).default_window_ms; }

DataMoment data_moment(Metric metric) { return info(metric).moment; }

Result<MetricQuery> build_metric_query(const MetricRequest& request) {
  int64_t window = request.window_ms.value_or(default_window_ms(request.metric));
  int limit = request.limit.value_or(kDefaultLimit);
  if (window <= 0) return make_error(ErrorCode::kInvalidArgument, "window must be positive");
  if (limit < 1) return make_error(ErrorCode::kInvalidArgument, "limit must be at least 1");
  auto sql = load_sql(info(request.metric).sql_file);
  if (!sql.ok()) return sql.error();
  MetricQuery query{std::move(sql.value()), {}};
  if (request.metric != Metric::kDataQuality) {
    query.params = {{"as_of", format_clickhouse_ms(request.as_of_ms)},
                    {"window_start", format_clickhouse_ms(request.as_of_ms - window)},
                    {"restaurant_id", request.restaurant_id.value_or("")}};
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
