#pragma once
// The subcommands of `tablepulse`; each adds itself to the app and runs from its callback.
// A failing command throws CLI::RuntimeError(exit status) after printing its error.
#include <CLI/CLI.hpp>

#include <atomic>

#include "clickhouse/retry.h"
#include "clickhouse/schema.h"

namespace tp::cli {

void add_migrate_command(CLI::App& app);   // apply schema migrations
void add_schema_command(CLI::App& app);    // print the DDL (single node or cluster)
void add_generate_command(CLI::App& app);  // the mock event stream
void add_ingest_command(CLI::App& app);    // the consumer
void add_query_command(CLI::App& app);     // dashboard metrics on the command line
void add_serve_command(CLI::App& app);     // consumer + API + live page in one process
void add_sql_command(CLI::App& app);       // run SQL (operators, benchmarks)
void add_rematch_command(CLI::App& app);   // rebuild the stored matches from stored events

// Applies the migrations; when one adds the match table to a database that already holds
// events, fills it from them (progress on stderr). Every command that migrates uses this.
Result<clickhouse::MigrateReport> migrate_and_backfill(
    clickhouse::Client& client, const clickhouse::SchemaOptions& options,
    std::optional<int> up_to_version = std::nullopt);

// migrate_and_backfill at the start of a command that then consumes (ingest, serve): while the
// database is unavailable it waits and tries again under `retry` (the command's --retry-for),
// as the consumer does, until the policy gives up or `*stop` is set; other failures end it.
Result<clickhouse::MigrateReport> migrate_at_start(clickhouse::ClientFactory& factory,
                                                   const clickhouse::RetryPolicy& retry,
                                                   const std::atomic<bool>* stop = nullptr);

}  // namespace tp::cli
