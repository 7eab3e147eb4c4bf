// `tablepulse sql`: runs SQL against the configured ClickHouse (an operator's escape hatch and
// what the benchmarks use to time the engine on its own).
#include <fmt/core.h>

#include <chrono>

#include "cli/commands.h"
#include "cli/connection.h"

namespace tp::cli {

void add_sql_command(CLI::App& app) {
  struct Flags {
    ConnectionFlags connection;
    std::vector<std::string> statements;
    bool rows = false;
    bool time = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* command = app.add_subcommand("sql", "Run SQL statements (each argument is one)");
  add_connection_flags(command, flags->connection);
  command->add_option("statements", flags->statements, "Statements")->required();
  command->add_flag("--rows", flags->rows, "Print the rows of each statement as JSON lines");
  command->add_flag("--time", flags->time, "Print each statement's elapsed milliseconds to stderr");
  command->callback([flags] {
    auto factory = open_connection(flags->connection);
    if (!factory.ok()) fail(factory.error());
    auto client = factory.value()->connect();
    if (!client.ok()) fail(client.error());
    for (const auto& statement : flags->statements) {
      const auto started = std::chrono::steady_clock::now();
      if (flags->rows) {
        auto rows = client.value()->query_json_rows(statement);
        if (!rows.ok()) fail(rows.error());
        for (const auto& row : rows.value()) fmt::print("{}\n", row);
      } else {
        auto status = client.value()->execute(statement);
        if (!status.ok()) fail(status.error());
      }
      if (flags->time) {
        fmt::print(stderr, "{:.1f} ms\n",
                   std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                             started)
                       .count());
      }
    }
  });
}

}  // namespace tp::cli
