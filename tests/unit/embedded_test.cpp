// The embedded engine runs inside this process, round-trips rows through the schema, refuses a
// second process on its data directory, and handles parameters under concurrency.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>

#include "clickhouse/error_codes.h"
#include "clickhouse/schema.h"
#include "test_support.h"

namespace tp {
namespace {

using nlohmann::json;

TEST(EngineEmbedded, RunsInProcess) {
  auto client = test::embedded_client();
  auto rows = client->query_json_rows("SELECT version() AS v, toUInt64(42) AS n, 1.5 AS f");
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  ASSERT_EQ(rows->size(), 1u);
  auto row = json::parse(rows->at(0));
  EXPECT_EQ(row["n"], 42);  // 64-bit integers come back as JSON numbers
  EXPECT_DOUBLE_EQ(row["f"].get<double>(), 1.5);
  EXPECT_GE(std::stoi(row["v"].get<std::string>()), 24);  // a modern engine
}

TEST(EngineEmbedded, ReportsClickHouseErrorCodes) {
  auto client = test::embedded_client();
  auto rows = client->query_json_rows("SELECT * FROM no_such_table");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().code, ErrorCode::kClickHouse);
  EXPECT_EQ(rows.error().clickhouse_code, clickhouse::error_codes::UNKNOWN_TABLE);
  auto status = client->execute("SELEC 1");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().clickhouse_code, clickhouse::error_codes::SYNTAX_ERROR);
}

TEST(EngineEmbedded, QueryParametersAreTyped) {
  auto client = test::embedded_client();
  auto rows = client->query_json_rows(
      "SELECT {s:String} AS s, {t:DateTime64(3, 'UTC')} AS t, {n:UInt32} + 1 AS n",
      {{"s", "it's a \\ 'quote'\n"}, {"t", "2026-11-24 12:00:00.250"}, {"n", "41"}});
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  auto row = json::parse(rows->at(0));
  EXPECT_EQ(row["s"], "it's a \\ 'quote'\n");
  EXPECT_EQ(row["t"], "2026-11-24 12:00:00.250");
  EXPECT_EQ(row["n"], 42);
  auto bad = client->query_json_rows("SELECT {n:UInt32} AS n", {{"n", "1; DROP TABLE x"}});
  EXPECT_FALSE(bad.ok());  // a value is parsed as its type, never as SQL
}

TEST(EngineEmbedded, ValueListsArriveIntactThroughTheFileAndTheParameterPath) {
  auto client = test::embedded_client();
  const std::vector<std::string_view> values = {"plain",       "tab\there", "new\nline",
                                                "back\\slash", "it's",      ""};
  const std::string sql =
      "SELECT groupArray(value) AS got, {n:UInt32} AS n FROM (SELECT value FROM {{values}} "
      "ORDER BY value)";
  // The embedded override (a scratch file), then the base class's (an Array parameter,
  // what an HTTP client sends), on the same engine: both must give the same list.
  auto via_file = client->query_json_rows_with_values(sql, {{"n", "7"}}, "String", values);
  auto via_param =
      client->clickhouse::Client::query_json_rows_with_values(sql, {{"n", "7"}}, "String", values);
  for (const auto* rows : {&via_file, &via_param}) {
    ASSERT_TRUE(rows->ok()) << rows->error().to_string();
    auto row = json::parse(rows->value().at(0));
    EXPECT_EQ(row["n"], 7);
    std::vector<std::string> expected(values.begin(), values.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(row["got"].get<std::vector<std::string>>(), expected);
  }
  auto none =
      client->query_json_rows_with_values("SELECT count() AS n FROM {{values}}", {}, "UUID", {});
  ASSERT_TRUE(none.ok()) << none.error().to_string();
  EXPECT_EQ(json::parse(none->at(0))["n"], 0);
  auto bad = client->query_json_rows_with_values("SELECT value FROM {{values}}", {}, "UUID",
                                                 {"not-a-uuid"});
  EXPECT_FALSE(bad.ok());  // values are parsed as their type
}

TEST(EngineEmbedded, MigrationsAreIdempotentAndRoundTripRows) {
  auto client = test::embedded_client();
  auto first = clickhouse::migrate(*client, {});
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  EXPECT_EQ(first->applied.size(), clickhouse::all_migrations().size());
  auto second = clickhouse::migrate(*client, {});
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  EXPECT_TRUE(second->applied.empty());
  EXPECT_EQ(second->already.size(), clickhouse::all_migrations().size());

  std::string rows =
      R"({"event_id":"6f1c2a7e-0d3b-4c59-9a41-1b2c3d4e5f60","event_type":"order_placed","ts":"2026-11-24 12:00:00.123","restaurant_id":"r1","restaurant_name":"One","table_id":"T1","order_id":"o1","items":[{"item_id":"i1","item_name":"Soup","category":"starter","quantity":2,"price":4.5},{"item_id":"i2","item_name":"Tea","category":"drink","quantity":1,"price":2}],"subtotal":11,"content_hash":1,"source_id":"t","source_offset":0})"
      "\n";
  // The same block twice with one token: the second insert is dropped as a retry.
  ASSERT_TRUE(client->insert("events", "JSONEachRow", rows, {"token-1"}).ok());
  ASSERT_TRUE(client->insert("events", "JSONEachRow", rows, {"token-1"}).ok());
  auto events = client->query_json_rows("SELECT count() AS n FROM events");
  ASSERT_TRUE(events.ok()) << events.error().to_string();
  EXPECT_EQ(json::parse(events->at(0))["n"], 1);
  // A redelivery in another block is stored, then collapsed by FINAL.
  ASSERT_TRUE(client->insert("events", "JSONEachRow", rows, {"token-2"}).ok());
  auto final_rows = client->query_json_rows(
      "SELECT count() AS n, sum(subtotal) AS s FROM events FINAL WHERE event_type = "
      "'order_placed'");
  ASSERT_TRUE(final_rows.ok());
  EXPECT_EQ(json::parse(final_rows->at(0))["n"], 1);
  auto items = client->query_json_rows(
      "SELECT item_id, quantity, price FROM order_items FINAL ORDER BY line_no");
  ASSERT_TRUE(items.ok()) << items.error().to_string();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ(json::parse(items->at(0))["quantity"], 2);
  EXPECT_DOUBLE_EQ(json::parse(items->at(0))["price"].get<double>(), 4.5);
  auto stages = client->query_json_rows("SELECT order_id, event_type FROM order_stages");
  ASSERT_TRUE(stages.ok());
  EXPECT_GE(stages->size(), 1u);
}

TEST(EngineEmbedded, OneConnectionPerThreadWithParameters) {
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &mismatches] {
      auto client = test::embedded_client();
      for (int i = 0; i < 50; ++i) {
        std::string value = std::to_string(t * 1000 + i);
        auto rows = client->query_json_rows("SELECT {v:UInt32} AS v", {{"v", value}});
        if (!rows.ok() || json::parse(rows->at(0))["v"].get<int>() != t * 1000 + i) ++mismatches;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(EngineEmbedded, SecondProcessOnSameDirectoryGetsClearError) {
  test::TempDir dir;
  auto opened = clickhouse::open_embedded({dir.str(), ""});
  ASSERT_TRUE(opened.ok()) << opened.error().to_string();
  auto client = opened.value()->connect();
  ASSERT_TRUE(client.ok());
  // This process owns the directory now; another process must be refused with a clear error.
  auto result =
      test::run_command(test::tablepulse_binary() + " migrate --db " + dir.str() + " 2>&1");
  EXPECT_EQ(result.status, error_exit_status(ErrorCode::kEngineLocked)) << result.out;
  EXPECT_NE(result.out.find("engine_locked"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace tp
