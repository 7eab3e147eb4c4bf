// tablepulse: real-time analytics for restaurant operations on ClickHouse. One binary, one
// subcommand per job; the work lives in src/<stage>/.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"TablePulse: real-time restaurant operations analytics on ClickHouse"};
  app.set_version_flag("--version", TABLEPULSE_VERSION);
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log debug details to stderr");
  app.parse_complete_callback([&] {
    spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  });
  // Logs go to stderr: stdout carries results (JSON, tables) that scripts read.
  spdlog::set_default_logger(spdlog::stderr_color_mt("tablepulse"));
  spdlog::set_pattern("[%H:%M:%S.%e] %^%l%$ %v");
  tp::cli::add_migrate_command(app);
  tp::cli::add_schema_command(app);
  tp::cli::add_generate_command(app);
  tp::cli::add_ingest_command(app);
  tp::cli::add_query_command(app);
  tp::cli::add_serve_command(app);
  tp::cli::add_sql_command(app);
  tp::cli::add_rematch_command(app);
  int status = 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    status = app.exit(e);
  }
  // The embedded engine cannot be shut down and keeps worker threads; running static
  // destructors under them crashed once in ~600 runs. Flush what we printed and leave.
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(status);
}
