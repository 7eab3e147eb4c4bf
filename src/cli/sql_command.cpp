// `tablepulse sql`: runs SQL against the configured ClickHouse (an operator's escape hatch and
// what the benchmarks use to time the engine on its own).
#include <fmt/core.h>

#include <cctype>
#include <chrono>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "cli/connection.h"

namespace tp::cli {
namespace {

// Whether `statement` is a query whose rows are printed without --rows (SELECT, WITH … SELECT,
// EXPLAIN: what both backends can wrap to return JSON rows). Others (DDL, INSERT, SET …) run
// on the path that discards output.
bool returns_rows(std::string_view statement) {
  size_t at = 0;
  while (at < statement.size()) {  // skip blanks and -- comments before the first word
    if (std::isspace(static_cast<unsigned char>(statement[at]))) {
      ++at;
    } else if (statement.substr(at, 2) == "--") {
      at = statement.find('\n', at);
      if (at == std::string_view::npos) return false;
    } else {
      break;
    }
  }
  std::string word;
  while (at < statement.size() && std::isalpha(static_cast<unsigned char>(statement[at]))) {
    word.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(statement[at++]))));
  }
  return word == "SELECT" || word == "WITH" || word == "EXPLAIN";
}

}  // namespace

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
  command->add_flag("--rows", flags->rows,
                    "Print each statement's rows as JSON lines (the default for SELECT, WITH and "
                    "EXPLAIN)");
  command->add_flag("--time", flags->time, "Print each statement's elapsed milliseconds to stderr");
  command->callback([flags] {
    auto factory = open_connection(flags->connection);
    if (!factory.ok()) fail(factory.error());
    auto client = factory.value()->connect();
    if (!client.ok()) fail(client.error());
    for (const auto& statement : flags->statements) {
      const auto started = std::chrono::steady_clock::now();
      if (flags->rows || returns_rows(statement)) {
        auto rows = client.value()->query_json_rows(statement);
        if (!rows.ok()) fail(rows.error());
        for (const auto& row : rows.value()) fmt::print("{}\n", row);
      } else {
        auto status = client.value()->execute(statement);
        if (!status.ok()) fail(status.error());
      }
      if (flags->time) {
        fmt::print(
            stderr, "{:.1f} ms\n",
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                .count());
      }
    }
  });
}

}  // namespace tp::cli
