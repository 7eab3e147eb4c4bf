// A database that goes away while `tablepulse ingest` runs (the hardening issue's "one retry
// policy"): the consumer waits it out with backoff and stores exactly what a clean run stores;
// a stop while it waits ends the run at once and commits nothing half. The outage is injected
// (TABLEPULSE_FAULTS=clickhouse_insert_unavailable=SKIP:Ns): every insert of the client fails as
// unavailable for N seconds after the first SKIP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_support.h"

namespace tp {
namespace {

using nlohmann::json;

const std::string kInput = TABLEPULSE_SOURCE_DIR "/data/sample_events.jsonl";  // 4940 lines

// The summary JSON that `ingest` prints as its last stdout line.
json summary_of(const std::string& out) {
  size_t at = out.rfind("\n{");
  return json::parse(at == std::string::npos ? out : out.substr(at + 1), nullptr, false);
}

// The summary without what differs between two runs of the same input (time, batches).
json comparable(json summary) {
  summary.erase("seconds");
  return summary;
}

// `ingest` of the sample day in batches of 1000 events (five batches).
std::string ingest_command(const std::string& db, const std::string& faults,
                           const std::string& flags = "") {
  return fmt::format("{}{} ingest -q --db {} --batch-rows 1000 {} {}",
                     faults.empty() ? "" : "env TABLEPULSE_FAULTS=" + faults + " ",
                     test::tablepulse_binary(), db, flags, kInput);
}

// Ten seconds without the database, after the first two inserts: the old consumer (five
// retries, about 6 s of backoff in all) failed the run with `unavailable`.
TEST(EngineOutage, TenSecondsWithoutTheDatabaseLoseAndDoubleNothing) {
  test::TempDir dir;
  auto clean = test::run_command(ingest_command(dir.str() + "/clean", ""));
  ASSERT_EQ(clean.status, 0) << clean.out;
  auto started = std::chrono::steady_clock::now();
  auto outage = test::run_command(
      ingest_command(dir.str() + "/outage", "clickhouse_insert_unavailable=2:10s"));
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_EQ(outage.status, 0) << outage.out;
  EXPECT_GE(seconds, 10) << "the outage did not happen";
  EXPECT_EQ(comparable(summary_of(outage.out)), comparable(summary_of(clean.out)));
  json expected = test::stored(dir.str() + "/clean");
  json actual = test::stored(dir.str() + "/outage");
  EXPECT_EQ(actual, expected);
  ASSERT_TRUE(actual.is_object());
  EXPECT_EQ(actual["events"]["rows"], actual["events"]["ids"]);  // nothing stored twice
  EXPECT_EQ(actual["events"]["rows"], 4831);  // the sample's distinct valid events
}

// A command started through `sh -c 'echo $$; exec …'`: its pid, and its stdout to read on.
struct Started {
  FILE* out = nullptr;
  int pid = 0;
};

Started start(const std::string& command) {
  Started started;
  started.out = popen(fmt::format("sh -c 'echo $$; exec {}'", command).c_str(), "r");
  if (started.out == nullptr) return started;
  char line[64];
  if (fgets(line, sizeof line, started.out) != nullptr) started.pid = std::atoi(line);
  return started;
}

// stop() (here SIGTERM) while the consumer waits for the database ends the run at once, with
// `unavailable`, and commits nothing half: the next run stores exactly what a clean run stores.
TEST(EngineOutage, AStopWhileWaitingEndsTheRunAndCommitsNothingHalf) {
  test::TempDir dir;
  auto clean = test::run_command(ingest_command(dir.str() + "/clean", ""));
  ASSERT_EQ(clean.status, 0) << clean.out;
  const std::string db = dir.str() + "/stopped";
  Started run = start(ingest_command(db, "clickhouse_insert_unavailable=2:3600s",
                                     "--retry-for forever"));
  ASSERT_GT(run.pid, 0);
  std::this_thread::sleep_for(std::chrono::seconds(4));  // well into the backoff
  auto signalled = std::chrono::steady_clock::now();
  ::kill(run.pid, SIGTERM);
  int status = pclose(run.out);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count();
  EXPECT_EQ(WEXITSTATUS(status), 7);  // unavailable: the input was not all committed
  EXPECT_LT(seconds, 3) << "the stop waited for the backoff";

  auto resumed = test::run_command(ingest_command(db, ""));
  ASSERT_EQ(resumed.status, 0) << resumed.out;
  json expected = test::stored(dir.str() + "/clean");
  EXPECT_EQ(test::stored(db), expected);
}

using test::sample;

// /metrics shows the outage while it lasts (operations retrying, since when, the last error)
// and its end; serve's consumer waits for as long as the database is away.
TEST(EngineOutage, MetricsShowTheOutageWhileItLasts) {
  test::TempDir dir;
  test::ServeProcess serve =
      test::start_serve(fmt::format("--db {} --source {}", dir.str() + "/db", kInput),
                        {{"TABLEPULSE_FAULTS", "clickhouse_insert_unavailable=1:6s"}});
  ASSERT_GT(serve.port, 0) << serve.first_line;
  httplib::Client client("127.0.0.1", serve.port);
  auto metrics = [&] {
    auto res = client.Get("/metrics");
    return res && res->status == 200 ? res->body : std::string();
  };
  std::string during;
  for (int i = 0; i < 100 && sample(during, "tablepulse_database_retrying") <= 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    during = metrics();
  }
  EXPECT_GT(sample(during, "tablepulse_database_retrying"), 0) << during;
  double since = sample(during, "tablepulse_database_unavailable_since_timestamp_seconds");
  EXPECT_GT(since, 1.7e9) << during;  // a wall-clock time
  EXPECT_NE(during.find("tablepulse_database_last_error_timestamp_seconds{code=\"unavailable\","
                        "clickhouse_code=\"0\"}"),
            std::string::npos)
      << during;

  std::string after;
  for (int i = 0; i < 300 && sample(after, "tablepulse_events_inserted_total") < 4831; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = metrics();
  }
  EXPECT_EQ(sample(after, "tablepulse_events_inserted_total"), 4831) << after;
  EXPECT_EQ(sample(after, "tablepulse_database_retrying"), 0) << after;
  EXPECT_EQ(sample(after, "tablepulse_database_unavailable_since_timestamp_seconds"), 0);
  EXPECT_GT(sample(after, "tablepulse_database_retries_total"), 0);
  EXPECT_EQ(test::stop_serve(serve), 0) << serve.first_line;
}


// Seconds `command` took, and its result.
std::pair<double, test::CommandResult> timed(const std::string& command) {
  auto start = std::chrono::steady_clock::now();
  auto result = test::run_command(command);
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
          result};
}

// A database down when `ingest` or `serve` starts: their migration failed on the first
// `unavailable` (in milliseconds) while the consumer after it would have waited. It now waits
// under the same --retry-for, then ends with `unavailable` (exit 7).
TEST(StartOutage, MigratingAtStartWaitsForTheDatabaseUpToRetryFor) {
  const std::string url = fmt::format("http://127.0.0.1:{}", test::free_port());
  for (const std::string& command :
       {std::string("ingest -q --retry-for 2s /dev/null"),
        std::string("serve --listen 127.0.0.1:0 --retry-for 2s")}) {
    auto [seconds, run] = timed(fmt::format("timeout 60 {} {} --clickhouse {} 2>&1 </dev/null",
                                            test::tablepulse_binary(), command, url));
    EXPECT_EQ(run.status, 7) << command << "\n" << run.out;  // unavailable
    EXPECT_GE(seconds, 1.9) << command << "\n" << run.out;
    EXPECT_LT(seconds, 20) << command << "\n" << run.out;
    EXPECT_NE(run.out.find("migrating at start"), std::string::npos) << run.out;
  }
  // serve waits for as long as it takes by default; SIGTERM ends the wait at once.
  auto [stopped_after, stopped] = timed(fmt::format(
      "timeout --preserve-status -s TERM 1.5 {} serve --listen 127.0.0.1:0 --clickhouse {} 2>&1",
      test::tablepulse_binary(), url));
  EXPECT_EQ(stopped.status, 7) << stopped.out;
  EXPECT_GE(stopped_after, 1.4) << stopped.out;
  EXPECT_LT(stopped_after, 5) << stopped.out;
  // --retry-for 0 still fails at once.
  auto [seconds, run] = timed(fmt::format("{} ingest -q --retry-for 0 --clickhouse {} /dev/null 2>&1",
                                          test::tablepulse_binary(), url));
  EXPECT_EQ(run.status, 7) << run.out;
  EXPECT_LT(seconds, 1.5) << run.out;
}

// The same on the embedded engine, its statements failing as unavailable for 3 s
// (TABLEPULSE_FAULTS): the run waits, migrates and ends well; --retry-for 1s gives up.
TEST(EngineOutage, MigratingAtStartWaitsOutAnOutage) {
  auto ingest = [](const std::string& db, const std::string& fault, const std::string& retry_for) {
    return timed(fmt::format("env TABLEPULSE_FAULTS=clickhouse_execute_unavailable={} {} ingest "
                             "-q --db {} --retry-for {} /dev/null 2>&1",
                             fault, test::tablepulse_binary(), db, retry_for));
  };
  test::TempDir dir;
  auto [seconds, run] = ingest(dir.str() + "/db", "3s", "30s");
  EXPECT_EQ(run.status, 0) << run.out;
  EXPECT_GE(seconds, 2.9) << run.out;
  EXPECT_NE(run.out.find("migrating at start"), std::string::npos) << run.out;
  EXPECT_EQ(summary_of(run.out)["lines"], 0) << run.out;
  auto tables = test::run_command(fmt::format(
      "{} migrate --db {} 2>&1", test::tablepulse_binary(), dir.str() + "/db"));
  EXPECT_NE(tables.out.find("schema up to date"), std::string::npos) << tables.out;
  test::TempDir other;
  auto [gave_up_after, failed] = ingest(other.str() + "/db", "30s", "1s");
  EXPECT_EQ(failed.status, 7) << failed.out;
  EXPECT_GE(gave_up_after, 0.9) << failed.out;
  EXPECT_LT(gave_up_after, 20) << failed.out;
}

}  // namespace
}  // namespace tp
