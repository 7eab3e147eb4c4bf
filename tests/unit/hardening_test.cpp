// Defects a reliability probe found (issue "Hardening the consumer and the server"), each
// pinned by the case that showed it.
#include <sys/stat.h>

#include <httplib.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "clickhouse/schema.h"
#include "query/table_format.h"
#include "test_support.h"

namespace tp {
namespace {

using nlohmann::json;

// Restaurant and item names come from producers: printed raw, an escape sequence in one
// could rewrite the operator's terminal.
TEST(TableFormat, ControlCharactersAreEscaped) {
  auto rows = nlohmann::ordered_json::parse(
      R"([{"restaurant_name":"Evil\u001b]0;pwned\u0007\u001b[2J","n":1}])");
  std::string table = query::format_table(rows);
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  EXPECT_EQ(table.find('\x07'), std::string::npos) << table;
  EXPECT_NE(table.find("Evil\\x1b]0;pwned\\x07\\x1b[2J"), std::string::npos) << table;
  EXPECT_NE(query::format_table(nlohmann::ordered_json::parse(R"([{"name":"Café ☕"}])"))
                .find("Café ☕"),
            std::string::npos);
}

// An empty token used to switch authentication off without a word.
TEST(CliFlags, EmptyTokenIsRefused) {
  test::TempDir dir;
  for (const std::string& how : {std::string("--token ''"), std::string("")}) {
    auto run = test::run_command(fmt::format(
        "{} timeout 30 {} serve --db {} --listen 127.0.0.1:0 {} 2>&1",
        how.empty() ? "TABLEPULSE_TOKEN=" : "", test::tablepulse_binary(), dir.str(), how));
    EXPECT_EQ(run.status, 2) << how << "\n" << run.out;  // invalid_argument, before serving
    EXPECT_NE(run.out.find("invalid_argument"), std::string::npos) << run.out;
  }
}

// A dedup window smaller than a batch lets two copies of one id into one insert block.
TEST(CliFlags, DedupMemoryBelowBatchRowsIsRefused) {
  test::TempDir dir;
  auto run = test::run_command(fmt::format(
      "{} ingest --db {} --dedup-memory 10 --batch-rows 100 -q /dev/null 2>&1",
      test::tablepulse_binary(), dir.str()));
  EXPECT_EQ(run.status, 2) << run.out;
  EXPECT_NE(run.out.find("--dedup-memory"), std::string::npos) << run.out;
}

// A named pipe cannot be resumed by byte offset: each run reads what the pipe delivers, with
// line numbers from 1 (a second run once "resumed" after the first run's checkpoint, shifting
// the dead-letter line numbers and counting lines it never skipped).
TEST(EngineFifo, NamedPipeIsNeverResumedFromACheckpoint) {
  test::TempDir dir;
  const std::string fifo = dir.str() + "/pipe";
  const std::string dlq = dir.str() + "/dlq.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (int run = 0; run < 2; ++run) {
    std::thread writer([&] {
      std::ofstream out(fifo);
      for (int i = 0; i < 3; ++i) {
        out << fmt::format(
            R"({{"event_id":"00000000-0000-4000-8000-0000000000{}{}","event_type":"table_seated","timestamp":"2026-11-24T18:0{}:00Z",)"
            R"("restaurant_id":"r-1","restaurant_name":"One","table_id":"T1","party_size":2,"server_id":"s"}})",
            run, i, i)
            << "\n";
        if (i == 0) out << "{broken\n";  // line 2
      }
    });
    auto result = test::run_command(fmt::format("{} ingest -q --db {} --dlq {} {}",
                                                test::tablepulse_binary(), dir.str() + "/db", dlq,
                                                fifo));
    writer.join();
    ASSERT_EQ(result.status, 0) << result.out;
    json summary = json::parse(result.out.substr(result.out.rfind("\n{") + 1));
    EXPECT_EQ(summary["inserted"], 3) << summary.dump();
    EXPECT_EQ(summary["rejected"], 1) << summary.dump();
    EXPECT_EQ(summary["resumed_from_checkpoint"], 0) << summary.dump();
  }
  std::ifstream in(dlq);
  int letters = 0;
  for (std::string line; std::getline(in, line); ++letters) {
    EXPECT_EQ(json::parse(line)["line_number"], 2) << line;
  }
  EXPECT_EQ(letters, 2);
}

// An exception inside a worker (the reading thread, the committer, the matcher) used to end
// the process; now it ends the run with an error the caller sees (faults injected: no input
// reaches these paths).
TEST(EngineWorkers, AnExceptionInsideAWorkerEndsTheRunWithAnError) {
  test::TempDir dir;
  const std::string input = dir.str() + "/events.jsonl";
  auto made = test::run_command(fmt::format("{} generate --events 2000 --seed 3 -o {} 2>&1",
                                            test::tablepulse_binary(), input));
  ASSERT_EQ(made.status, 0) << made.out;
  for (const char* fault : {"reader", "committer", "matcher"}) {
    auto run = test::run_command(fmt::format("TABLEPULSE_FAULTS={} {} ingest -q --db {} {} 2>&1",
                                             fault, test::tablepulse_binary(),
                                             dir.str() + "/db-" + fault, input));
    EXPECT_EQ(run.status, 70) << fault << "\n" << run.out;  // internal, not a crash
    EXPECT_NE(run.out.find(fmt::format("injected fault {}", fault)), std::string::npos) << run.out;
  }
}

// serve keeps answering when its consumer dies, and says so on /healthz instead of serving
// stale numbers as healthy.
TEST(EngineWorkers, ServeReportsAStoppedConsumerOnHealthz) {
  test::TempDir dir;
  const std::string input = dir.str() + "/events.jsonl";
  ASSERT_EQ(test::run_command(fmt::format("{} generate --events 500 --seed 3 -o {} 2>&1",
                                          test::tablepulse_binary(), input))
                .status,
            0);
  FILE* serve = popen(fmt::format("sh -c 'echo $$; TABLEPULSE_FAULTS=committer exec {} serve "
                                  "--db {} --listen 127.0.0.1:0 --source {} 2>/dev/null'",
                                  test::tablepulse_binary(), dir.str() + "/db", input)
                          .c_str(),
                      "r");
  ASSERT_NE(serve, nullptr);
  char line[512];
  ASSERT_NE(fgets(line, sizeof line, serve), nullptr);
  const int pid = std::atoi(line);
  ASSERT_NE(fgets(line, sizeof line, serve), nullptr);  // "TablePulse serving on http://…/"
  std::string url(line);
  const size_t port_at = url.rfind(':');
  const int port = std::atoi(url.c_str() + port_at + 1);
  httplib::Client client("127.0.0.1", port);
  json health;
  int status = 0;
  for (int attempt = 0; attempt < 100 && status != 503; ++attempt) {
    auto res = client.Get("/healthz");
    if (res) {
      status = res->status;
      health = json::parse(res->body, nullptr, false);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 503) << health.dump();
  EXPECT_EQ(health.value("status", ""), "consumer_stopped") << health.dump();
  auto page_data = client.Get("/api/v1/data-quality");
  EXPECT_TRUE(page_data && page_data->status == 200);  // the API still answers
  ::kill(pid, SIGTERM);
  EXPECT_EQ(WEXITSTATUS(pclose(serve)), 0);
}

}  // namespace
}  // namespace tp

namespace tp {
namespace {

// Which migrations make the matches be computed from stored events is said in their files
// (`-- @rematch`), not by a file name in the code; the directive is not sent as SQL.
TEST(Migrations, RematchIsADirectiveOfTheMigrationFile) {
  std::vector<std::string> rematching;
  for (const auto& migration : clickhouse::all_migrations()) {
    if (migration.rematch) rematching.push_back(migration.name);
    for (const auto& statement : clickhouse::render_migration(migration, {})) {
      EXPECT_EQ(statement.sql.find("@rematch"), std::string::npos) << migration.name;
    }
  }
  EXPECT_EQ(rematching, std::vector<std::string>{"0004_event_matches"});
}

}  // namespace
}  // namespace tp

namespace tp {
namespace {

// Retention is a part drop on every table partitioned by time (seatings and order_stages once
// rewrote their parts row by row at each TTL merge).
TEST(EngineSchema, EveryTablePartitionedByTimeDropsWholePartsAtItsTtl) {
  test::TempDir dir;
  auto result = test::run_command(fmt::format(
      "{} migrate --db {} >/dev/null 2>&1 && {} sql --rows --db {} \"SELECT name, "
      "engine_full LIKE '%ttl_only_drop_parts = 1%' AS drops FROM system.tables "
      "WHERE database = currentDatabase() AND engine_full LIKE '%TTL %' AND partition_key != '' "
      "ORDER BY name\"",
      test::tablepulse_binary(), dir.str() + "/db", test::tablepulse_binary(),
      dir.str() + "/db"));
  ASSERT_EQ(result.status, 0) << result.out;
  std::istringstream rows(result.out);
  int tables = 0;
  for (std::string row; std::getline(rows, row); ++tables) {
    EXPECT_EQ(json::parse(row)["drops"], 1) << row;
  }
  EXPECT_EQ(tables, 5) << result.out;  // events, order_items, event_matches, seatings, stages
}

}  // namespace
}  // namespace tp
