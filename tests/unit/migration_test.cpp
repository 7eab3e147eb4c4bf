// Verifying applied migrations against their files (checksums of their statements), and
// upgrading a database written by the previous version (UUID event ids, `unit_price`): the
// last test builds one itself, with the old column types, from what the current binary stores for
// the same events, then runs `tablepulse migrate` and compares every table and every metric
// with a database the current binary filled directly.
#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>
#include <sstream>

#include "clickhouse/schema.h"
#include "test_support.h"

namespace tp {
namespace {

using nlohmann::json;

// Runs `tablepulse ARGS`; fails the test on a non-zero exit.
std::string tablepulse(const std::string& args) {
  auto result = test::run_command(test::tablepulse_binary() + " " + args + " 2>&1");
  EXPECT_EQ(result.status, 0) << args << "\n" << result.out;
  return result.out;
}

// `tablepulse sql --rows` of one statement on `db`, as JSON rows.
std::vector<json> rows(const std::string& db, const std::string& sql) {
  std::vector<json> out;
  std::istringstream lines(tablepulse(fmt::format("sql --rows --db {} \"{}\"", db, sql)));
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] == '{') out.push_back(json::parse(line));
  }
  return out;
}

// Numbers that any lost, doubled or altered row (or match) would change.
json fingerprint(const std::string& db) {
  return json{
      {"events", rows(db, "SELECT count() AS n, sum(cityHash64(event_id, content_hash, "
                          "toString(items))) AS h, sum(total_amount) AS money FROM events FINAL")},
      {"order_items", rows(db, "SELECT count() AS n, sum(cityHash64(event_id, line_no, item_id, "
                               "price)) AS h FROM order_items FINAL")},
      {"seatings", rows(db, "SELECT count() AS n, sum(cityHash64(event_id, ts)) AS h "
                            "FROM seatings FINAL")},
      {"order_stages", rows(db, "SELECT count() AS n, sum(cityHash64(event_id, order_id)) AS h "
                                "FROM order_stages FINAL")},
      {"matches", rows(db, "SELECT count() AS n, sum(cityHash64(event_id, seat_ts, placed_ts, "
                           "completed_ts, first_placement)) AS h FROM event_matches FINAL")},
      {"names", rows(db, "SELECT restaurant_id, argMaxMerge(name_state) AS name "
                         "FROM restaurant_names GROUP BY restaurant_id ORDER BY restaurant_id")},
  };
}

TEST(EngineMigration, UuidDatabaseOfThePreviousVersionKeepsEveryRowAndMetric) {
  test::TempDir dir;
  const std::string input = (dir.path() / "events.jsonl").string();
  const std::string fresh = (dir.path() / "fresh").string();
  const std::string old = (dir.path() / "old").string();
  const std::string exported = (dir.path() / "export").string();
  std::filesystem::create_directories(exported);
  // UUIDs only: the previous version could not store any other id.
  tablepulse(fmt::format("generate --restaurants 4 --duration 3h --seed 5 --renames "
                         "--rename-every 30m -o {}",
                         input));
  tablepulse(fmt::format("ingest -q --db {} {}", fresh, input));

  // The previous version's schema, and its rows in its column types.
  tablepulse(fmt::format("migrate --db {} --to-version 5", old));
  ASSERT_EQ(rows(old, "SELECT type FROM system.columns WHERE database = currentDatabase() "
                      "AND table = 'events' AND name = 'event_id'")
                .at(0)["type"],
            "UUID");
  const std::vector<std::pair<std::string, std::string>> tables = {
      {"events",
       "SELECT toUUID(event_id) AS event_id, event_type, ts, restaurant_id, restaurant_name, "
       "table_id, order_id, server_id, party_size, CAST(arrayMap(i -> (i.item_id, i.item_name, "
       "i.category, i.quantity, i.price), items) AS Array(Tuple(item_id String, item_name String, "
       "category String, quantity UInt32, unit_price Decimal(12, 2)))) AS items, subtotal, tax, "
       "tip, total_amount, payment_method, kitchen_time_minutes, content_hash, source_id, "
       "source_offset, ingested_at FROM events"},
      // Matches as the previous version stored them: the placement's id as toUInt128(UUID).
      {"event_matches",
       "SELECT event_type, ts, toUUID(event_id) AS event_id, restaurant_id, table_id, "
       "kitchen_time_minutes, seat_ts, placed_ts, completed_ts, (first_placement.1, "
       "if(first_placement.2 = '', toUInt128(0), toUInt128(toUUID(first_placement.2))), "
       "first_placement.3) AS first_placement FROM event_matches"},
      {"ingest_batches",
       "SELECT * EXCEPT naive_timestamps FROM ingest_batches"},
  };
  for (const auto& [table, select] : tables) {
    const std::string file = fmt::format("{}/{}.native", exported, table);
    tablepulse(fmt::format("sql --db {} \"INSERT INTO FUNCTION file('{}', 'Native') {}\"", fresh,
                           file, select));
    // The views of `events` fill the other tables, as they did for the previous version.
    tablepulse(fmt::format("sql --db {} \"INSERT INTO {} SELECT * FROM file('{}', 'Native')\"", old,
                           table, file));
  }
  // A migration killed half-way left a partial copy behind: it must not matter.
  tablepulse(fmt::format("sql --db {} \"CREATE TABLE events_0006 AS events\" "
                         "\"INSERT INTO events_0006 SELECT * FROM events LIMIT 10\"",
                         old));

  std::string migrated = tablepulse(fmt::format("migrate --db {}", old));
  EXPECT_NE(migrated.find("applied 0006_opaque_event_ids"), std::string::npos) << migrated;
  EXPECT_EQ(rows(old, "SELECT count() AS n FROM system.tables WHERE database = "
                      "currentDatabase() AND name LIKE '%_0006'")
                .at(0)["n"],
            0);
  EXPECT_EQ(fingerprint(old), fingerprint(fresh));
  for (const char* as_of : {"2026-11-24T12:00:00Z", "2026-11-24T13:17:42.500Z",
                            "2026-11-24T14:00:00Z"}) {
    for (const char* metric : {"revenue", "funnel", "top-items", "wait-times", "turnover"}) {
      const std::string query =
          fmt::format("query {} --as-of {} --window 45m --format json --db ", metric, as_of);
      EXPECT_EQ(tablepulse(query + old), tablepulse(query + fresh)) << metric << " at " << as_of;
    }
  }
  EXPECT_EQ(tablepulse("query data-quality --format json --db " + old),
            tablepulse("query data-quality --format json --db " + fresh));
  // The upgraded database goes on as a current one: a redelivery is a duplicate, new ids land.
  auto again = tablepulse(fmt::format("ingest -q --no-resume --db {} {}", old, input));
  EXPECT_NE(again.find("\"inserted\":0"), std::string::npos) << again;
}

// ---- Checksums of applied migrations ---------------------------------------------------

// The current migrations with `edit` applied to the text of the one of `version`.
std::vector<clickhouse::Migration> edited(int version,
                                          const std::function<std::string(std::string)>& edit) {
  auto migrations = clickhouse::all_migrations();
  for (auto& migration : migrations) {
    if (migration.version == version) {
      migration = clickhouse::make_migration(migration.name, edit(migration.text));
    }
  }
  return migrations;
}

// `text` with every `from` replaced by `to`; fails the test when there is none.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  EXPECT_NE(text.find(from), std::string::npos) << from;
  return clickhouse::replace_all(std::move(text), from, to);
}

const clickhouse::Migration& migration_of(const std::vector<clickhouse::Migration>& all,
                                          int version) {
  for (const auto& migration : all) {
    if (migration.version == version) return migration;
  }
  throw std::runtime_error("no migration " + std::to_string(version));
}

// 0003 with comments added, moved and re-flowed: what an edit of its comments looks like.
std::string comment_edit(std::string text) {
  text = "-- A new first line.\n" + replaced(text, "(\n", "( -- the columns\n");
  text = replaced(text, ",\n    ", " ,  /* one more */\n\t");
  return replaced(text, "UInt64", "UInt64  ");
}

TEST(MigrationChecksums, OnlyCommentsAndLayoutLeaveTheStatementsChecksum) {
  const auto all = clickhouse::all_migrations();
  const auto& current = migration_of(all, 3);
  const auto commented = migration_of(edited(3, comment_edit), 3);
  EXPECT_NE(commented.checksum, current.checksum);
  EXPECT_EQ(commented.statements_checksum, current.statements_checksum)
      << clickhouse::statements_text(commented.text) << "\n"
      << clickhouse::statements_text(current.text);
  for (const auto& edit : std::vector<std::pair<std::string, std::string>>{
           {"end_offset UInt64", "end_offset UInt32"},        // a type
           {"blank included", "blank  included"},             // a string literal
           {"ORDER BY (source_id", "ORDER BY ( source_id"},   // layout only: unchanged
           {"-- @distributed ingest_batches BY cityHash64(source_id)",
            "-- @distributed ingest_batches BY rand()"}}) {  // a directive the runner obeys
    const std::string& from = edit.first;
    const std::string& to = edit.second;
    const auto changed = migration_of(edited(3, [&](std::string text) {
                                        return replaced(std::move(text), from, to);
                                      }),
                                      3);
    if (from == "ORDER BY (source_id") {
      EXPECT_EQ(changed.statements_checksum, current.statements_checksum) << to;
    } else {
      EXPECT_NE(changed.statements_checksum, current.statements_checksum) << to;
    }
  }
  // "--" inside a literal is not a comment.
  EXPECT_EQ(clickhouse::statements_text("SELECT 'a -- b', \"c--d\" -- e\nFROM t;\n"),
            "SELECT'a -- b',\"c--d\"FROM t;\n");
}

// Each raw checksum accepted as "edited in comments only since" is one of a file an earlier
// version held (kept in tests/migrations/) whose statements are today's.
TEST(MigrationChecksums, EarlierChecksumsAreOfCommentOnlyEdits) {
  const auto current = clickhouse::all_migrations();
  std::map<std::string, clickhouse::Migration> earlier;  // raw checksum -> earlier file
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(TABLEPULSE_SOURCE_DIR) + "/tests/migrations")) {
    const std::string file = entry.path().filename().string();
    if (entry.path().extension() != ".sql") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    auto migration = clickhouse::make_migration(file.substr(0, file.find('.')), text.str());
    earlier.emplace(migration.checksum, migration);
  }
  ASSERT_FALSE(clickhouse::comment_edited_checksums().empty());
  for (const auto& known : clickhouse::comment_edited_checksums()) {
    auto it = earlier.find(known.checksum);
    ASSERT_NE(it, earlier.end()) << "no earlier file has checksum " << known.checksum;
    EXPECT_EQ(it->second.version, known.version);
    const auto& now = migration_of(current, known.version);
    EXPECT_NE(it->second.checksum, now.checksum);
    EXPECT_EQ(it->second.statements_checksum, now.statements_checksum) << it->second.name;
  }
}

TEST(EngineMigrationChecksums, AChangedStatementIsRefusedAndACommentEditIsNot) {
  auto client = test::embedded_client();
  ASSERT_TRUE(clickhouse::migrate(*client, {}, 7).ok());
  auto changed = clickhouse::migrate(*client, {}, edited(3, [](std::string text) {
                                       return replaced(std::move(text), "end_offset UInt64",
                                                       "end_offset UInt32");
                                     }),
                                     7);
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.error().code, ErrorCode::kMigrationMismatch);
  EXPECT_NE(changed.error().message.find("0003_ingest_batches.sql"), std::string::npos)
      << changed.error().message;
  auto commented = clickhouse::migrate(*client, {}, edited(3, comment_edit), 7);
  ASSERT_TRUE(commented.ok()) << commented.error().to_string();
  EXPECT_TRUE(commented->applied.empty());
  // A pending migration is not checked: only what ran is.
  auto pending = clickhouse::migrate(*client, {}, edited(8, [](std::string text) {
                                       return "-- edited before it ran\n" + text;
                                     }));
  ASSERT_TRUE(pending.ok()) << pending.error().to_string();
  EXPECT_EQ(pending->applied, std::vector<std::string>{"0008_ttl_drops_parts"});
}

// A database the previous release migrated (0001-0005, no statements checksums, 0004's raw
// checksum from before its comment edit) starts; a record that matches no known file is
// accepted once, with a warning, and from then on verified.
TEST(EngineMigrationChecksums, DatabaseOfThePreviousReleaseStarts) {
  auto client = test::embedded_client();
  ASSERT_TRUE(clickhouse::migrate(*client, {}, 5).ok());
  auto sql = [&](const std::string& statement) {
    auto status = client->execute(statement);
    ASSERT_TRUE(status.ok()) << statement << ": " << status.error().to_string();
  };
  sql("ALTER TABLE schema_migrations DROP COLUMN statements_checksum");
  for (const auto& known : clickhouse::comment_edited_checksums()) {
    sql(fmt::format("INSERT INTO schema_migrations (version, name, checksum, applied_at) SELECT "
                    "version, name, '{}', applied_at FROM schema_migrations FINAL WHERE "
                    "version = {}",
                    known.checksum, known.version));
  }
  sql("INSERT INTO schema_migrations (version, name, checksum, applied_at) SELECT version, name, "
      "'00000000deadbeef', applied_at FROM schema_migrations FINAL WHERE version = 2");
  auto upgraded = clickhouse::migrate(*client, {});
  ASSERT_TRUE(upgraded.ok()) << upgraded.error().to_string();
  EXPECT_EQ(upgraded->already.size(), 5u);
  EXPECT_EQ(upgraded->applied.front(), "0006_opaque_event_ids");
  auto rows = client->query_json_rows(
      "SELECT version, checksum, statements_checksum FROM schema_migrations FINAL ORDER BY version");
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  const auto all = clickhouse::all_migrations();
  ASSERT_EQ(rows->size(), all.size());
  for (const auto& row : rows.value()) {
    auto stored = json::parse(row);
    const auto& migration = migration_of(all, stored["version"].get<int>());
    EXPECT_EQ(stored["statements_checksum"], migration.statements_checksum) << migration.name;
    // The raw checksums stay what was applied.
    if (migration.version == 2) {
      EXPECT_EQ(stored["checksum"], "00000000deadbeef");
    }
    for (const auto& known : clickhouse::comment_edited_checksums()) {
      if (known.version == migration.version) {
        EXPECT_EQ(stored["checksum"], known.checksum);
      }
    }
  }
  // The adopted record is verified from now on.
  auto changed = clickhouse::migrate(*client, {}, edited(2, [](std::string text) {
                                       return replaced(std::move(text), "LowCardinality(String)",
                                                       "String");
                                     }));
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.error().code, ErrorCode::kMigrationMismatch);
}

}  // namespace
}  // namespace tp
