// Files written the way real producers of the brief's events write them, ingested in full.
// The producers are independent of TablePulse: tests/producers/python_kit_producer.py writes
// what the exercise's own Python tooling writes (datetime.now().isoformat(), uuid4, floats).
#include <nlohmann/json.hpp>

#include "common/time.h"
#include "test_support.h"

namespace tp {
namespace {

using nlohmann::json;

json last_json_line(const std::string& text) {
  size_t end = text.find_last_not_of('\n');
  size_t start = text.rfind('\n', end);
  return json::parse(text.substr(start == std::string::npos ? 0 : start + 1));
}

TEST(EngineProducers, PythonKitFileIsAcceptedInFull) {
  test::TempDir dir;
  const std::string file = (dir.path() / "sample_events.jsonl").string();
  auto produced = test::run_command(fmt::format(
      "TZ=UTC python3 {}/tests/producers/python_kit_producer.py {} 398 3", TABLEPULSE_SOURCE_DIR, file));
  ASSERT_EQ(produced.status, 0) << produced.out;
  json written = last_json_line(produced.out);
  auto run = test::run_command(fmt::format("{} ingest -q --db {} --dlq {} {}",
                                           test::tablepulse_binary(), dir.str() + "/db",
                                           dir.str() + "/dlq.jsonl", file));
  ASSERT_EQ(run.status, 0) << run.out;
  json summary = last_json_line(run.out);
  EXPECT_EQ(summary["rejected"], 0) << summary.dump();
  EXPECT_EQ(summary["inserted"], written["events"]);
  EXPECT_EQ(summary["duplicates"].get<int>(), written["lines"].get<int>() - written["events"].get<int>());
  EXPECT_EQ(summary["naive_timestamps"], written["events"]);  // isoformat() writes no zone
  // Every payment counts: revenue over the whole span equals the producer's own exact sum.
  auto revenue = test::run_command(fmt::format(
      "{} query revenue --db {} --window 6h --as-of {} --format json", test::tablepulse_binary(),
      dir.str() + "/db", format_iso_ms(now_ms() + 3 * 3600 * 1000)));
  ASSERT_EQ(revenue.status, 0) << revenue.out;
  int64_t cents = 0;
  for (const auto& row : json::parse(revenue.out)) {
    cents += std::llround(row["revenue"].get<double>() * 100);
  }
  EXPECT_EQ(cents, std::llround(std::stod(written["revenue"].get<std::string>()) * 100));
}

}  // namespace
}  // namespace tp
