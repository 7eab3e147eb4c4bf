// `tablepulse query NAME`: one dashboard metric on the command line, as JSON or a table.
#include <unistd.h>

#include <fmt/core.h>

#include "cli/commands.h"
#include "cli/connection.h"
#include "common/time.h"
#include "query/metrics.h"
#include "query/table_format.h"

namespace tp::cli {

void add_query_command(CLI::App& app) {
  struct Flags {
    ConnectionFlags connection;
    std::string metric;
    std::string as_of;
    std::string window;
    std::optional<int> limit;
    std::string restaurant_id;
    std::string format;
  };
  auto flags = std::make_shared<Flags>();
  auto* command = app.add_subcommand("query", "Print one dashboard metric");
  add_connection_flags(command, flags->connection);
  add_allow_broken_parts_flag(command, flags->connection);
  std::vector<std::string> names;
  for (auto metric : query::all_metrics()) names.emplace_back(query::metric_name(metric));
  command->add_option("metric", flags->metric, "Metric")->required()->check(CLI::IsMember(names));
  command->add_option("--as-of", flags->as_of, "RFC 3339 instant the window ends at (default: now)");
  command->add_option("--window", flags->window, "Window length, e.g. 5m, 1h (default: the metric's)");
  command->add_option("--limit", flags->limit, "Rows of top-items (default 10)")
      ->check(CLI::Range(1, 1000));
  command->add_option("--restaurant", flags->restaurant_id, "Only this restaurant_id");
  command->add_option("--format", flags->format, "json or table (default: table on a terminal)")
      ->check(CLI::IsMember({"json", "table"}));
  command->callback([flags] {
    query::MetricRequest request;
    request.metric = *query::parse_metric(flags->metric);
    request.as_of_ms = now_ms();
    if (!flags->as_of.empty()) {
      auto parsed = parse_rfc3339_ms(flags->as_of);
      if (!parsed) {
        fail(make_error(ErrorCode::kInvalidArgument,
                        "--as-of '{}' is not an RFC 3339 instant with a zone (e.g. "
                        "2026-11-24T18:00:00Z)",
                        flags->as_of));
      }
      request.as_of_ms = *parsed;
    }
    if (!flags->window.empty()) {
      auto window = parse_duration_ms(flags->window);
      if (!window) {
        fail(make_error(ErrorCode::kInvalidArgument,
                        "--window '{}' is not a duration such as 90s, 5m, 1h, 1h30m",
                        flags->window));
      }
      request.window_ms = window;
    }
    request.limit = flags->limit;
    if (!flags->restaurant_id.empty()) request.restaurant_id = flags->restaurant_id;
    auto factory = open_connection(flags->connection);
    if (!factory.ok()) fail(factory.error());
    if (auto broken = check_broken_parts(*factory.value(), flags->connection); !broken.ok()) {
      fail(broken.error());
    }
    auto client = factory.value()->connect();
    if (!client.ok()) fail(client.error());
    auto result = query::run_metric(*client.value(), request);
    if (!result.ok()) fail(result.error());
    std::string format = flags->format;
    if (format.empty()) format = ::isatty(STDOUT_FILENO) ? "table" : "json";
    if (format == "json") {
      fmt::print("{}\n", result->dump());
    } else {
      fmt::print("{} as of {} (window {})\n", flags->metric, format_iso_ms(request.as_of_ms),
                 query::format_duration(request.window_ms.value_or(
                     query::default_window_ms(request.metric))));
      fmt::print("{}", query::format_table(result.value()));
    }
  });
}

}  // namespace tp::cli
