#pragma once
// Versioned schema files (sql/migrations/NNNN_name.sql, compiled in) and the runner that
// applies them once each, recording what ran in the schema_migrations table.
#include <optional>
#include <string>
#include <vector>

#include "clickhouse/client.h"

namespace tp::clickhouse {

// How the DDL is rendered.
struct SchemaOptions {
  int ttl_days = 400;   // retention of events and derived tables, by event time
  std::string cluster;  // non-empty: Replicated* local tables + Distributed tables ON CLUSTER
};

// One schema file.
struct Migration {
  int version = 0;
  std::string name;      // file name without extension, e.g. "0001_events"
  std::string text;      // the template
  std::string checksum;  // of the template, to notice an applied file that was edited
  bool rematch = false;  // "-- @rematch": applied to a database that has events, the matches
                         // must then be computed from what is stored (ingest::rematch)
};

// All migrations, in version order.
std::vector<Migration> all_migrations();

// A guard on a statement (`-- @when TABLE.COLUMN TYPE` before it): the statement runs only
// while that column has that type, so a rebuild interrupted half-way resumes where it was.
struct ColumnCondition {
  std::string table;
  std::string column;
  std::string type;
};

// One rendered statement of a migration.
struct Statement {
  std::string sql;
  std::optional<ColumnCondition> when;  // run only if this holds; unset: always

  // The statement as `tablepulse schema` prints it (its guard as a comment).
  std::string describe() const;
};

// The statements of a migration rendered for `options` (single node or cluster).
std::vector<Statement> render_migration(const Migration& migration, const SchemaOptions& options);

// What `migrate` did.
struct MigrateReport {
  std::vector<std::string> applied;  // names newly applied
  std::vector<std::string> already;  // names found already applied
  bool rematch_needed = false;       // a "-- @rematch" migration ran on a database with events
};

// Applies pending migrations in order; safe to run any number of times, and to re-run after a
// failure half-way (statements are IF [NOT] EXISTS or guarded by a ColumnCondition). Tables
// rebuilt by a migration keep the retention the database has (not options.ttl_days).
// `up_to_version` stops after that migration (an upgrade staged or tested step by step).
Result<MigrateReport> migrate(Client& client, const SchemaOptions& options,
                              std::optional<int> up_to_version = std::nullopt);

// Sets the retention of every table with a TTL to `ttl_days` (ALTER ... MODIFY TTL).
Status apply_ttl(Client& client, int ttl_days);

// Names of the tables in the current database, sorted.
Result<std::vector<std::string>> list_tables(Client& client);

}  // namespace tp::clickhouse
