// Upgrading a database written by the previous version (UUID event ids, `unit_price`): the
// test builds one itself, with the old column types, from what the current binary stores for
// the same events, then runs `tablepulse migrate` and compares every table and every metric
// with a database the current binary filled directly.
#include <nlohmann/json.hpp>

#include <sstream>

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

}  // namespace
}  // namespace tp
