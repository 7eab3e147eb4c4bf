// kill -9 the consumer at random moments over one file, resume each time, and compare what is
// stored with a clean run: the totals in the database must be exact.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <sstream>
#include <random>
#include <thread>

#include "test_support.h"

extern char** environ;

namespace tp {
namespace {

using nlohmann::json;

// Starts `args` (no shell) with stdout/stderr to /dev/null; returns its pid.
pid_t spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// What a database holds, in numbers that any lost or doubled event (or missed match) would change (read by a
// tablepulse process: this test process may open only one engine, and it needs two).
json fingerprint(const std::string& db) {
  auto result = test::run_command(fmt::format(
      "{} sql --rows --db {} "
      "\"SELECT count() AS rows, uniqExact(event_id) AS ids, "
      "sum(cityHash64(toString(event_id), content_hash)) AS hash, sum(total_amount) AS money "
      "FROM events FINAL\" "
      "\"SELECT count() AS n FROM order_items FINAL\" "
      "\"SELECT sum(lines) AS lines, sum(inserted) AS inserted, sum(duplicates) AS duplicates, "
      "sum(rejected) AS rejected, sum(blank) AS blank FROM ingest_batches FINAL\" "
      "\"SELECT count() AS rows, sum(cityHash64(toString(event_id), seat_ts, placed_ts, "
      "completed_ts, first_placement)) AS hash FROM event_matches FINAL\"",
      test::tablepulse_binary(), db));
  EXPECT_EQ(result.status, 0) << result.out;
  std::vector<json> rows;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  EXPECT_EQ(rows.size(), 4u) << result.out;
  if (rows.size() != 4) return json();
  return json{{"events", rows[0]}, {"order_items", rows[1]}, {"batches", rows[2]},
              {"matches", rows[3]}};
}

TEST(EngineCrash, KillNineAtRandomPointsThenResumeIsExact) {
  test::TempDir dir;
  const std::string input = (dir.path() / "events.jsonl").string();
  auto generated = test::run_command(fmt::format(
      "{} generate --restaurants 8 --events 120000 --seed 11 --duplicate-rate 0.05 "
      "--late-rate 0.02 --malformed-rate 0.01 -o {} 2>/dev/null",
      test::tablepulse_binary(), input));
  ASSERT_EQ(generated.status, 0);

  const std::string clean_db = (dir.path() / "clean").string();
  auto clean = test::run_command(fmt::format("{} ingest --db {} -q --batch-rows 2000 {} 2>/dev/null",
                                             test::tablepulse_binary(), clean_db, input));
  ASSERT_EQ(clean.status, 0) << clean.out;

  const std::string crash_db = (dir.path() / "crash").string();
  std::mt19937 random(20261124);
  int kills = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {
    pid_t pid = spawn({test::tablepulse_binary(), "ingest", "--db", crash_db, "-q",
                       "--batch-rows", "2000", input});
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 700)(random)));
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) break;  // finished before the kill
    ::kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ++kills;
  }
  auto resumed = test::run_command(fmt::format("{} ingest --db {} -q --batch-rows 2000 {} 2>/dev/null",
                                               test::tablepulse_binary(), crash_db, input));
  ASSERT_EQ(resumed.status, 0) << resumed.out;
  EXPECT_GE(kills, 1) << "the consumer finished before any kill: make the input larger";

  json expected = fingerprint(clean_db);
  json actual = fingerprint(crash_db);
  EXPECT_EQ(actual["events"], expected["events"]);
  EXPECT_EQ(actual["events"]["rows"], expected["events"]["ids"]);  // nothing stored twice
  EXPECT_EQ(actual["order_items"], expected["order_items"]);
  EXPECT_EQ(actual["batches"], expected["batches"]) << "kills: " << kills;
  // Every match step of a batch runs before its checkpoint: the matches are complete too.
  EXPECT_EQ(actual["matches"], expected["matches"]) << "kills: " << kills;
}

}  // namespace
}  // namespace tp
