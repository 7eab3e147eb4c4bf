// The consumer's pieces, each on its own (no engine): dead letters, late detection, the
// database deduplication, checkpoint rows, the retrier and the pipeline stage.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "clickhouse/error_codes.h"
#include "ingest/checkpoints.h"
#include "ingest/database_retries.h"
#include "ingest/dead_letters.h"
#include "ingest/id_lookup.h"
#include "ingest/late_events.h"
#include "ingest/stage.h"
#include "source/line_reader.h"
#include "test_support.h"

namespace tp::ingest {
namespace {

using nlohmann::json;

std::vector<json> records(const std::string& path) {
  std::ifstream in(path);
  std::vector<json> out;
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

PendingReject reject(uint64_t line_number, std::string line = "{oops", std::string reason = "not_json") {
  PendingReject r;
  r.line = std::move(line);
  r.reason = std::move(reason);
  r.detail = "detail";
  r.line_number = line_number;
  r.line_bytes = r.line.size();
  return r;
}

TEST(DeadLetters, RecordKeepsExactBytesAndSaysWhenCut) {
  PendingReject binary = reject(3, std::string("a\xff\x00z", 4));
  binary.line_bytes = 10'000;  // the line was longer: only its prefix is kept
  json record = json::parse(dead_letter_record(binary, "file:/x"));
  EXPECT_EQ(record["line"].get<std::string>(), std::string("a\xEF\xBF\xBD\0z", 6));
  EXPECT_EQ(record["line_base64"], "Yf8Aeg==");
  EXPECT_EQ(record["truncated"], true);
  EXPECT_EQ(record["line_bytes"], 10'000);
  EXPECT_EQ(record["source"], "file:/x");
  EXPECT_EQ(record["line_number"], 3);
  json plain = json::parse(dead_letter_record(reject(4), "file:/x"));
  EXPECT_FALSE(plain.contains("line_base64"));
  EXPECT_FALSE(plain.contains("truncated"));
  EXPECT_EQ(plain["line"], "{oops");
}

TEST(DeadLetters, KeptPrefixNeverSplitsACharacter) {
  std::string line(source::kKeptLineBytes - 1, 'a');
  line += "\xC3\xA9tail";  // é across the limit
  EXPECT_EQ(kept_prefix(line).size(), source::kKeptLineBytes - 1);
  EXPECT_EQ(kept_prefix("short"), "short");
}

TEST(DeadLetters, CapDropsAndCountsWhatDoesNotFit) {
  test::TempDir dir;
  const std::string path = dir.str() + "/dlq.jsonl";
  const size_t one = dead_letter_record(reject(1), "s").size();
  auto file = DeadLetterFile::open(path, 2 * one + one / 2);
  ASSERT_TRUE(file.ok());
  auto dropped = file.value()->write("s", {reject(1), reject(2), reject(3)});
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped.value(), 1u);
  dropped = file.value()->write("s", {reject(4)});
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped.value(), 1u);  // the cap counts earlier records of the file
  EXPECT_EQ(records(path).size(), 2u);
}

TEST(DeadLetters, AReplayDoesNotWriteALineTwiceAndDropsAnUnfinishedRecord) {
  test::TempDir dir;
  const std::string path = dir.str() + "/dlq.jsonl";
  {
    std::ofstream out(path);
    out << dead_letter_record(reject(5), "file:/a") << dead_letter_record(reject(9), "file:/a")
        << dead_letter_record(reject(12), "file:/b") << R"({"line":"cut by a kill)";
  }
  auto file = DeadLetterFile::open(path, 0);
  ASSERT_TRUE(file.ok());
  // The checkpoint of file:/a is after line 6: line 9 was written by the killed run.
  ASSERT_TRUE(file.value()->remember_written_beyond("file:/a", 6).ok());
  ASSERT_TRUE(file.value()->write("file:/a", {reject(7), reject(9), reject(10)}).ok());
  std::vector<uint64_t> lines;
  for (const json& r : records(path)) lines.push_back(r["line_number"]);
  EXPECT_EQ(lines, (std::vector<uint64_t>{5, 9, 12, 7, 10}));
  // Another source's lines of the same numbers are written.
  file.value()->forget_written();
  ASSERT_TRUE(file.value()->write("file:/a", {reject(9)}).ok());
  EXPECT_EQ(records(path).size(), 6u);
}

TEST(LateEvents, MoreThanSixtySecondsBehindTheRestaurantsLatestIsLate) {
  LateDetector late;
  late.seed({{"r-1", 1'000'000}});
  auto pass = late.begin();
  EXPECT_FALSE(pass.observe("r-1", 1'000'000 - kLateThresholdMs));  // exactly 60 s: not late
  EXPECT_TRUE(pass.observe("r-1", 1'000'000 - kLateThresholdMs - 1));
  EXPECT_FALSE(pass.observe("r-2", 5));  // a restaurant's first event is never late
  EXPECT_FALSE(pass.observe("r-2", 2'000'000));
  EXPECT_TRUE(pass.observe("r-2", 1'000'000));  // behind its own later neighbour
  late.apply(pass);
  EXPECT_EQ(late.high_water_mark("r-2"), 2'000'000);
  EXPECT_EQ(late.high_water_mark("r-1"), 1'000'000);
}

TEST(LateEvents, AFailedAttemptsPassChangesNothing) {
  LateDetector late;
  late.seed({{"r-1", 1'000'000}});
  {
    auto failed = late.begin();
    EXPECT_FALSE(failed.observe("r-1", 9'000'000));
  }  // dropped: the batch did not commit
  auto retry = late.begin();
  EXPECT_FALSE(retry.observe("r-1", 980'000));  // still measured against the seed only
  EXPECT_EQ(late.high_water_mark("r-1"), 1'000'000);
}

// A client that answers the id lookup from a fixed set of stored rows and records the queries.
class LookupClient final : public test::NullClient {
 public:
  Result<std::vector<std::string>> query_json_rows_with_values(
      std::string_view, const clickhouse::QueryParams& params, std::string_view,
      const std::vector<std::string_view>& values) override {
    queries.push_back({params, std::vector<std::string>(values.begin(), values.end())});
    std::vector<std::string> rows;
    for (auto value : values) {
      auto it = stored.find(std::string(value));
      if (it != stored.end()) rows.push_back(it->second.dump());
    }
    return rows;
  }
  std::map<std::string, json> stored;
  std::vector<std::pair<clickhouse::QueryParams, std::vector<std::string>>> queries;
};

PendingEvent pending(const std::string& id, int64_t ts_ms, uint64_t offset, uint64_t hash) {
  PendingEvent event;
  event.decoded.event.event_id = id;
  event.decoded.event.ts_ms = ts_ms;
  event.decoded.content_hash = hash;
  event.key = id_key(id);
  event.offset = offset;
  return event;
}

TEST(IdLookup, SearchesTheBatchsTimeRangeWidenedByTheLookbackInChunks) {
  LookupClient client;
  Batch batch;
  for (int i = 0; i < 5; ++i) {
    batch.events.push_back(pending(fmt::format("e{}", i), 1'800'000'000'000 + i * 1000, i, 1));
  }
  auto stored = find_stored(client, {&batch, 1}, 3'600'000, 2);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(client.queries.size(), 3u);  // 2 + 2 + 1 ids
  EXPECT_EQ(client.queries[2].second, (std::vector<std::string>{"e4"}));
  const auto& params = client.queries[0].first;
  EXPECT_EQ(params[0].second, format_clickhouse_ms(1'800'000'000'000 - 3'600'000));
  EXPECT_EQ(params[1].second, format_clickhouse_ms(1'800'000'004'000 + 3'600'000));
  client.queries.clear();
  ASSERT_TRUE(find_stored(client, {&batch, 1}, 0, 0).ok());
  EXPECT_EQ(client.queries.size(), 1u);  // 0: the whole batch at once
}

TEST(IdLookup, ClassifyTellsDuplicatesConflictsAndOurOwnUncommittedRows) {
  LookupClient client;
  Batch batch;
  batch.position.source_id = "file:/f";
  batch.position.committed_end = 100;
  batch.events = {pending("new", 1, 120, 7), pending("dup", 1, 130, 7),
                  pending("conflict", 1, 140, 7), pending("ours", 1, 150, 7),
                  pending("ours-committed", 1, 50, 7)};
  StoredRows stored;
  auto row = [](const char* source, uint64_t offset, uint64_t hash) {
    return json{{"source_id", source}, {"source_offset", offset}, {"content_hash", hash}};
  };
  stored[id_key("dup")] = row("file:/other", 3, 7);
  stored[id_key("conflict")] = row("file:/other", 4, 8);
  stored[id_key("ours")] = row("file:/f", 150, 7);  // a killed run stored it past the checkpoint
  stored[id_key("ours-committed")] = row("file:/f", 50, 7);  // before it: a real redelivery
  std::vector<const PendingEvent*> to_insert;
  BatchCounters counters;
  classify(batch, stored, to_insert, counters);
  std::vector<std::string> ids;
  for (const auto* event : to_insert) ids.push_back(event->decoded.event.event_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"new", "ours"}));
  EXPECT_EQ(counters.duplicates, 3u);
  EXPECT_EQ(counters.conflicting_duplicates, 1u);
}

TEST(Checkpoints, RowHasEveryCounterAndWhereTheBatchEnds) {
  InsertedBatch inserted;
  inserted.batch.position = {"file:/f#2", "2049:77", 0, 900, 12, std::string("a\n\xff", 3)};
  inserted.batch.start_offset = 400;
  inserted.counters.lines = 12;
  inserted.counters.rejected = 2;
  inserted.counters.rejected_by_reason["not_json"] = 2;
  inserted.counters.late_events = 1;
  inserted.min_ts = 1'800'000'000'000;
  inserted.max_ts = 1'800'000'001'000;
  json row = json::parse(checkpoint_row(inserted, "run-1"));
  const json counters = inserted.counters.to_json();
  for (const auto& [key, value] : counters.items()) {
    EXPECT_EQ(row[key], value) << key;
  }
  EXPECT_EQ(row["source_id"], "file:/f#2");
  EXPECT_EQ(row["start_offset"], 400);
  EXPECT_EQ(row["end_offset"], 900);
  EXPECT_EQ(row["end_line"], 12);
  EXPECT_EQ(row["file_identity"], "2049:77");
  EXPECT_EQ(row["end_tail"], "610aff");
  EXPECT_EQ(from_hex(row["end_tail"].get<std::string>()), std::string("a\n\xff", 3));
  EXPECT_EQ(row["run_id"], "run-1");
  EXPECT_EQ(row["min_event_ts"], format_clickhouse_ms(1'800'000'000'000));
}

TEST(DatabaseRetries, AnOutageIsVisibleWhileItLastsAndClearedAfter) {
  IngestStats stats;
  std::atomic<bool> stop{false};
  clickhouse::RetryPolicy policy;
  policy.first_backoff_ms = 20;
  policy.jitter = 0;
  DatabaseRetrier retrier(policy, stats, stop);
  int calls = 0;
  int retrying_seen = 0;
  Status status = retrier.run("test", [&]() -> Status {
    {
      std::lock_guard lock(stats.mutex);
      retrying_seen = std::max(retrying_seen, stats.database_retrying);
    }
    if (++calls < 4) return make_error(ErrorCode::kUnavailable, "down");
    return {};
  });
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(retrying_seen, 1);
  EXPECT_EQ(stats.insert_failures.load(), 3u);
  EXPECT_EQ(stats.database_retries.load(), 3u);
  std::lock_guard lock(stats.mutex);
  EXPECT_EQ(stats.database_retrying, 0);
  EXPECT_EQ(stats.database_failing_since_ms, 0);
  EXPECT_EQ(stats.last_database_error, "unavailable");
}

TEST(DatabaseRetries, APermanentFailureIsCountedNotRetried) {
  IngestStats stats;
  std::atomic<bool> stop{false};
  DatabaseRetrier retrier({}, stats, stop);
  int calls = 0;
  Status status = retrier.run("test", [&]() -> Status {
    ++calls;
    Error error = make_error(ErrorCode::kClickHouse, "no such table");
    error.clickhouse_code = clickhouse::error_codes::UNKNOWN_TABLE;
    return error;
  });
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kClickHouse);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(stats.insert_failures.load(), 1u);
  EXPECT_EQ(stats.database_retries.load(), 0u);
  std::lock_guard lock(stats.mutex);
  EXPECT_EQ(stats.last_database_clickhouse_code, clickhouse::error_codes::UNKNOWN_TABLE);
}

// A factory of clients that do nothing: the stage needs a connection per thread.
class NullFactory final : public clickhouse::ClientFactory {
 public:
  Result<std::unique_ptr<clickhouse::Client>> connect() override {
    return std::unique_ptr<clickhouse::Client>(std::make_unique<test::NullClient>());
  }
  bool embedded() const override { return false; }
  std::string describe() const override { return "null"; }
};

TEST(PipelineStage, HandlesEveryItemInOrderAndStopsAtTheFirstFailure) {
  NullFactory factory;
  std::vector<int> seen;
  Stage<int> stage(factory, 2, std::chrono::milliseconds(0),
                   [&](clickhouse::Client&, std::vector<int>& items) -> Status {
                     for (int item : items) {
                       if (item == 5) return make_error(ErrorCode::kIo, "item 5");
                       seen.push_back(item);
                     }
                     return {};
                   });
  stage.start();
  Status submitted;
  for (int i = 0; i < 10 && submitted.ok(); ++i) submitted = stage.submit(int{i});
  Status finished = stage.finish();
  ASSERT_FALSE(finished.ok());
  EXPECT_EQ(finished.error().code, ErrorCode::kIo);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(PipelineStage, AnExceptionInTheHandlerEndsTheStageNotTheProcess) {
  NullFactory factory;
  Stage<int> stage(factory, 1, std::chrono::milliseconds(0),
                   [&](clickhouse::Client&, std::vector<int>&) -> Status {
                     throw std::runtime_error("unexpected answer");
                   });
  stage.start();
  (void)stage.submit(1);
  Status finished = stage.finish();
  ASSERT_FALSE(finished.ok());
  EXPECT_EQ(finished.error().code, ErrorCode::kInternal);
}

}  // namespace
}  // namespace tp::ingest
