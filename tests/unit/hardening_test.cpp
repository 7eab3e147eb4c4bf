// Defects a reliability probe found (issue "Hardening the consumer and the server"), each
// pinned by the case that showed it.
#include <sys/stat.h>

#include <httplib.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include "clickhouse/schema.h"
#include "common/time.h"
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

// `serve` takes the consumer's flags from the one definition `ingest` uses: it refused
// --batch-ms, --max-line-bytes, --no-resume … as unknown (CLI11's 109) and did not check
// --dedup-memory against --batch-rows. Each value must now meet the same answer from both.
TEST(CliFlags, ServeTakesAndChecksTheConsumerFlagsOfIngest) {
  test::TempDir dir;
  auto run = [&](const std::string& command, const std::string& args) {
    const std::string sources = command == "ingest" ? "-q /dev/null" : "--listen 127.0.0.1:0";
    return test::run_command(fmt::format("timeout 30 {} {} --db {} {} {} 2>&1 </dev/null",
                                         test::tablepulse_binary(), command, dir.str(), sources,
                                         args));
  };
  constexpr int kNotExpected = 109;  // CLI11's ExtrasError: an option the command lacks
  for (const std::string& refused :
       {std::string("--dedup-memory 10 --batch-rows 100"), std::string("--batch-ms 0"),
        std::string("--match-ms 0"), std::string("--batch-rows 0"),
        std::string("--max-line-bytes 10"), std::string("--retry-for soon"),
        std::string("--default-timezone Not/AZone")}) {
    auto ingest = run("ingest", refused);
    auto serve = run("serve", refused);
    EXPECT_NE(ingest.status, 0) << refused << "\n" << ingest.out;
    EXPECT_NE(ingest.status, kNotExpected) << refused << "\n" << ingest.out;
    EXPECT_EQ(serve.status, ingest.status) << refused << "\n" << serve.out;
  }
  auto serve = run("serve", "--dedup-memory 10 --batch-rows 100");
  EXPECT_EQ(serve.status, 2) << serve.out;  // invalid_argument, before the engine opens
  EXPECT_NE(serve.out.find("--dedup-memory"), std::string::npos) << serve.out;
  // Every consumer flag parses; the unknown zone, checked last before the database opens,
  // shows the command got that far.
  const std::string accepted =
      "--batch-ms 5 --match-ms 5 --batch-rows 10 --dedup-memory 10 --dedup-lookback-ms 1000 "
      "--max-line-bytes 100 --no-resume --retry-for 2s -f --dlq " +
      dir.str() + "/dlq --dlq-max-bytes 0 --default-timezone Not/AZone";
  for (const char* command : {"ingest", "serve"}) {
    auto result = run(command, accepted);
    EXPECT_EQ(result.status, 2) << command << "\n" << result.out;
    EXPECT_NE(result.out.find("Not/AZone"), std::string::npos) << command << "\n" << result.out;
  }
  // The defaults that differ by command are stated in each one's help: serve's batches are
  // younger (its page's freshness), ingest's larger (less CPU per event).
  auto ingest_help = test::run_command(test::tablepulse_binary() + " ingest --help");
  EXPECT_NE(ingest_help.out.find("default 5m, forever with --follow"), std::string::npos)
      << ingest_help.out;
  EXPECT_NE(ingest_help.out.find("--batch-ms INT:INT in [1 - 3600000]=1000"), std::string::npos)
      << ingest_help.out;
  auto serve_help = test::run_command(test::tablepulse_binary() + " serve --help");
  EXPECT_NE(serve_help.out.find("or forever; default forever"), std::string::npos)
      << serve_help.out;
  EXPECT_NE(serve_help.out.find("--batch-ms INT:INT in [1 - 3600000]=250"), std::string::npos)
      << serve_help.out;
}

// `toDateTime(ts) + INTERVAL N DAY` wraps past DateTime's last second (2106-02-07) for a large
// N: `migrate --ttl-days 36500` made every row expire at once.
TEST(CliFlags, RetentionPastTheDateTimeRangeIsRefused) {
  test::TempDir dir;
  const std::string db = dir.str() + "/db";
  for (const std::string& command : {"migrate --db " + db, std::string("schema")}) {
    for (int days : {36500, 2229, 0}) {
      auto run = test::run_command(fmt::format("{} {} --ttl-days {} 2>&1 >/dev/null",
                                               test::tablepulse_binary(), command, days));
      EXPECT_EQ(run.status, 2) << command << " " << days << "\n" << run.out;  // invalid_argument
      EXPECT_NE(run.out.find("invalid_argument"), std::string::npos) << run.out;
    }
  }
}

// The longest retention the bound allows is applied (this one opens the engine).
TEST(EngineRetention, TheLongestRetentionTheBoundAllowsIsApplied) {
  test::TempDir dir;
  auto longest = test::run_command(fmt::format("{} migrate --db {} --ttl-days 2228 2>&1",
                                               test::tablepulse_binary(), dir.str() + "/db"));
  EXPECT_EQ(longest.status, 0) << longest.out;
}

// Lines of random bytes (no newline), `sizes` long each, into `path`; returns the lines.
std::vector<std::string> write_garbage(const std::string& path, const std::vector<size_t>& sizes) {
  std::mt19937 random(519);
  std::vector<std::string> lines;
  std::ofstream out(path, std::ios::binary);
  for (size_t size : sizes) {
    std::string line;
    while (line.size() < size) {
      char byte = static_cast<char>(random() & 0xff);
      if (byte != '\n' && byte != '\r') line.push_back(byte);
    }
    out << line << '\n';
    lines.push_back(std::move(line));
  }
  return lines;
}

// The summary: the last line of an ingest's stdout.
json summary_of(const std::string& out) {
  size_t end = out.find_last_not_of('\n');
  size_t start = out.rfind('\n', end);
  return json::parse(out.substr(start == std::string::npos ? 0 : start + 1));
}

// Decodes standard base64 (the dead-letter file's line_base64).
std::string unbase64(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    bits = (bits << 6) | static_cast<uint32_t>(kAlphabet.find(c));
    if ((count += 6) >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

// The dead-letter file's records.
std::vector<json> dead_letters(const std::string& path) {
  std::vector<json> records;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) records.push_back(json::parse(line));
  return records;
}

// A refused line was copied whole into the dead-letter file (binary garbage twice: a readable
// copy and base64): 2 s of /dev/urandom made 519 MB. Each record keeps the first 4096 bytes.
TEST(EngineDeadLetters, RefusedLinesAreKeptUpToTheirFirst4096Bytes) {
  test::TempDir dir;
  const std::string input = dir.str() + "/garbage.bin";
  const std::string dlq = dir.str() + "/dlq.jsonl";
  auto lines = write_garbage(input, {100, 4096, 4097, 60000, 500000});
  {
    // Valid UTF-8, not JSON: cut on a character boundary (é is two bytes; 4096 falls inside one).
    std::string text = "x";
    while (text.size() < 9000) text += "\xC3\xA9";
    std::ofstream(input, std::ios::app) << text << "\n";
    lines.push_back(text);
  }
  auto run = test::run_command(fmt::format("{} ingest -q --db {} --dlq {} {}",
                                           test::tablepulse_binary(), dir.str() + "/db", dlq,
                                           input));
  ASSERT_EQ(run.status, 0) << run.out;
  json summary = summary_of(run.out);
  EXPECT_EQ(summary["rejected"], lines.size()) << summary.dump();
  auto records = dead_letters(dlq);
  ASSERT_EQ(records.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const json& record = records[i];
    const std::string& original = lines[i];
    EXPECT_EQ(record["line_number"], i + 1);
    const bool utf8 = !record.contains("line_base64");
    const std::string kept =
        utf8 ? record["line"].get<std::string>() : unbase64(record["line_base64"]);
    EXPECT_LE(kept.size(), 4096u) << "line " << i + 1;
    EXPECT_EQ(original.compare(0, kept.size(), kept), 0) << "line " << i + 1;  // a prefix
    if (original.size() > 4096) {
      EXPECT_EQ(record.value("truncated", false), true) << "line " << i + 1;
      EXPECT_EQ(record.value("line_bytes", 0u), original.size()) << "line " << i + 1;
      EXPECT_GE(kept.size(), 4093u) << "line " << i + 1;  // at most a partial character less
    } else {
      EXPECT_EQ(kept, original) << "line " << i + 1;
      EXPECT_FALSE(record.contains("truncated")) << "line " << i + 1;
    }
  }
  EXPECT_FALSE(records.back().contains("line_base64"));  // the cut kept it valid UTF-8
}

// Past --dlq-max-bytes (the file's size, over runs) records are counted, not written; every
// line is still counted as rejected with its reason.
TEST(EngineDeadLetters, RecordsPastTheFileCapAreCountedNotWritten) {
  test::TempDir dir;
  const std::string input = dir.str() + "/garbage.bin";
  const std::string dlq = dir.str() + "/dlq.jsonl";
  constexpr uint64_t kCap = 50000;
  write_garbage(input, std::vector<size_t>(300, 300));
  const std::string ingest =
      fmt::format("{} ingest -q --no-resume --db {} --dlq {} --dlq-max-bytes {} {}",
                  test::tablepulse_binary(), dir.str() + "/db", dlq, kCap, input);
  auto first = test::run_command(ingest);
  ASSERT_EQ(first.status, 0) << first.out;
  json summary = summary_of(first.out);
  EXPECT_EQ(summary["lines"], 300);
  EXPECT_EQ(summary["rejected"], 300) << summary.dump();
  const size_t written = dead_letters(dlq).size();
  EXPECT_GT(written, 0u);
  EXPECT_LT(written, 300u);
  EXPECT_EQ(summary["dead_letters_dropped"], 300 - written) << summary.dump();
  const auto size = std::filesystem::file_size(dlq);
  EXPECT_LE(size, kCap);
  EXPECT_GT(size, kCap - 3000);  // filled up to the cap (a record is under 3 kB here)

  auto second = test::run_command(ingest);  // the file is full: everything is dropped
  ASSERT_EQ(second.status, 0) << second.out;
  summary = summary_of(second.out);
  EXPECT_EQ(summary["rejected"], 300) << summary.dump();
  EXPECT_EQ(summary["dead_letters_dropped"], 300) << summary.dump();
  EXPECT_EQ(std::filesystem::file_size(dlq), size);

  // 0: no cap.
  auto unlimited = test::run_command(fmt::format(
      "{} ingest -q --no-resume --db {} --dlq {} --dlq-max-bytes 0 {}", test::tablepulse_binary(),
      dir.str() + "/db", dlq, input));
  ASSERT_EQ(unlimited.status, 0) << unlimited.out;
  summary = summary_of(unlimited.out);
  EXPECT_EQ(summary["dead_letters_dropped"], 0) << summary.dump();
  EXPECT_EQ(dead_letters(dlq).size(), written + 300);
}

// The ingest-time test is the TTL's own rule: a row expires once toDateTime(ts) + N days, in
// whole seconds, is at or before the current second.
TEST(Retention, ExpiryIsTheTtlRuleToTheSecond) {
  constexpr int64_t kDay = 86'400'000;
  const int64_t ts = 1'795'518'000'123;  // 2026-11-24T11:00:00.123Z
  EXPECT_FALSE(clickhouse::expired_by_ttl(ts, 400, ts + 400 * kDay - 124));  // second before
  EXPECT_TRUE(clickhouse::expired_by_ttl(ts, 400, ts - 123 + 400 * kDay));   // that second
  EXPECT_TRUE(clickhouse::expired_by_ttl(ts, 400, ts + 401 * kDay));
  EXPECT_FALSE(clickhouse::expired_by_ttl(ts, 400, ts));
  EXPECT_EQ(clickhouse::kMaxTtlDays, 2228);
  EXPECT_TRUE(clickhouse::check_ttl_days(clickhouse::kMaxTtlDays).ok());
  EXPECT_EQ(clickhouse::check_ttl_days(clickhouse::kMaxTtlDays + 1).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(clickhouse::check_ttl_days(0).error().code, ErrorCode::kInvalidArgument);
}

// What the engine does with the tables' TTL expression: rows past the retention go at the next
// merge, the rest stay; and kMaxTtlDays is the longest retention that does not wrap DateTime
// for the latest accepted event time (one day more deletes that row at once).
TEST(EngineRetention, TheEngineDeletesWhatExpiredByTtlSays) {
  auto client = test::embedded_client();
  auto table = [&](const std::string& name, int days) {
    ASSERT_TRUE(client->execute(fmt::format("DROP TABLE IF EXISTS {}", name)).ok());
    ASSERT_TRUE(client
                    ->execute(fmt::format(
                        "CREATE TABLE {} (ts DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY ts "
                        "TTL toDateTime(ts) + INTERVAL {} DAY DELETE",
                        name, days))
                    .ok());
  };
  auto survivors = [&](const std::string& name, const std::vector<int64_t>& stamps) {
    std::string rows;
    for (int64_t ms : stamps) rows += fmt::format("{{\"ts\":\"{}\"}}\n", format_clickhouse_ms(ms));
    EXPECT_TRUE(client->insert(name, "JSONEachRow", rows).ok());
    EXPECT_TRUE(client->execute(fmt::format("OPTIMIZE TABLE {} FINAL", name)).ok());
    auto left = client->query_json_rows(
        fmt::format("SELECT toUnixTimestamp64Milli(ts) AS ms FROM {} ORDER BY ts", name));
    EXPECT_TRUE(left.ok());
    std::vector<int64_t> out;
    for (const auto& row : left.value()) {
      out.push_back(nlohmann::json::parse(row)["ms"].get<int64_t>());
    }
    return out;
  };
  constexpr int kDays = 30;
  const int64_t now = now_ms();
  const int64_t expired = now - kDays * 86'400'000LL - 20'000;  // 20 s of slack for the merge
  const int64_t kept = now - kDays * 86'400'000LL + 20'000;
  table("ttl_rule", kDays);
  EXPECT_TRUE(clickhouse::expired_by_ttl(expired, kDays, now));
  EXPECT_FALSE(clickhouse::expired_by_ttl(kept, kDays, now));
  EXPECT_EQ(survivors("ttl_rule", {expired, kept}), std::vector<int64_t>{kept});

  const int64_t latest = kMaxEventTsMs - 1;  // 2099-12-31T23:59:59.999Z
  table("ttl_longest", clickhouse::kMaxTtlDays);
  EXPECT_EQ(survivors("ttl_longest", {latest}), std::vector<int64_t>{latest});
  table("ttl_wraps", clickhouse::kMaxTtlDays + 1);
  EXPECT_EQ(survivors("ttl_wraps", {latest}), std::vector<int64_t>{});
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
  auto made = test::generate_events(input, 2000, 3);
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
  ASSERT_EQ(test::generate_events(input, 500, 3).status, 0);
  test::ServeProcess serve =
      test::start_serve(fmt::format("--db {} --source {}", dir.str() + "/db", input),
                        {{"TABLEPULSE_FAULTS", "committer"}});
  ASSERT_GT(serve.port, 0) << serve.first_line;
  httplib::Client client("127.0.0.1", serve.port);
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
  EXPECT_EQ(test::stop_serve(serve), 0) << serve.first_line;
}


// A truncated column file of an events part made the engine set the part aside on start
// ("broken-on-start") and serve answered as if nothing happened: /healthz ok, the rows gone.
// Every command that works on the data now refuses such a directory unless
// --allow-broken-parts, and serve then reports the parts on /healthz, /metrics and the page.
// A database of 3000 generated events in `db` (three inserts of 1000), and the largest column
// file of its first events part; `part_name` is that part's name.
std::filesystem::path events_column_file(const test::TempDir& dir, const std::string& db,
                                         std::string& part_name) {
  const std::string input = dir.str() + "/events.jsonl";
  EXPECT_EQ(test::generate_events(input, 3000, 5).status, 0);
  auto ingested = test::run_command(fmt::format("{} ingest -q --batch-rows 1000 --db {} {} 2>&1",
                                                test::tablepulse_binary(), db, input));
  EXPECT_EQ(ingested.status, 0) << ingested.out;
  auto parts = test::run_command(fmt::format(
      "{} sql --db {} \"SELECT name, path FROM system.parts WHERE database = currentDatabase() "
      "AND table = 'events' AND active ORDER BY name\" 2>/dev/null",
      test::tablepulse_binary(), db));
  EXPECT_EQ(parts.status, 0) << parts.out;
  json part = json::parse(parts.out.substr(0, parts.out.find('\n')), nullptr, false);
  if (!part.is_object()) {
    ADD_FAILURE() << "no events part: " << parts.out;
    return {};
  }
  part_name = part["name"];
  std::filesystem::path column_file;
  for (const auto& entry : std::filesystem::directory_iterator(part["path"].get<std::string>())) {
    if (entry.path().extension() == ".bin" &&
        (column_file.empty() || entry.file_size() > std::filesystem::file_size(column_file))) {
      column_file = entry.path();
    }
  }
  EXPECT_FALSE(column_file.empty()) << part.dump();
  return column_file;
}

TEST(EngineBrokenParts, TruncatedEventsPartIsRefusedOrReported) {
  test::TempDir dir;
  const std::string input = dir.str() + "/events.jsonl";
  const std::string db = dir.str() + "/db";
  std::string part_name;
  const std::filesystem::path column_file = events_column_file(dir, db, part_name);
  ASSERT_FALSE(column_file.empty());
  std::filesystem::resize_file(column_file, std::filesystem::file_size(column_file) / 2);

  const int corrupted_exit = error_exit_status(ErrorCode::kDataCorrupted);
  for (const std::string& command :
       {fmt::format("serve --db {} --listen 127.0.0.1:0", db),
        fmt::format("ingest -q --db {} /dev/null", db),
        fmt::format("query revenue --db {} --format json", db)}) {
    auto refused = test::run_command(
        fmt::format("timeout 60 {} {} 2>&1", test::tablepulse_binary(), command));
    EXPECT_EQ(refused.status, corrupted_exit) << command << "\n" << refused.out;
    EXPECT_NE(refused.out.find("data_corrupted"), std::string::npos) << refused.out;
    EXPECT_NE(refused.out.find(part_name), std::string::npos) << refused.out;
  }

  auto allowed = test::run_command(fmt::format("{} ingest -q --allow-broken-parts --db {} {} 2>&1",
                                               test::tablepulse_binary(), db, input));
  EXPECT_EQ(allowed.status, 0) << allowed.out;

  test::ServeProcess serve = test::start_serve(fmt::format("--db {} --allow-broken-parts", db));
  ASSERT_GT(serve.port, 0) << serve.first_line;
  httplib::Client client("127.0.0.1", serve.port);
  client.set_read_timeout(30, 0);
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);  // still routed to: the data that is left is served
  json body = json::parse(health->body, nullptr, false);
  EXPECT_EQ(body.value("status", ""), "degraded") << health->body;
  ASSERT_TRUE(body.contains("broken_parts") && body["broken_parts"].is_array()) << health->body;
  ASSERT_EQ(body["broken_parts"].size(), 1u) << health->body;
  EXPECT_EQ(body["broken_parts"][0].value("table", ""), "events") << health->body;
  EXPECT_NE(body["broken_parts"][0].value("name", "").find(part_name), std::string::npos)
      << health->body;
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\ntablepulse_broken_parts 1\n"), std::string::npos)
      << metrics->body;
  std::string stream;
  client.Get("/api/v1/stream", [&](const char* data, size_t length) {
    stream.append(data, length);
    return stream.find("event: snapshot") == std::string::npos ||
           stream.find("\n\n", stream.find("event: snapshot")) == std::string::npos;
  });
  size_t data_at = stream.find("data: ", stream.find("event: snapshot"));
  ASSERT_NE(data_at, std::string::npos) << stream;
  json snapshot = json::parse(stream.substr(data_at + 6, stream.find("\n\n", data_at) - data_at - 6),
                              nullptr, false);
  ASSERT_TRUE(snapshot.is_object()) << stream;
  EXPECT_EQ(snapshot["broken_parts"].size(), 1u) << snapshot.dump();
  EXPECT_EQ(test::stop_serve(serve), 0) << serve.first_line;
}


// Bytes changed in place (file sizes intact) pass the engine's check on opening the directory;
// the queries that read the part fail. They fail as data_corrupted (not a generic ClickHouse
// error), and serve's /healthz says degraded from then on instead of ok.
TEST(EngineBrokenParts, PartChangedInPlaceFailsItsQueriesAsDataCorrupted) {
  test::TempDir dir;
  const std::string db = dir.str() + "/db";
  std::string part_name;
  const std::filesystem::path column_file = events_column_file(dir, db, part_name);
  ASSERT_FALSE(column_file.empty());
  {
    std::fstream file(column_file, std::ios::in | std::ios::out | std::ios::binary);
    const auto size = static_cast<std::streamoff>(std::filesystem::file_size(column_file));
    for (std::streamoff at = 0; at < size; at += 16) {  // every compressed block is hit
      file.seekg(at);
      char byte = static_cast<char>(file.get());
      file.seekp(at);
      file.put(static_cast<char>(byte ^ 0x5a));
    }
  }
  const std::string as_of = "2026-11-25T00:00:00Z";  // the generated day, 24 h back
  auto queried = test::run_command(
      fmt::format("timeout 60 {} query funnel --db {} --as-of {} --window 24h --format json 2>&1",
                  test::tablepulse_binary(), db, as_of));
  EXPECT_EQ(queried.status, error_exit_status(ErrorCode::kDataCorrupted)) << queried.out;
  EXPECT_NE(queried.out.find("data_corrupted"), std::string::npos) << queried.out;

  test::ServeProcess serve = test::start_serve(fmt::format("--db {}", db));
  ASSERT_GT(serve.port, 0) << serve.first_line;
  httplib::Client client("127.0.0.1", serve.port);
  client.set_read_timeout(30, 0);
  auto before = client.Get("/healthz");
  ASSERT_TRUE(before);
  EXPECT_EQ(json::parse(before->body, nullptr, false).value("status", ""), "ok") << before->body;
  auto funnel = client.Get(fmt::format("/api/v1/funnel?as_of={}&window=24h", as_of));
  ASSERT_TRUE(funnel);
  EXPECT_EQ(funnel->status, 503) << funnel->body;
  json error = json::parse(funnel->body, nullptr, false);
  EXPECT_EQ(error["error"].value("code", ""), "data_corrupted") << funnel->body;
  auto after = client.Get("/healthz");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
  json health = json::parse(after->body, nullptr, false);
  EXPECT_EQ(health.value("status", ""), "degraded") << after->body;
  EXPECT_EQ(health["error"].value("code", ""), "data_corrupted") << after->body;
  EXPECT_EQ(test::stop_serve(serve), 0) << serve.first_line;
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
