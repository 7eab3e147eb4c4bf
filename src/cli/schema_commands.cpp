// `tablepulse migrate` and `tablepulse schema`.
#include <fmt/core.h>

#include "cli/commands.h"
#include "cli/connection.h"
#include "clickhouse/schema.h"

namespace tp::cli {

void add_migrate_command(CLI::App& app) {
  struct Flags {
    ConnectionFlags connection;
    clickhouse::SchemaOptions schema;
    bool ttl_given = false;
    bool list = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* command = app.add_subcommand("migrate", "Apply the schema migrations (idempotent)");
  add_connection_flags(command, flags->connection);
  command->add_option("--ttl-days", flags->schema.ttl_days, "Retention of events, in days")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000))
      ->each([flags](const std::string&) { flags->ttl_given = true; });
  command->add_flag("--list-tables", flags->list, "Print the tables after migrating");
  command->callback([flags] {
    auto factory = open_connection(flags->connection);
    if (!factory.ok()) fail(factory.error());
    auto client = factory.value()->connect();
    if (!client.ok()) fail(client.error());
    auto report = clickhouse::migrate(*client.value(), flags->schema);
    if (!report.ok()) fail(report.error());
    for (const auto& name : report->applied) fmt::print("applied {}\n", name);
    if (report->applied.empty()) {
      fmt::print("schema up to date ({} migrations)\n", report->already.size());
    }
    if (flags->ttl_given) {
      auto status = clickhouse::apply_ttl(*client.value(), flags->schema.ttl_days);
      if (!status.ok()) fail(status.error());
      fmt::print("retention set to {} days\n", flags->schema.ttl_days);
    }
    if (flags->list) {
      auto tables = clickhouse::list_tables(*client.value());
      if (!tables.ok()) fail(tables.error());
      fmt::print("tables in {}:\n", factory.value()->describe());
      for (const auto& table : tables.value()) fmt::print("  {}\n", table);
    }
  });
}

void add_schema_command(CLI::App& app) {
  auto options = std::make_shared<clickhouse::SchemaOptions>();
  auto* command = app.add_subcommand("schema", "Print the DDL the migrations apply");
  command->add_option("--cluster", options->cluster,
                      "Print the replicated + distributed variant for this ClickHouse cluster");
  command->add_option("--ttl-days", options->ttl_days, "Retention of events, in days")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  command->callback([options] {
    for (const auto& migration : clickhouse::all_migrations()) {
      fmt::print("-- {}\n", migration.name);
      for (const auto& statement : clickhouse::render_migration(migration, *options)) {
        fmt::print("{};\n\n", statement);
      }
    }
  });
}

}  // namespace tp::cli
