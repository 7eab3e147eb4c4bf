// The counter registry (ingest/counters.h) is the one list every report is made from: these
// tests fail when a place forgets a counter or spells it in its own way.
#include "ingest/counters.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "clickhouse/schema.h"
#include "ingest/stats.h"
#include "server/prometheus.h"
#include "test_support.h"

namespace tp {
namespace {

// The registry's field names, in order.
std::vector<std::string> counter_fields() {
  std::vector<std::string> fields;
#define TP_NAME(field, dq_name, prometheus_name, help) fields.push_back(#field);
  TP_BATCH_COUNTERS(TP_NAME)
#undef TP_NAME
  return fields;
}

TEST(Counters, AddAndJsonCoverEveryCounter) {
  ingest::BatchCounters a, b;
  uint64_t value = 1;
#define TP_SET(field, dq_name, prometheus_name, help) \
  a.field = value;                                    \
  b.field = 100 * value++;
  TP_BATCH_COUNTERS(TP_SET)
#undef TP_SET
  a.rejected_by_reason["not_json"] = 1;
  b.rejected_by_reason["not_json"] = 2;
  b.rejected_by_reason["expired"] = 5;
  a += b;
  nlohmann::json json = a.to_json();
  uint64_t expected = 1;
  for (const std::string& field : counter_fields()) {
    ASSERT_TRUE(json.contains(field)) << field;
    EXPECT_EQ(json[field].get<uint64_t>(), 101 * expected++) << field;
  }
  EXPECT_EQ(json["rejected_by_reason"], (nlohmann::json{{"expired", 5}, {"not_json", 3}}));
  EXPECT_EQ(json.size(), counter_fields().size() + 1);
}

// The data-quality fields of the metrics spec (../shared/spec/metrics.md, its table).
const std::set<std::string> kSpecDataQualityFields = {
    "events",         "duplicates",     "rejected",           "late_events",
    "subtotal_mismatch", "total_mismatch", "conflicting_duplicates", "naive_timestamps"};

TEST(Counters, DataQualityQueryHasEveryFieldOfTheSpec) {
  const std::string select = ingest::data_quality_select_list();
  std::set<std::string> selected;
  std::regex alias(R"(AS ([a-z_]+))");
  for (std::sregex_iterator it(select.begin(), select.end(), alias), end; it != end; ++it) {
    selected.insert((*it)[1]);
  }
  std::set<std::string> expected = kSpecDataQualityFields;
  expected.insert("rejected_by_reason");
  EXPECT_EQ(selected, expected) << select;
}

// Where the spec is checked out next to the project (developers' machines, CI), the list above
// is its table.
TEST(Counters, SpecDataQualityTableIsTheListAbove) {
  std::ifstream in(std::string(TABLEPULSE_SOURCE_DIR) + "/../shared/spec/metrics.md");
  if (!in) GTEST_SKIP() << "no ../shared/spec/metrics.md next to the source tree";
  std::string spec((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t from = spec.find("## data-quality");
  ASSERT_NE(from, std::string::npos);
  const size_t to = spec.find("\n## ", from + 1);
  std::string section = spec.substr(from, to == std::string::npos ? std::string::npos : to - from);
  std::set<std::string> spec_fields;
  std::regex row(R"(\n\| ([a-z_, ]+) \|)");
  std::regex name("[a-z_]+");
  for (std::sregex_iterator it(section.begin(), section.end(), row), end; it != end; ++it) {
    std::string names = (*it)[1];
    for (std::sregex_iterator n(names.begin(), names.end(), name); n != end; ++n) {
      if (n->str() != "field") spec_fields.insert(n->str());
    }
  }
  EXPECT_EQ(spec_fields, kSpecDataQualityFields) << section;
}

TEST(Counters, EveryExportedCounterIsOnMetrics) {
  ingest::IngestStats stats;
  uint64_t value = 7;
#define TP_SET(field, dq_name, prometheus_name, help) stats.field = value++;
  TP_BATCH_COUNTERS(TP_SET)
#undef TP_SET
  server::QueryLatencies latencies;
  const std::string text = server::render_prometheus(stats, latencies, 0, 0);
  value = 7;
#define TP_CHECK(field, dq_name, prometheus_name, help)                                        \
  if (std::string_view(prometheus_name).size() > 0) {                                       \
    EXPECT_NE(text.find(fmt::format("\n{} {}\n", prometheus_name, value)), std::string::npos) \
        << #field;                                                                           \
    EXPECT_NE(text.find(fmt::format("# HELP {} ", prometheus_name)), std::string::npos);     \
  }                                                                                          \
  ++value;
  TP_BATCH_COUNTERS(TP_CHECK)
#undef TP_CHECK
}

// Each counter is a column of the checkpoint table, which the data-quality query sums.
TEST(EngineCounters, EveryCounterIsAColumnOfIngestBatches) {
  auto client = test::embedded_client();
  ASSERT_TRUE(clickhouse::migrate(*client, {}).ok());
  auto rows = client->query_json_rows(
      "SELECT name FROM system.columns WHERE database = currentDatabase() "
      "AND table = 'ingest_batches'");
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  std::set<std::string> columns;
  for (const auto& row : rows.value()) columns.insert(nlohmann::json::parse(row)["name"]);
  for (const std::string& field : counter_fields()) {
    EXPECT_TRUE(columns.count(field)) << field << " is not a column of ingest_batches";
  }
  EXPECT_TRUE(columns.count("rejected_by_reason"));
}

}  // namespace
}  // namespace tp
