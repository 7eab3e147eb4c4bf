// Golden ingest cases (tests/cases/*.jsonl): summary, dead letters and stored rows must match
// the reviewed NAME.expected.json. TABLEPULSE_BLESS=1 rewrites the expectations.
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "test_support.h"

namespace tp {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

const fs::path kCases = fs::path(TABLEPULSE_SOURCE_DIR) / "tests/cases";

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kCases)) {
    if (entry.path().extension() == ".jsonl") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string last_line(const std::string& text) {
  std::string trimmed = text;
  while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
  size_t at = trimmed.rfind('\n');
  return at == std::string::npos ? trimmed : trimmed.substr(at + 1);
}

class EngineGolden : public testing::TestWithParam<std::string> {};

TEST_P(EngineGolden, MatchesExpected) {
  const std::string name = GetParam();
  test::TempDir dir;
  const fs::path input = kCases / (name + ".jsonl");
  const fs::path dlq = dir.path() / "dlq.jsonl";
  std::string args;
  if (fs::exists(kCases / (name + ".args"))) args = read_file(kCases / (name + ".args"));
  while (!args.empty() && args.back() == '\n') args.pop_back();
  // The fixtures carry fixed dates (the brief's examples are of 2025-10-29): the longest
  // retention migrate accepts (2228 days, see clickhouse::kMaxTtlDays) keeps them inside it
  // until 2031-12; reject_expired.jsonl holds events older than that from any day on.
  auto retention = test::run_command(fmt::format("{} migrate --db {} --ttl-days 2228 2>&1",
                                                 test::tablepulse_binary(),
                                                 (dir.path() / "db").string()));
  ASSERT_EQ(retention.status, 0) << retention.out;
  std::string command = fmt::format("{} ingest --db {} --dlq {} -q {} {} 2>/dev/null",
                                    test::tablepulse_binary(), (dir.path() / "db").string(),
                                    dlq.string(), args, input.string());
  auto run = test::run_command(command);
  ASSERT_EQ(run.status, 0) << run.out;

  ordered_json actual;
  ordered_json summary = ordered_json::parse(last_line(run.out));
  summary.erase("seconds");
  actual["summary"] = summary;
  actual["dead_letters"] = ordered_json::array();
  std::ifstream dead(dlq);
  for (std::string line; std::getline(dead, line);) {
    auto entry = ordered_json::parse(line);
    EXPECT_FALSE(entry["detail"].get<std::string>().empty());
    EXPECT_EQ(entry["source"], "file:" + input.string());
    actual["dead_letters"].push_back(
        {{"line_number", entry["line_number"]}, {"reason", entry["reason"]}});
  }
  // Every non-blank line is accounted for.
  EXPECT_EQ(summary["lines"].get<int>(),
            summary["inserted"].get<int>() + summary["duplicates"].get<int>() +
                summary["rejected"].get<int>());
  EXPECT_EQ(summary["rejected"].get<size_t>(), actual["dead_letters"].size());

  // The same file again, from the start: nothing new is stored, every valid line is a duplicate.
  auto again = test::run_command(fmt::format("{} ingest --db {} -q --no-resume {} {} 2>/dev/null",
                                             test::tablepulse_binary(),
                                             (dir.path() / "db").string(), args, input.string()));
  ASSERT_EQ(again.status, 0) << again.out;
  auto second = ordered_json::parse(last_line(again.out));
  EXPECT_EQ(second["inserted"], 0);
  EXPECT_EQ(second["duplicates"].get<int>(),
            summary["inserted"].get<int>() + summary["duplicates"].get<int>());

  auto factory = clickhouse::open_embedded({(dir.path() / "db").string(), ""});
  ASSERT_TRUE(factory.ok()) << factory.error().to_string();
  auto client = factory.value()->connect();
  ASSERT_TRUE(client.ok());
  auto rows = client.value()->query_json_rows(
      "SELECT toString(event_id) AS event_id, toString(event_type) AS event_type, "
      "toString(ts) AS ts, restaurant_id, table_id, order_id, party_size, "
      "arrayMap(i -> (i.item_id, i.quantity, toString(i.price)), items) AS items, "
      "toString(subtotal) AS subtotal, toString(tax) AS tax, toString(tip) AS tip, "
      "toString(total_amount) AS total_amount, payment_method, kitchen_time_minutes "
      "FROM events FINAL ORDER BY ts, event_id");
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  actual["stored"] = ordered_json::array();
  for (const auto& row : rows.value()) actual["stored"].push_back(ordered_json::parse(row));

  const fs::path expected_path = kCases / (name + ".expected.json");
  if (std::getenv("TABLEPULSE_BLESS") != nullptr) {
    std::ofstream(expected_path) << actual.dump(2) << "\n";
    GTEST_SKIP() << "blessed " << expected_path;
  }
  ASSERT_TRUE(fs::exists(expected_path)) << "missing " << expected_path;
  auto expected = ordered_json::parse(read_file(expected_path));
  EXPECT_EQ(actual["summary"], expected["summary"]) << actual["summary"].dump(2);
  EXPECT_EQ(actual["dead_letters"], expected["dead_letters"]) << actual["dead_letters"].dump(2);
  EXPECT_EQ(actual["stored"], expected["stored"]) << actual["stored"].dump(2);
}

INSTANTIATE_TEST_SUITE_P(Cases, EngineGolden, testing::ValuesIn(case_names()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace tp
