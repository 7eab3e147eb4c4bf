// kill -9 the consumer at random moments over one file, resume each time, and compare what is
// stored with a clean run: the totals in the database must be exact, and the dead-letter file
// must hold each refused line once.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "test_support.h"

namespace tp {
namespace {

using nlohmann::json;

// The dead-letter file's line numbers, each with how many times it was written.
std::map<uint64_t, int> dead_letter_lines(const std::string& path) {
  std::map<uint64_t, int> lines;
  std::ifstream in(path);
  for (std::string text; std::getline(in, text);) {
    ++lines[json::parse(text)["line_number"].get<uint64_t>()];
  }
  return lines;
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
  const std::string clean_dlq = (dir.path() / "clean.dlq").string();
  auto clean = test::run_command(
      fmt::format("{} ingest --db {} --dlq {} -q --batch-rows 2000 {} 2>/dev/null",
                  test::tablepulse_binary(), clean_db, clean_dlq, input));
  ASSERT_EQ(clean.status, 0) << clean.out;

  const std::string crash_db = (dir.path() / "crash").string();
  const std::string crash_dlq = (dir.path() / "crash.dlq").string();
  std::mt19937 random(20261124);
  int kills = 0;
  std::error_code ec;
  for (int attempt = 0; attempt < 10; ++attempt) {
    // Each kill lands mid-stream: after the run has committed a batch of its own (its dead
    // letters are written with its checkpoint), at a random moment of the batches after it.
    // A fixed delay would kill slow starts before they read a line.
    auto committed_before = std::filesystem::file_size(crash_dlq, ec);
    if (ec) committed_before = 0;  // no file yet
    pid_t pid = test::spawn({test::tablepulse_binary(), "ingest", "--db", crash_db, "--dlq",
                             crash_dlq, "-q", "--batch-rows", "2000", input});
    int status = 0;
    bool finished = false;
    for (int poll = 0; poll < 3000; ++poll) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        finished = true;
        break;
      }
      auto size = std::filesystem::file_size(crash_dlq, ec);
      if (!ec && size > committed_before) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (finished) break;  // it read the whole file before the kill
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 600)(random)));
    ::kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    ++kills;
  }
  auto resumed = test::run_command(
      fmt::format("{} ingest --db {} --dlq {} -q --batch-rows 2000 {} 2>/dev/null",
                  test::tablepulse_binary(), crash_db, crash_dlq, input));
  ASSERT_EQ(resumed.status, 0) << resumed.out;
  EXPECT_GE(kills, 5) << "the consumer finished before most kills: make the input larger";

  json expected = test::stored(clean_db);
  json actual = test::stored(crash_db);
  EXPECT_EQ(actual["events"], expected["events"]);
  EXPECT_EQ(actual["events"]["rows"], expected["events"]["ids"]);  // nothing stored twice
  EXPECT_EQ(actual["order_items"], expected["order_items"]);
  EXPECT_EQ(actual["batches"], expected["batches"]) << "kills: " << kills;
  // Every match step of a batch runs before its checkpoint: the matches are complete too.
  EXPECT_EQ(actual["matches"], expected["matches"]) << "kills: " << kills;
  // A replayed batch does not write its dead letters again.
  auto clean_dead = dead_letter_lines(clean_dlq);
  EXPECT_GT(clean_dead.size(), 100u);
  EXPECT_EQ(dead_letter_lines(crash_dlq), clean_dead) << "kills: " << kills;
}

// A kill in the middle of writing a dead letter leaves half a line; the resumed run drops it
// (its batch was not checkpointed, so the line is written again) and the file stays JSON lines.
TEST(EngineCrash, UnfinishedDeadLetterLineIsDroppedOnResume) {
  test::TempDir dir;
  const std::string input = (dir.path() / "in.jsonl").string();
  const std::string dlq = (dir.path() / "dead.jsonl").string();
  const std::string db = (dir.path() / "db").string();
  { std::ofstream(input) << "not json 1\nnot json 2\n"; }
  const std::string ingest =
      fmt::format("{} ingest --db {} --dlq {} -q {} 2>/dev/null", test::tablepulse_binary(), db,
                  dlq, input);
  ASSERT_EQ(test::run_command(ingest).status, 0);
  { std::ofstream(dlq, std::ios::app) << "{\"line\":\"not js"; }  // the killed write
  { std::ofstream(input, std::ios::app) << "not json 3\n"; }
  ASSERT_EQ(test::run_command(ingest).status, 0);
  auto lines = dead_letter_lines(dlq);  // throws on a line that is not JSON
  EXPECT_EQ(lines, (std::map<uint64_t, int>{{1, 1}, {2, 1}, {3, 1}}));
}

}  // namespace
}  // namespace tp
