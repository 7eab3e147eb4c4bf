#pragma once
// Versioned schema files (sql/migrations/NNNN_name.sql, compiled in) and the runner that
// applies them once each, recording what ran in the schema_migrations table.
#include <optional>
#include <string>
#include <vector>

#include "clickhouse/client.h"
#include "decode/event.h"

namespace tp::clickhouse {

// DateTime's last second, 2106-02-07 06:28:15 UTC (it is a UInt32 of seconds). A TTL
// `toDateTime(ts) + INTERVAL N DAY` that passes it wraps to 1970, and the row expires at once.
inline constexpr int64_t kMaxDateTimeSeconds = 4294967295LL;
inline constexpr int64_t kSecondsPerDay = 86400;
// The longest retention whose TTL cannot wrap for any event time the decoder accepts (before
// 2100-01-01): 2228 days. ClickHouse allows only Date or DateTime TTL expressions (DateTime64,
// which reaches 2299, is not one), so the bound is on the days, not on the expression.
inline constexpr int kMaxTtlDays =
    static_cast<int>((kMaxDateTimeSeconds - (kMaxEventTsMs / 1000 - 1)) / kSecondsPerDay);

// Refuses a retention outside 1 .. kMaxTtlDays (invalid_argument).
Status check_ttl_days(int ttl_days);

// Whether the tables' TTL `toDateTime(ts) + INTERVAL ttl_days DAY` has expired an event of time
// ts_ms at now_ms: ClickHouse deletes a row once that value (ts cut to whole seconds) is at or
// before the current second, so this is the same test, to the second.
bool expired_by_ttl(int64_t ts_ms, int ttl_days, int64_t now_ms);

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
  std::string checksum;  // of the template's bytes, recorded as applied (what it was, exactly)
  std::string statements_checksum;  // of statements_text(text): what migrate() verifies, so
                                    // comment and whitespace edits pass and others are refused
  bool rematch = false;  // "-- @rematch": applied to a database that has events, the matches
                         // must then be computed from what is stored (ingest::rematch)
};

// A migration of file name `name` (without extension) holding `text`, checksums computed.
Migration make_migration(const std::string& name, std::string text);

// All migrations, in version order.
std::vector<Migration> all_migrations();

// A migration file's statements without comments and layout: one line per statement, each
// space run between two words kept as one space and every other one dropped (string literals
// and quoted names as written). The directives the runner obeys (-- @when, -- @distributed,
// -- @drop-distributed) are kept; -- @rematch is not: it says what follows applying, done once.
std::string statements_text(const std::string& text);

// Raw checksums that databases migrated by earlier versions hold for files edited since in
// comments only (the texts of those versions are kept in tests/migrations/ and checked).
struct EarlierChecksum {
  int version = 0;
  std::string checksum;
};
const std::vector<EarlierChecksum>& comment_edited_checksums();

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
// First it verifies the applied ones: one whose statements differ from those recorded is
// refused (migration_mismatch, naming the file) before anything runs (docs/DESIGN.md §3).
Result<MigrateReport> migrate(Client& client, const SchemaOptions& options,
                              std::optional<int> up_to_version = std::nullopt);

// migrate() with these migrations instead of all_migrations() (tests edit their texts).
Result<MigrateReport> migrate(Client& client, const SchemaOptions& options,
                              const std::vector<Migration>& migrations,
                              std::optional<int> up_to_version = std::nullopt);

// Sets the retention of every table with a TTL to `ttl_days` (ALTER ... MODIFY TTL); refuses
// a value check_ttl_days refuses.
Status apply_ttl(Client& client, int ttl_days);

// The retention in days of the events table, if it exists and has one.
Result<std::optional<int>> current_ttl_days(Client& client);

// Names of the tables in the current database, sorted.
Result<std::vector<std::string>> list_tables(Client& client);

}  // namespace tp::clickhouse
