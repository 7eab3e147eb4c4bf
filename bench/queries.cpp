// bench/queries: latency of every dashboard query through the same code path the dashboard
// uses (query::run_metric on a warm embedded engine), at random as_of instants inside the
// stored data; prints p50/p99 per metric, the rows and bytes the engine read per query (its
// SelectedRows/SelectedBytes counters, averaged over the timed runs) and its estimate.
// Not a test: it prints figures. Usage: bench_queries DB_DIR [ITERATIONS] [EXPLAIN_FILE]
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>

#include "clickhouse/embedded.h"
#include "common/time.h"
#include "query/metrics.h"

namespace {

// The engine's cumulative counters of rows and bytes read from tables (system.events, which
// the embedded engine keeps although it has no query_log); a difference is what the queries
// in between read. Nothing else runs in this process meanwhile.
std::pair<uint64_t, uint64_t> selected_so_far(tp::clickhouse::Client& client) {
  auto rows = client.query_json_rows(
      "SELECT sumIf(value, event = 'SelectedRows') AS r, sumIf(value, event = 'SelectedBytes') AS b "
      "FROM system.events");
  if (!rows.ok() || rows->empty()) return {0, 0};
  auto json = nlohmann::json::parse(rows->front());
  return {json["r"].get<uint64_t>(), json["b"].get<uint64_t>()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: {} DB_DIR [ITERATIONS] [EXPLAIN_FILE]\n", argv[0]);
    return 2;
  }
  const int iterations = argc > 2 ? std::atoi(argv[2]) : 200;
  auto factory = tp::clickhouse::open_embedded({argv[1], ""});
  if (!factory.ok()) {
    fmt::print(stderr, "{}\n", factory.error().to_string());
    return 1;
  }
  auto client = std::move(factory.value()->connect().value());
  auto range = client->query_json_rows(
      "SELECT toUnixTimestamp64Milli(min(ts)) AS lo, toUnixTimestamp64Milli(max(ts)) AS hi, "
      "count() AS n FROM events");
  auto bounds = nlohmann::json::parse(range->at(0));
  int64_t lo = bounds["lo"].get<int64_t>() + 3'600'000, hi = bounds["hi"].get<int64_t>();
  fmt::print("events stored: {}; as_of drawn uniformly in [{}, {}]\n", bounds["n"].get<uint64_t>(),
             tp::format_iso_ms(lo), tp::format_iso_ms(hi));
  std::mt19937_64 random(42);
  std::uniform_int_distribution<int64_t> instant(lo, std::max(lo, hi));
  std::ofstream explain_out(argc > 3 ? argv[3] : "/dev/null");
  fmt::print("{:<14} {:>9} {:>9} {:>9} {:>11} {:>9} {:>11} {:>10}\n", "metric", "p50 ms",
             "p99 ms", "max ms", "rows read", "MB read", "est. rows", "est. marks");
  for (auto metric : tp::query::all_metrics()) {
    std::vector<double> latencies;
    tp::query::MetricRequest request;
    request.metric = metric;
    std::pair<uint64_t, uint64_t> selected_before{0, 0};
    for (int i = 0; i < 5 + iterations; ++i) {
      if (i == 5) selected_before = selected_so_far(*client);  // after the warm-up runs
      request.as_of_ms = instant(random);
      auto started = std::chrono::steady_clock::now();
      auto result = tp::query::run_metric(*client, request);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                      .count();
      if (!result.ok()) {
        fmt::print(stderr, "{}: {}\n", tp::query::metric_name(metric), result.error().to_string());
        return 1;
      }
      if (i >= 5) latencies.push_back(ms);  // the first runs warm caches
    }
    auto selected_after = selected_so_far(*client);
    const double rows_read =
        static_cast<double>(selected_after.first - selected_before.first) / iterations;
    const double mb_read =
        static_cast<double>(selected_after.second - selected_before.second) / iterations / 1e6;
    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double p) {
      return latencies[std::min(latencies.size() - 1, static_cast<size_t>(p * latencies.size()))];
    };
    // The engine's own estimate of what the query reads (EXPLAIN ESTIMATE), at one instant.
    request.as_of_ms = hi;
    auto query = tp::query::build_metric_query(request);
    uint64_t rows = 0, marks = 0;
    auto estimate = client->query_json_rows("EXPLAIN ESTIMATE " + query->sql, query->params);
    if (estimate.ok()) {
      for (const auto& line : estimate.value()) {
        auto row = nlohmann::json::parse(line);
        rows += row["rows"].get<uint64_t>();
        marks += row["marks"].get<uint64_t>();
      }
    }
    auto indexes = client->query_json_rows("EXPLAIN indexes = 1 " + query->sql, query->params);
    explain_out << "==== " << tp::query::metric_name(metric) << "\n";
    if (indexes.ok()) {
      for (const auto& line : indexes.value()) {
        explain_out << nlohmann::json::parse(line)["explain"].get<std::string>() << "\n";
      }
    }
    fmt::print("{:<14} {:>9.1f} {:>9.1f} {:>9.1f} {:>11.0f} {:>9.1f} {:>11} {:>10}\n",
               tp::query::metric_name(metric), pct(0.50), pct(0.99), latencies.back(), rows_read,
               mb_read, rows, marks);
  }
  return 0;
}
