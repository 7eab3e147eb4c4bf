// `serve --follow` on a file that is truncated and rotated while it is read, then restarted:
// every line written is accounted for once, as a clean run of the same lines accounts for it
// (the reader once kept a stale offset after `: > f` and the old inode after `mv f f.1`).
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "test_support.h"

namespace tp {
namespace {

using nlohmann::json;

// The first object in `value` (at any depth) with an "events" field: the data-quality totals.
json find_totals(const json& value) {
  if (value.is_object() && value.contains("events")) return value;
  if (value.is_structured()) {
    for (const auto& item : value) {
      json found = find_totals(item);
      if (!found.is_null()) return found;
    }
  }
  return json();
}

// Lines the consumer has accounted for (stored, duplicate or refused), from data-quality.
int64_t accounted(httplib::Client& client) {
  auto res = client.Get("/api/v1/data-quality");
  if (!res || res->status != 200) return -1;
  json totals = find_totals(json::parse(res->body, nullptr, false));
  if (totals.is_null()) return -1;
  int64_t rejected = totals["rejected"].is_object() ? totals["rejected"].value("total", 0)
                                                    : totals.value("rejected", 0);
  return totals.value("events", 0) + totals.value("duplicates", 0) + rejected;
}

// Waits (up to a minute) until `expected` lines are accounted for; returns the last count.
int64_t wait_for(httplib::Client& client, int64_t expected) {
  int64_t seen = -1;
  for (int attempt = 0; attempt < 600 && seen != expected; ++attempt) {
    seen = accounted(client);
    if (seen != expected) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return seen;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
  }
  return lines;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines, size_t from,
                 size_t to, bool append) {
  std::ofstream out(path, append ? std::ios::app : std::ios::trunc);
  for (size_t i = from; i < to; ++i) out << lines[i] << "\n";
}

json totals_of(const std::string& db) {
  auto result = test::run_command(fmt::format(
      "{} sql --rows --db {} \"SELECT count() AS rows, uniqExact(event_id) AS ids, "
      "sum(total_amount) AS money FROM events FINAL\"",
      test::tablepulse_binary(), db));
  EXPECT_EQ(result.status, 0) << result.out;
  return json::parse(result.out, nullptr, false);
}

TEST(EngineFollow, TruncatedAndRotatedFilesLoseNothingAndResumeExactly) {
  test::TempDir dir;
  const std::string all = dir.str() + "/all.jsonl";
  ASSERT_EQ(test::generate_events(all, 3000, 5).status, 0);
  const auto lines = read_lines(all);
  ASSERT_GT(lines.size(), 3000u);
  // Four contents of one path: 1000 lines; truncated to 300; rotated to 800 in a new file;
  // truncated and at once written past the old position (copytruncate), 1200 and the rest.
  const size_t cut[] = {0, 1000, 1300, 2100, lines.size()};
  const std::string path = dir.str() + "/live.jsonl";
  const std::string db = dir.str() + "/db";
  write_lines(path, lines, cut[0], cut[1], false);

  test::ServeProcess serve =
      test::start_serve(fmt::format("--db {} --source {} --follow", db, path));
  ASSERT_GT(serve.port, 0) << serve.first_line;
  httplib::Client client("127.0.0.1", serve.port);

  EXPECT_EQ(wait_for(client, 1000), 1000);
  write_lines(path, lines, cut[1], cut[2], false);  // `: > f` and new lines
  EXPECT_EQ(wait_for(client, 1300), 1300);
  std::filesystem::rename(path, path + ".1");  // `mv f f.1` and a new f
  write_lines(path, lines, cut[2], cut[3], false);
  EXPECT_EQ(wait_for(client, 2100), 2100);
  write_lines(path, lines, cut[3], cut[4], false);
  EXPECT_EQ(wait_for(client, static_cast<int64_t>(lines.size())),
            static_cast<int64_t>(lines.size()));
  EXPECT_EQ(test::stop_serve(serve), 0) << serve.first_line;

  // What is stored equals a clean run over the same lines.
  const std::string clean = dir.str() + "/clean";
  ASSERT_EQ(test::run_command(
                fmt::format("{} ingest -q --db {} {}", test::tablepulse_binary(), clean, all))
                .status,
            0);
  EXPECT_EQ(totals_of(db), totals_of(clean));

  // A restart continues the newest generation after its checkpoint: nothing is read again.
  auto again = test::run_command(
      fmt::format("{} ingest -q --db {} {} 2>/dev/null", test::tablepulse_binary(), db, path));
  ASSERT_EQ(again.status, 0) << again.out;
  json summary = json::parse(again.out.substr(again.out.rfind("\n{") + 1), nullptr, false);
  EXPECT_EQ(summary["lines"], 0) << again.out;
  EXPECT_EQ(summary["resumed_from_checkpoint"], cut[4] - cut[3]) << again.out;

  // Replaced while no consumer ran, by a longer file: read from its start, not from the stale
  // offset (which would skip its first lines).
  std::filesystem::remove(path);
  write_lines(path, lines, cut[0], cut[4], false);
  auto replaced = test::run_command(
      fmt::format("{} ingest -q --db {} {} 2>/dev/null", test::tablepulse_binary(), db, path));
  ASSERT_EQ(replaced.status, 0) << replaced.out;
  summary = json::parse(replaced.out.substr(replaced.out.rfind("\n{") + 1), nullptr, false);
  EXPECT_EQ(summary["lines"], lines.size()) << replaced.out;
  EXPECT_EQ(summary["inserted"], 0) << replaced.out;  // all of them stored before
  EXPECT_EQ(summary["resumed_from_checkpoint"], 0) << replaced.out;
  EXPECT_EQ(totals_of(db), totals_of(clean));
}

// --match-ms sets how often a live stream's match step, and with it the checkpoint, runs: the
// same trickle (50 lines every 300 ms for 3.6 s, --batch-ms 50: a batch each) is checkpointed
// about once a second by default (four waiting batches would end the wait sooner) and about
// once a batch with --match-ms 100 (the match step feeds wait times and turnover; DESIGN §7
// weighs the freshness against the CPU). One checkpoint insert is one committed_at in
// ingest_batches.
TEST(EngineFollow, MatchMsSetsHowOftenALiveStreamIsCheckpointed) {
  test::TempDir dir;
  const std::string all = dir.str() + "/all.jsonl";
  ASSERT_EQ(test::generate_events(all, 700, 9).status, 0);
  const auto lines = read_lines(all);
  constexpr size_t kChunks = 12, kChunkLines = 50;
  ASSERT_GE(lines.size(), kChunks * kChunkLines);
  auto checkpoints = [&](int match_ms) -> int64_t {
    const std::string path = fmt::format("{}/live-{}.jsonl", dir.str(), match_ms);
    const std::string db = fmt::format("{}/db-{}", dir.str(), match_ms);
    write_lines(path, lines, 0, 0, false);
    test::ServeProcess serve = test::start_serve(fmt::format(
        "--db {} --source {} --follow --batch-ms 50 --match-ms {}", db, path, match_ms));
    EXPECT_GT(serve.port, 0) << serve.first_line;
    if (serve.port <= 0) return -1;
    for (size_t chunk = 0; chunk < kChunks; ++chunk) {
      write_lines(path, lines, chunk * kChunkLines, (chunk + 1) * kChunkLines, true);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    httplib::Client client("127.0.0.1", serve.port);
    EXPECT_EQ(wait_for(client, kChunks * kChunkLines), kChunks * kChunkLines);
    EXPECT_EQ(test::stop_serve(serve), 0) << serve.first_line;
    auto count = test::run_command(fmt::format(
        "{} sql --db {} \"SELECT toInt64(uniqExact(committed_at)) AS n FROM ingest_batches\"",
        test::tablepulse_binary(), db));
    EXPECT_EQ(count.status, 0) << count.out;
    return json::parse(count.out, nullptr, false).value("n", int64_t{-1});
  };
  const int64_t by_default = checkpoints(1000);
  const int64_t often = checkpoints(100);
  RecordProperty("checkpoints_by_default", std::to_string(by_default));
  RecordProperty("checkpoints_at_100ms", std::to_string(often));
  EXPECT_GE(by_default, 1);
  EXPECT_LE(by_default, 6) << "3.6 s of writing and the catch-up: about one a second";
  EXPECT_GE(often, 2 * by_default) << "by default " << by_default;
}

}  // namespace
}  // namespace tp
