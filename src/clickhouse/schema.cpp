#include "clickhouse/schema.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/resources.h"

namespace tp::clickhouse {
namespace {

constexpr std::string_view kMigrationsDir = "sql/migrations/";
// A migration that adds what the match step maintains says so on a line of its own.
const std::regex kRematch(R"((^|\n)-- @rematch\s*(\n|$))");

// Tables with a TTL, for apply_ttl: name -> TTL expression without the interval.
const std::vector<std::pair<std::string, std::string>> kTtlTables = {
    {"events", "toDateTime(ts)"},   {"order_items", "toDateTime(ts)"},
    {"seatings", "toDateTime(ts)"}, {"order_stages", "toDateTime(ts)"},
    {"restaurant_names", "hour"},   {"event_matches", "toDateTime(ts)"},
};

// Splits a script into statements on ';' at the end of a line; keeps "-- @" directives.
std::vector<std::string> split_statements(const std::string& script) {
  std::vector<std::string> out;
  std::string current;
  size_t start = 0;
  while (start < script.size()) {
    size_t end = script.find('\n', start);
    if (end == std::string::npos) end = script.size();
    std::string line = script.substr(start, end - start);
    start = end + 1;
    std::string trimmed = line;
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) {
      trimmed.pop_back();
    }
    if (trimmed.rfind("-- @", 0) == 0) {
      out.push_back(trimmed);
      continue;
    }
    if (trimmed.rfind("--", 0) == 0 && current.empty()) continue;
    current += line + "\n";
    if (!trimmed.empty() && trimmed.back() == ';') {
      current.erase(current.find_last_of(';'));
      out.push_back(current);
      current.clear();
    }
  }
  if (current.find_first_not_of(" \n\t") != std::string::npos) out.push_back(current);
  return out;
}

}  // namespace

namespace {

// Whether `c` continues a word (a name, keyword or number): the space between two of them is
// kept, any other space is layout.
bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// One statement without comments and layout (see statements_text).
std::string strip_statement(const std::string& sql) {
  std::string out;
  bool space = false;  // layout or a comment since the last token
  for (size_t at = 0; at < sql.size();) {
    const char c = sql[at];
    if (c == '-' && at + 1 < sql.size() && sql[at + 1] == '-') {
      at = sql.find('\n', at);
      if (at == std::string::npos) at = sql.size();
      space = true;
      continue;
    }
    if (c == '/' && at + 1 < sql.size() && sql[at + 1] == '*') {
      size_t end = sql.find("*/", at + 2);
      at = end == std::string::npos ? sql.size() : end + 2;
      space = true;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++at;
      space = true;
      continue;
    }
    size_t end = at + 1;
    if (c == '\'' || c == '"' || c == '`') {  // a literal or quoted name, as written
      while (end < sql.size()) {
        if (sql[end] == '\\') {
          end += 2;
        } else if (sql[end] == c) {
          if (end + 1 < sql.size() && sql[end + 1] == c) {
            end += 2;  // '' inside '...'
          } else {
            ++end;
            break;
          }
        } else {
          ++end;
        }
      }
      end = std::min(end, sql.size());
    }
    if (space && !out.empty() && word_char(out.back()) && word_char(c)) out += ' ';
    space = false;
    out.append(sql, at, end - at);
    at = end;
  }
  return out;
}

// FNV-1a, 64 bits: defined by its text, so a statements checksum is the same for every
// compiler and standard library (std::hash, of the raw checksums, is libstdc++'s).
std::string fnv1a_hex(std::string_view text) {
  uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", hash);
}

}  // namespace

std::string statements_text(const std::string& text) {
  std::string out;
  for (const auto& piece : split_statements(text)) {
    if (piece.rfind("-- @", 0) == 0) {
      if (piece != "-- @rematch") out += piece + "\n";
      continue;
    }
    std::string statement = strip_statement(piece);
    if (!statement.empty()) out += statement + ";\n";
  }
  return out;
}

Migration make_migration(const std::string& name, std::string text) {
  Migration migration;
  migration.name = name;
  migration.version = std::stoi(name.substr(0, name.find('_')));
  migration.text = std::move(text);
  migration.checksum = fmt::format("{:016x}", std::hash<std::string>{}(migration.text));
  migration.statements_checksum = fnv1a_hex(statements_text(migration.text));
  migration.rematch = std::regex_search(migration.text, kRematch);
  return migration;
}

const std::vector<EarlierChecksum>& comment_edited_checksums() {
  static const std::vector<EarlierChecksum> kEarlier = {
      {4, "2ef604b2a7600977"},  // 0004 before 2c49f3d added -- @rematch and its comment line
      {5, "726a62c42624655a"},  // 0005 before ce9cec2 restated the figures in its comment
  };
  return kEarlier;
}

std::vector<Migration> all_migrations() {
  std::vector<Migration> out;
  for (const auto& [path, text] : all_resources()) {
    if (path.rfind(kMigrationsDir, 0) != 0) continue;
    std::string file = path.substr(kMigrationsDir.size());
    out.push_back(make_migration(file.substr(0, file.rfind('.')), std::string(text)));
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  return out;
}

std::vector<Statement> render_migration(const Migration& migration,
                                          const SchemaOptions& options) {
  const bool cluster = !options.cluster.empty();
  std::string text = replace_all(migration.text, "{{ttl_days}}", std::to_string(options.ttl_days));
  text = replace_all(text, "{{on_cluster}}", cluster ? "ON CLUSTER " + options.cluster : "");
  static const std::regex kLocal(R"(\{\{local:(\w+)\}\})");
  text = std::regex_replace(text, kLocal, cluster ? "$1_local" : "$1");
  // {{engine:table:Engine(args)}} -> Engine(args), or its Replicated form on a cluster.
  static const std::regex kEngine(R"(\{\{engine:(\w+):(\w+)(?:\(([^)]*)\))?\}\})");
  std::string rendered;
  auto begin = std::sregex_iterator(text.begin(), text.end(), kEngine);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const auto& match = *it;
    rendered += text.substr(last, static_cast<size_t>(match.position()) - last);
    std::string table = match[1], engine = match[2], args = match[3];
    if (cluster) {
      std::string replicated_args =
          fmt::format("'/clickhouse/tables/{{shard}}/{{database}}/{}_local', '{{replica}}'", table);
      if (!args.empty()) replicated_args += ", " + args;
      rendered += fmt::format("Replicated{}({})", engine, replicated_args);
    } else {
      rendered += args.empty() && !match[3].matched ? engine + "()" : engine + "(" + args + ")";
    }
    last = static_cast<size_t>(match.position() + match.length());
  }
  rendered += text.substr(last);

  std::vector<Statement> statements;
  std::optional<ColumnCondition> pending_when;  // applies to the next statement emitted
  auto emit = [&](std::string sql) {
    statements.push_back(Statement{std::move(sql), std::move(pending_when)});
    pending_when.reset();
  };
  static const std::regex kDistributed(R"(-- @distributed (\w+) BY (.+))");
  static const std::regex kDropDistributed(R"(-- @drop-distributed (\w+))");
  static const std::regex kWhen(R"(-- @when (\w+)\.(\w+) (.+))");
  for (auto& statement : split_statements(rendered)) {
    std::smatch match;
    if (statement == "-- @rematch") {
      continue;  // read by all_migrations(), not a statement
    } else if (std::regex_match(statement, match, kWhen)) {
      pending_when = ColumnCondition{match[1].str(), match[2].str(), match[3].str()};
    } else if (std::regex_match(statement, match, kDistributed)) {
      if (cluster) {
        emit(fmt::format(
            "CREATE TABLE IF NOT EXISTS {0} ON CLUSTER {1} AS {0}_local\n"
            "ENGINE = Distributed({1}, currentDatabase(), {0}_local, {2})",
            match[1].str(), options.cluster, match[2].str()));
      }
    } else if (std::regex_match(statement, match, kDropDistributed)) {
      // On one node the table of that name is the local one, already dropped.
      if (cluster) {
        emit(fmt::format("DROP TABLE IF EXISTS {} ON CLUSTER {} SYNC", match[1].str(),
                         options.cluster));
      }
    } else {
      emit(statement);
    }
  }
  return statements;
}

std::string Statement::describe() const {
  if (!when) return sql;
  return fmt::format("-- only while {}.{} is {}\n{}", when->table, when->column, when->type, sql);
}

namespace {

// Whether `condition` holds now (the column exists with that type).
Result<bool> holds(Client& client, const ColumnCondition& condition) {
  auto rows = client.query_json_rows(
      "SELECT type FROM system.columns WHERE database = currentDatabase() "
      "AND table = {table:String} AND name = {column:String}",
      {{"table", condition.table}, {"column", condition.column}});
  if (!rows.ok()) return rows.error();
  for (const auto& row : rows.value()) {
    if (nlohmann::json::parse(row)["type"] == condition.type) return true;
  }
  return false;
}

}  // namespace

Result<std::optional<int>> current_ttl_days(Client& client) {
  auto rows = client.query_json_rows(
      "SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
      "AND name IN ('events', 'events_local') ORDER BY name LIMIT 1");
  if (!rows.ok()) return rows.error();
  if (rows->empty()) return std::optional<int>();
  static const std::regex kTtl(R"(toIntervalDay\((\d+)\))");
  std::smatch match;
  std::string engine = nlohmann::json::parse(rows->front())["engine_full"].get<std::string>();
  if (!std::regex_search(engine, match, kTtl)) return std::optional<int>();
  return std::optional<int>(std::stoi(match[1].str()));
}

namespace {

// What schema_migrations holds for one applied migration.
struct AppliedMigration {
  std::string checksum;             // of the file as it was applied
  std::string statements_checksum;  // empty: recorded by a version that did not keep it
};

// Whether `checksum` is what a database migrated by an earlier version holds for `migration`,
// a file that was edited in comments only since.
bool comment_edited_since(const Migration& migration, const std::string& checksum) {
  const auto& earlier = comment_edited_checksums();
  return std::any_of(earlier.begin(), earlier.end(), [&](const EarlierChecksum& known) {
    return known.version == migration.version && known.checksum == checksum;
  });
}

// Refuses an applied migration whose file now holds other statements than it did, and records
// the statements checksum of a row written before versions kept it (DESIGN §3).
Status verify_applied(Client& client, const std::vector<Migration>& migrations,
                      const std::map<int, AppliedMigration>& applied) {
  for (const auto& migration : migrations) {
    auto it = applied.find(migration.version);
    if (it == applied.end()) continue;
    const AppliedMigration& recorded = it->second;
    if (!recorded.statements_checksum.empty()) {
      if (recorded.statements_checksum == migration.statements_checksum) continue;
      return make_error(
          ErrorCode::kMigrationMismatch,
          "sql/migrations/{}.sql holds other statements than this database applied (statements "
          "checksum {} recorded, {} now): an applied migration must not change; restore the "
          "file and put the change in a new migration",
          migration.name, recorded.statements_checksum, migration.statements_checksum);
    }
    // Recorded before statements were checksummed: the raw checksum says which file ran.
    if (recorded.checksum != migration.checksum &&
        !comment_edited_since(migration, recorded.checksum)) {
      spdlog::warn(
          "migration {}: this database recorded it before statement checksums were kept, from a "
          "file that differs from today's (checksum {}, now {}), so it cannot be verified; its "
          "statements are recorded as they are now, and a later change will be refused",
          migration.name, recorded.checksum, migration.checksum);
    }
    // The same row with the statements checksum (ReplacingMergeTree: the later insert of an
    // equal applied_at replaces it).
    TP_RETURN_IF_ERROR(client.execute(
        "INSERT INTO schema_migrations (version, name, checksum, statements_checksum, applied_at) "
        "SELECT version, name, checksum, {statements:String}, applied_at "
        "FROM schema_migrations FINAL WHERE version = {version:UInt32}",
        {{"statements", migration.statements_checksum},
         {"version", std::to_string(migration.version)}}));
  }
  return {};
}

}  // namespace

Result<MigrateReport> migrate(Client& client, const SchemaOptions& options,
                              std::optional<int> up_to_version) {
  return migrate(client, options, all_migrations(), up_to_version);
}

Result<MigrateReport> migrate(Client& client, const SchemaOptions& options,
                              const std::vector<Migration>& migrations,
                              std::optional<int> up_to_version) {
  TP_RETURN_IF_ERROR(check_ttl_days(options.ttl_days));
  // The runner's own table; statements_checksum came later, so a database of an earlier
  // version gets it here, empty in its rows until verify_applied fills them.
  TP_RETURN_IF_ERROR(client.execute(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, checksum String, "
      "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree(applied_at) "
      "ORDER BY version"));
  TP_RETURN_IF_ERROR(client.execute(
      "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS statements_checksum String "
      "DEFAULT '' AFTER checksum"));
  auto rows = client.query_json_rows(
      "SELECT version, checksum, statements_checksum FROM schema_migrations FINAL");
  if (!rows.ok()) return rows.error();
  std::map<int, AppliedMigration> applied;
  for (const auto& row : rows.value()) {
    auto json = nlohmann::json::parse(row);
    applied[json["version"].get<int>()] = {json["checksum"].get<std::string>(),
                                           json["statements_checksum"].get<std::string>()};
  }
  TP_RETURN_IF_ERROR(verify_applied(client, migrations, applied));
  MigrateReport report;
  const bool had_events = applied.count(1) != 0;  // 0001 ran before: events may be stored
  // A table a migration rebuilds keeps the retention the database was given.
  SchemaOptions effective = options;
  auto ttl = current_ttl_days(client);
  if (!ttl.ok()) return ttl.error();
  if (ttl.value()) effective.ttl_days = *ttl.value();
  for (const auto& migration : migrations) {
    if (up_to_version && migration.version > *up_to_version) break;
    if (auto it = applied.find(migration.version); it != applied.end()) {
      report.already.push_back(migration.name);
      continue;
    }
    for (const auto& statement : render_migration(migration, effective)) {
      if (statement.when) {
        auto run = holds(client, *statement.when);
        if (!run.ok()) return run.error();
        if (!run.value()) continue;
      }
      auto status = client.execute(statement.sql);
      if (!status.ok()) {
        Error error = status.error();
        error.message = fmt::format("migration {}: {}", migration.name, error.message);
        return error;
      }
    }
    TP_RETURN_IF_ERROR(client.execute(
        "INSERT INTO schema_migrations (version, name, checksum, statements_checksum) "
        "SELECT {version:UInt32}, {name:String}, {checksum:String}, {statements:String}",
        {{"version", std::to_string(migration.version)},
         {"name", migration.name},
         {"checksum", migration.checksum},
         {"statements", migration.statements_checksum}}));
    report.applied.push_back(migration.name);
    report.rematch_needed |= migration.rematch && had_events;
  }
  return report;
}

Status check_ttl_days(int ttl_days) {
  if (ttl_days < 1 || ttl_days > kMaxTtlDays) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--ttl-days {}: the retention must be 1..{} days (the TTL adds it to event "
                      "times up to 2100, and DateTime ends in 2106)",
                      ttl_days, kMaxTtlDays);
  }
  return {};
}

bool expired_by_ttl(int64_t ts_ms, int ttl_days, int64_t now_ms) {
  return ts_ms / 1000 + ttl_days * kSecondsPerDay <= now_ms / 1000;
}

Status apply_ttl(Client& client, int ttl_days) {
  TP_RETURN_IF_ERROR(check_ttl_days(ttl_days));
  for (const auto& [table, expression] : kTtlTables) {
    TP_RETURN_IF_ERROR(client.execute(fmt::format(
        "ALTER TABLE {} MODIFY TTL {} + INTERVAL {} DAY DELETE", table, expression, ttl_days)));
  }
  return {};
}

Result<std::vector<std::string>> list_tables(Client& client) {
  auto rows = client.query_json_rows(
      "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name");
  if (!rows.ok()) return rows.error();
  std::vector<std::string> names;
  for (const auto& row : rows.value()) names.push_back(nlohmann::json::parse(row)["name"]);
  return names;
}

}  // namespace tp::clickhouse
