// `tablepulse migrate`, `tablepulse schema` and `tablepulse rematch`.
#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "cli/commands.h"
#include "cli/connection.h"
#include "clickhouse/schema.h"
#include "common/time.h"
#include "ingest/matcher.h"

namespace tp::cli {
namespace {

constexpr uint64_t kDefaultChunkEvents = 2'000'000;  // per rematch statement pair: a few seconds
// The --ttl-days help of migrate and schema (the bound: clickhouse::kMaxTtlDays).
const std::string kTtlDaysHelp = fmt::format(
    "Retention of events, in days: 1..{} (the TTL adds it to event times, which reach 2100, and "
    "ClickHouse's DateTime ends in 2106: a longer one would wrap and delete every row)",
    clickhouse::kMaxTtlDays);

// Rebuilds the matches with a progress line on stderr; returns how many events were covered.
Result<uint64_t> rematch_with_progress(clickhouse::Client& client, std::optional<int64_t> from_ms,
                                       std::optional<int64_t> to_ms, uint64_t chunk_events) {
  uint64_t events = 0;
  Status status = ingest::rematch(
      client, from_ms, to_ms, chunk_events, [&events](const ingest::RematchProgress& progress) {
        events = progress.events_done;
        fmt::print(stderr, "matches: {} of {} events, up to {}\n", progress.events_done,
                   progress.events_total, format_iso_ms(progress.reached_ms));
      });
  if (!status.ok()) return status.error();
  return events;
}

}  // namespace

Result<clickhouse::MigrateReport> migrate_and_backfill(clickhouse::Client& client,
                                                       const clickhouse::SchemaOptions& options,
                                                       std::optional<int> up_to_version) {
  auto report = clickhouse::migrate(client, options, up_to_version);
  if (!report.ok()) return report;
  if (report->rematch_needed) {
    auto rematched = rematch_with_progress(client, std::nullopt, std::nullopt, kDefaultChunkEvents);
    if (!rematched.ok()) return rematched.error();
  }
  return report;
}

Result<clickhouse::MigrateReport> migrate_at_start(clickhouse::ClientFactory& factory,
                                                   const clickhouse::RetryPolicy& retry,
                                                   const std::atomic<bool>* stop) {
  std::optional<clickhouse::MigrateReport> report;
  // Each attempt is the whole of migrate_and_backfill, which is safe to repeat (schema.h).
  Status status = clickhouse::retry(
      retry,
      [&]() -> Status {
        auto client = factory.connect();
        if (!client.ok()) return client.error();
        auto migrated = migrate_and_backfill(*client.value(), {});
        if (!migrated.ok()) return migrated.error();
        report = std::move(migrated.value());
        return {};
      },
      stop,
      [](const clickhouse::RetryNotice& notice) {
        if (!notice.will_retry) return;
        spdlog::warn("migrating at start: {} (attempt {}, failing for {:.1f} s; next in {} ms)",
                     notice.error.to_string(), notice.attempt, notice.failing_for_ms / 1000.0,
                     notice.wait_ms);
      });
  if (!status.ok()) return status.error();
  return std::move(*report);
}

void add_migrate_command(CLI::App& app) {
  struct Flags {
    ConnectionFlags connection;
    clickhouse::SchemaOptions schema;
    bool ttl_given = false;
    bool list = false;
    std::optional<int> to_version;
  };
  auto flags = std::make_shared<Flags>();
  auto* command = app.add_subcommand("migrate", "Apply the schema migrations (idempotent)");
  add_connection_flags(command, flags->connection);
  add_allow_broken_parts_flag(command, flags->connection);
  command->add_option("--ttl-days", flags->schema.ttl_days, kTtlDaysHelp)
      ->capture_default_str()
      ->each([flags](const std::string&) { flags->ttl_given = true; });
  command->add_flag("--list-tables", flags->list, "Print the tables after migrating");
  command->add_option("--to-version", flags->to_version,
                      "Stop after this migration (stage or test an upgrade step by step)")
      ->check(CLI::PositiveNumber);
  command->callback([flags] {
    if (auto valid = clickhouse::check_ttl_days(flags->schema.ttl_days); !valid.ok()) {
      fail(valid.error());
    }
    auto factory = open_connection(flags->connection);
    if (!factory.ok()) fail(factory.error());
    if (auto broken = check_broken_parts(*factory.value(), flags->connection); !broken.ok()) {
      fail(broken.error());
    }
    auto client = factory.value()->connect();
    if (!client.ok()) fail(client.error());
    auto report = migrate_and_backfill(*client.value(), flags->schema, flags->to_version);
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
  command->add_option("--ttl-days", options->ttl_days, kTtlDaysHelp)->capture_default_str();
  command->callback([options] {
    if (auto valid = clickhouse::check_ttl_days(options->ttl_days); !valid.ok()) {
      fail(valid.error());
    }
    for (const auto& migration : clickhouse::all_migrations()) {
      fmt::print("-- {}\n", migration.name);
      for (const auto& statement : clickhouse::render_migration(migration, *options)) {
        fmt::print("{};\n\n", statement.describe());
      }
    }
  });
}

void add_rematch_command(CLI::App& app) {
  struct Flags {
    ConnectionFlags connection;
    std::string from, to;
    uint64_t chunk_events = kDefaultChunkEvents;
  };
  auto flags = std::make_shared<Flags>();
  auto* command = app.add_subcommand(
      "rematch",
      "Rebuild the matches wait-times and turnover read, from the stored events (for events "
      "inserted without `tablepulse ingest`)");
  add_connection_flags(command, flags->connection);
  add_allow_broken_parts_flag(command, flags->connection);
  command->add_option("--from", flags->from, "First event time (RFC 3339); default: all history");
  command->add_option("--to", flags->to, "Last event time (RFC 3339); default: all history");
  command->add_option("--chunk-events", flags->chunk_events, "Events per step (whole hours)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  command->callback([flags] {
    auto instant = [](const std::string& text, const char* flag) -> std::optional<int64_t> {
      if (text.empty()) return std::nullopt;
      auto ms = parse_rfc3339_ms(text);
      if (!ms)
        fail(
            make_error(ErrorCode::kInvalidArgument, "{}: not an RFC 3339 instant: {}", flag, text));
      return ms;
    };
    auto from_ms = instant(flags->from, "--from");
    auto to_ms = instant(flags->to, "--to");
    auto factory = open_connection(flags->connection);
    if (!factory.ok()) fail(factory.error());
    if (auto broken = check_broken_parts(*factory.value(), flags->connection); !broken.ok()) {
      fail(broken.error());
    }
    auto client = factory.value()->connect();
    if (!client.ok()) fail(client.error());
    auto report = clickhouse::migrate(*client.value(), {});
    if (!report.ok()) fail(report.error());
    // A database that just got the match table needs all of its history matched, once.
    const bool everything = report->rematch_needed;
    auto events = rematch_with_progress(*client.value(), everything ? std::nullopt : from_ms,
                                        everything ? std::nullopt : to_ms, flags->chunk_events);
    if (!events.ok()) fail(events.error());
    fmt::print("rebuilt the matches of {} events\n", events.value());
  });
}

}  // namespace tp::cli
