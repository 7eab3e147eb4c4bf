// POST /api/v1/events: splitting and inflating bodies, the rate limit, the write-ahead file
// (duplicates, refusals, durability, concurrency), the endpoint's statuses and reason codes over
// a fake database, and with the engine: acknowledged events survive kill -9, a retried POST is
// stored once, the brief's example events posted as an array are accepted.
// Suites Events* and ServerEvents* need no engine (and run under the sanitizers); EngineEvents*
// run `tablepulse serve` processes.
#include <fmt/core.h>
#include <httplib.h>
#include <zlib.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "common/time.h"
#include "server/events_intake.h"
#include "server/server.h"
#include "test_support.h"

namespace tp {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// An event of the brief's payment shape, valid, with id `id` and a recent timestamp.
std::string payment_line(const std::string& id, double tip = 10.0) {
  return fmt::format(
      R"({{"event_id": "{}", "event_type": "payment", "timestamp": "{}", "restaurant_id": "rest_001", "restaurant_name": "Downtown Location", "table_id": "table_12", "order_id": "order_789", "subtotal": 50.97, "tax": 4.58, "tip": {:.2f}, "total_amount": {:.2f}, "payment_method": "credit_card"}})",
      id, format_iso_ms(now_ms() - 60'000), tip, 50.97 + 4.58 + tip);
}

std::string uuid(int n) { return fmt::format("00000000-0000-4000-8000-{:012d}", n); }

std::string gzip(std::string_view data, int level = Z_DEFAULT_COMPRESSION) {
  z_stream stream{};
  deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, data.size()) + 64, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::vector<std::string> file_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Bodies, without a socket.

TEST(EventsBody, SplitsJsonLinesAndArrays) {
  auto lines = server::split_events_body("\xEF\xBB\xBF{\"a\":1}\r\n\n  \n{\"b\":2}");
  ASSERT_TRUE(lines.ok());
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].text, "{\"a\":1}");
  EXPECT_EQ((*lines)[0].number, 1u);
  EXPECT_EQ((*lines)[1].text, "{\"b\":2}");
  EXPECT_EQ((*lines)[1].number, 4u);

  // A pretty-printed array: each element one line, strings (with brackets, commas and
  // escapes) untouched.
  auto array = server::split_events_body(
      "  [\n  {\n    \"a\": \"x, ] } \\\" [\",\n    \"b\": [1, {\"c\": 2}]\n  },\n  3 , "
      "\"s\"\n]\n");
  ASSERT_TRUE(array.ok()) << array.error().message;
  ASSERT_EQ(array->size(), 3u);
  EXPECT_EQ((*array)[0].text, "{     \"a\": \"x, ] } \\\" [\",     \"b\": [1, {\"c\": 2}]   }");
  EXPECT_TRUE(json::accept((*array)[0].text));
  EXPECT_EQ((*array)[1].text, "3");
  EXPECT_EQ((*array)[2].text, "\"s\"");
  EXPECT_EQ((*array)[2].number, 3u);
  auto empty = server::split_events_body("[ ]");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  for (const char* bad : {"[", "[{\"a\":1}", "[{\"a\":1},]", "[,{}]", "[{\"a\":\"x]", "[{]}",
                          "[{}] x", "[{}]]", "[\"a\nb\"]", "[}]"}) {
    auto split = server::split_events_body(bad);
    ASSERT_FALSE(split.ok()) << bad;
    EXPECT_EQ(split.error().code, ErrorCode::kMalformedBody) << bad;
  }
}

TEST(EventsBody, InflatesGzipWithinTheBound) {
  std::string text = payment_line(uuid(1)) + "\n" + payment_line(uuid(2)) + "\n";
  auto inflated = server::inflate_body(gzip(text), 1 << 20);
  ASSERT_TRUE(inflated.ok()) << inflated.error().message;
  EXPECT_EQ(inflated.value(), text);
  // Two gzip members one after the other (cat a.gz b.gz) are one body.
  auto concatenated = server::inflate_body(gzip("a\n") + gzip("b\n"), 1 << 20);
  ASSERT_TRUE(concatenated.ok());
  EXPECT_EQ(concatenated.value(), "a\nb\n");

  // A bomb: 64 MiB of zeros in ~64 KiB stops at the bound.
  std::string zeros(64 << 20, '\0');
  std::string bomb = gzip(zeros, 9);
  EXPECT_LT(bomb.size(), 100u << 10);
  auto stopped = server::inflate_body(bomb, 1 << 20);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().code, ErrorCode::kPayloadTooLarge);

  std::string compressed = gzip(text);
  auto truncated = server::inflate_body(compressed.substr(0, compressed.size() - 8), 1 << 20);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().code, ErrorCode::kMalformedBody);
  std::string corrupt = compressed;
  corrupt[corrupt.size() / 2] ^= 0x5a;
  corrupt[corrupt.size() - 3] ^= 0x5a;  // the CRC too
  auto broken = server::inflate_body(corrupt, 1 << 20);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().code, ErrorCode::kMalformedBody);
  auto plain = server::inflate_body(text, 1 << 20);
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().code, ErrorCode::kMalformedBody);
}

TEST(EventsRate, TokenBucketAllowsOneSecondOfBurst) {
  auto start = server::TokenBucket::Clock::now();
  server::TokenBucket bucket(100, start);
  EXPECT_EQ(bucket.take(60, start), 0);
  EXPECT_EQ(bucket.take(40, start), 0);
  double wait = bucket.take(10, start);
  EXPECT_NEAR(wait, 0.1, 1e-9);
  EXPECT_EQ(bucket.take(10, start + 100ms), 0);  // refilled at 100/s
  EXPECT_GT(bucket.take(1, start + 100ms), 0);
  // More than the burst passes only on a full bucket, and leaves it owing.
  EXPECT_GT(bucket.take(250, start + 500ms), 0);
  EXPECT_EQ(bucket.take(250, start + 1100ms), 0);
  EXPECT_NEAR(bucket.take(1, start + 1100ms), 1.51, 1e-9);
}

// ---------------------------------------------------------------------------------------------
// The intake over a write-ahead file.

server::EventsIntakeOptions intake_options(const test::TempDir& dir) {
  server::EventsIntakeOptions options;
  options.log_path = (dir.path() / "events.jsonl").string();
  return options;
}

TEST(EventsIntake, AppendsEventsAndRefusalsAndReportsDuplicates) {
  test::TempDir dir;
  auto options = intake_options(dir);
  options.max_listed_refusals = 2;
  auto opened = server::EventsIntake::open(options);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& intake = *opened.value();

  const std::string p1 = payment_line(uuid(1)), p2 = payment_line(uuid(2)),
                    p3 = payment_line(uuid(3), 99);
  std::string body = p1 + "\n" + p2 + "\n\n" + p1 + "\n" +  // p1 repeated in the request
                     "{\"event_id\": \"x\"}\n" +            // missing_field
                     "not json\n" +                         // not_json
                     p3 + "\n" + R"({"event_type": "payment"})" + "\n";  // missing_field
  auto reply = intake.submit(body);
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(reply->accepted, 3u);
  EXPECT_EQ(reply->duplicate, 1u);
  EXPECT_EQ(reply->refused, 3u);
  ASSERT_EQ(reply->refused_lines.size(), 2u);
  EXPECT_TRUE(reply->refused_lines_truncated);
  EXPECT_EQ(reply->refused_lines[0].line, 5u);
  EXPECT_EQ(reply->refused_lines[0].reason, "missing_field");
  EXPECT_EQ(reply->refused_lines[1].line, 6u);
  EXPECT_EQ(reply->refused_lines[1].reason, "not_json");
  json shape = reply->to_json();
  EXPECT_EQ(shape["accepted"], 3);
  EXPECT_EQ(shape["refused_lines"][1]["reason"], "not_json");
  EXPECT_EQ(shape["refused_lines_truncated"], true);

  // The log holds each new event once and the refused lines (the consumer refuses and counts
  // them), not the exact repeat.
  auto lines = file_lines(options.log_path);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], p1);
  EXPECT_EQ(lines[1], p2);
  EXPECT_EQ(lines[3], "not json");

  // A retry of the same body: every event a duplicate, nothing appended; the same id with
  // other content is appended (the consumer counts the conflict and keeps the first).
  auto again = intake.submit(body);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->accepted, 0u);
  EXPECT_EQ(again->duplicate, 4u);
  EXPECT_EQ(again->refused, 3u);
  EXPECT_EQ(file_lines(options.log_path).size(), 9u);  // the three refused lines again
  auto conflict = intake.submit(payment_line(uuid(2), 12));
  ASSERT_TRUE(conflict.ok());
  EXPECT_EQ(conflict->duplicate, 1u);
  EXPECT_EQ(file_lines(options.log_path).size(), 10u);

  // An array: elements numbered from 1.
  auto array = intake.submit("[" + payment_line(uuid(4)) + ", 7]");
  ASSERT_TRUE(array.ok());
  EXPECT_EQ(array->accepted, 1u);
  EXPECT_EQ(array->refused, 1u);
  EXPECT_EQ(array->refused_lines[0].line, 2u);
  EXPECT_EQ(array->refused_lines[0].reason, "not_object");
  auto metrics = intake.metrics().render();
  EXPECT_NE(metrics.find("tablepulse_http_events_accepted_total 4\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tablepulse_http_events_fsync_latency_ms_count "), std::string::npos);
}

TEST(EventsIntake, MalformedBodyStoresNothing) {
  test::TempDir dir;
  auto options = intake_options(dir);
  auto opened = server::EventsIntake::open(options);
  ASSERT_TRUE(opened.ok());
  for (const std::string& bad :
       {std::string("hello\nworld\n"), std::string(""), std::string("\n \n"),
        std::string("{\"a\":\n1}"), "[" + payment_line(uuid(1)) + ","}) {
    auto reply = opened.value()->submit(bad);
    ASSERT_FALSE(reply.ok()) << bad;
    EXPECT_EQ(reply.error().code, ErrorCode::kMalformedBody) << bad;
  }
  EXPECT_EQ(std::filesystem::file_size(options.log_path), 0u);
}

TEST(EventsIntake, ExpiredAndOverlongLinesAreRefusedLikeTheConsumerRefusesThem) {
  test::TempDir dir;
  auto options = intake_options(dir);
  options.ttl_days = 400;
  options.decoder.max_line_bytes = 1000;
  auto opened = server::EventsIntake::open(options);
  ASSERT_TRUE(opened.ok());
  std::string old = payment_line(uuid(1));
  old = std::regex_replace(old, std::regex("\"timestamp\": \"[^\"]+\""),
                           "\"timestamp\": \"2024-10-29T19:05:45.123Z\"");
  std::string reply_body = old + "\n" + payment_line(uuid(2)) + std::string(1200, ' ') + "\n";
  auto reply = opened.value()->submit(reply_body);
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->refused, 2u) << reply->to_json().dump();
  EXPECT_EQ(reply->refused_lines[0].reason, "expired");
  EXPECT_EQ(reply->refused_lines[1].reason, "line_too_long");
}

TEST(EventsIntake, RateLimitRefusesWholeRequests) {
  test::TempDir dir;
  auto options = intake_options(dir);
  options.events_per_second = 5;
  auto opened = server::EventsIntake::open(options);
  ASSERT_TRUE(opened.ok());
  std::string five;
  for (int i = 0; i < 5; ++i) five += payment_line(uuid(i)) + "\n";
  ASSERT_TRUE(opened.value()->submit(five).ok());
  int retry_after = 0;
  auto refused = opened.value()->submit(payment_line(uuid(9)), &retry_after);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kRateLimited);
  EXPECT_EQ(retry_after, 1);
  EXPECT_EQ(file_lines(options.log_path).size(), 5u);
}

TEST(EventsIntake, UnfinishedLastLineIsEndedAtOpen) {
  test::TempDir dir;
  auto options = intake_options(dir);
  { std::ofstream(options.log_path) << payment_line(uuid(1)) << "\n{\"event_id\": \"cut"; }
  auto opened = server::EventsIntake::open(options);
  ASSERT_TRUE(opened.ok());
  ASSERT_TRUE(opened.value()->submit(payment_line(uuid(2))).ok());
  auto lines = file_lines(options.log_path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], "{\"event_id\": \"cut");
  EXPECT_EQ(json::parse(lines[2])["event_id"], uuid(2));
}

TEST(EventsIntake, ConcurrentRequestsEachLandOnceWithAtMostOneSyncEach) {
  test::TempDir dir;
  auto options = intake_options(dir);
  auto opened = server::EventsIntake::open(options);
  ASSERT_TRUE(opened.ok());
  constexpr int kThreads = 8, kRequests = 40, kPerRequest = 5;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRequests; ++r) {
        std::string body;
        for (int e = 0; e < kPerRequest; ++e) {
          body += payment_line(uuid((t * kRequests + r) * kPerRequest + e)) + "\n";
        }
        auto reply = opened.value()->submit(body);
        if (!reply.ok() || reply->accepted != kPerRequest) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<std::string> ids;
  for (const auto& line : file_lines(options.log_path)) {
    ids.insert(json::parse(line)["event_id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads * kRequests * kPerRequest));
  EXPECT_EQ(file_lines(options.log_path).size(), ids.size());
  std::smatch count;
  std::string metrics = opened.value()->metrics().render();
  ASSERT_TRUE(std::regex_search(
      metrics, count, std::regex("tablepulse_http_events_fsync_latency_ms_count (\\d+)")));
  EXPECT_LE(std::stoi(count[1]), kThreads * kRequests);
}

TEST(EventsIntake, RotatesOnlyWhatTheConsumerCommitted) {
  test::TempDir dir;
  auto options = intake_options(dir);
  auto opened = server::EventsIntake::open(options);
  ASSERT_TRUE(opened.ok());
  auto& intake = *opened.value();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(intake.submit(payment_line(uuid(i))).ok());
  const uint64_t size = std::filesystem::file_size(options.log_path);
  std::string content;
  {
    std::ifstream in(options.log_path);
    content.assign(std::istreambuf_iterator<char>(in), {});
  }
  ingest::FileCheckpoint checkpoint;
  checkpoint.end_offset = size - 1;
  checkpoint.end_tail = content.substr(content.size() - 1 - 32, 32);
  auto probe = [&]() -> Result<std::optional<ingest::FileCheckpoint>> {
    return std::optional<ingest::FileCheckpoint>(checkpoint);
  };
  auto small = intake.rotate_if_committed(size + 1, probe);  // under the bound
  ASSERT_TRUE(small.ok());
  EXPECT_FALSE(small.value());
  auto behind = intake.rotate_if_committed(1024, probe);  // the last line not committed
  ASSERT_TRUE(behind.ok());
  EXPECT_FALSE(behind.value());
  checkpoint.end_offset = size;
  checkpoint.end_tail = std::string(32, 'x');  // the same size, other bytes
  EXPECT_FALSE(intake.rotate_if_committed(1024, probe).value());
  checkpoint.end_tail = content.substr(content.size() - 32);
  auto rotated = intake.rotate_if_committed(1024, probe);
  ASSERT_TRUE(rotated.ok()) << rotated.error().message;
  EXPECT_TRUE(rotated.value());
  EXPECT_EQ(std::filesystem::file_size(options.log_path + ".1"), size);
  EXPECT_EQ(std::filesystem::file_size(options.log_path), 0u);
  auto after = intake.submit(payment_line(uuid(99)));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->accepted, 1u);
  auto lines = file_lines(options.log_path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(json::parse(lines[0])["event_id"], uuid(99));
  // The ids before the rotation are still remembered.
  EXPECT_EQ(intake.submit(payment_line(uuid(3))).value().duplicate, 1u);
}

// ---------------------------------------------------------------------------------------------
// The endpoint over a fake database (no engine).

class FakeFactory final : public clickhouse::ClientFactory {
 public:
  Result<std::unique_ptr<clickhouse::Client>> connect() override {
    return std::unique_ptr<clickhouse::Client>(std::make_unique<test::NullClient>());
  }
  bool embedded() const override { return false; }
  std::string describe() const override { return "fake"; }
};

server::MetricsBackend null_backend() {
  return {[](clickhouse::Client&, const query::MetricRequest&) -> Result<nlohmann::ordered_json> {
            return nlohmann::ordered_json::array();
          },
          [](clickhouse::Client&, int64_t) -> Result<nlohmann::ordered_json> {
            return nlohmann::ordered_json::array();
          }};
}

// A started server with the endpoint on a fresh log (or disabled), stopped at the end.
class EventsServer {
 public:
  explicit EventsServer(server::EventsIntakeOptions intake, bool enabled = true,
                        std::string read_token = "read-t0ken") {
    log_path_ = intake.log_path;
    server::ServerOptions options;
    options.port = 0;
    options.token = std::move(read_token);
    if (enabled) {
      auto opened = server::EventsIntake::open(intake);
      EXPECT_TRUE(opened.ok());
      options.events = std::move(opened.value());
      options.write_token = "write-t0ken";
    }
    server_ = std::make_unique<server::Server>(factory_, null_backend(),
                                               std::make_shared<ingest::IngestStats>(), options);
    auto status = server_->start();
    EXPECT_TRUE(status.ok()) << status.error().to_string();
  }
  ~EventsServer() { server_->stop(); }

  httplib::Client client() const {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_read_timeout(30, 0);
    return client;
  }
  httplib::Result post(const std::string& body, httplib::Headers headers = {},
                       const std::string& token = "write-t0ken") const {
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return client().Post("/api/v1/events", headers, body, "application/x-ndjson");
  }
  size_t logged_lines() const { return file_lines(log_path_).size(); }

 private:
  FakeFactory factory_;
  std::string log_path_;
  std::unique_ptr<server::Server> server_;
};

std::string code_of(const httplib::Result& res) {
  if (!res) return "<no response>";
  json body = json::parse(res->body, nullptr, false);
  if (!body.is_object() || !body.contains("error")) return "<no error object>";
  return body["error"].value("code", "<no code>");
}

TEST(ServerEvents, WriteTokenOnlyAndNeverTheReadToken) {
  test::TempDir dir;
  EventsServer running(intake_options(dir));
  std::string body = payment_line(uuid(1));
  auto none = running.post(body, {}, "");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(code_of(none), "unauthorized");
  auto wrong = running.post(body, {}, "write-t0ken-not");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto read = running.post(body, {}, "read-t0ken");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 403);
  EXPECT_EQ(code_of(read), "forbidden");
  auto cookie = running.client().Post("/api/v1/events?token=write-t0ken",
                                      {{"Cookie", "tp_token=read-t0ken"}}, body, "text/plain");
  ASSERT_TRUE(cookie);
  EXPECT_EQ(cookie->status, 403);  // the write token counts only in the header
  EXPECT_EQ(running.logged_lines(), 0u);
  // The write token reads nothing.
  auto get = running.client().Get("/api/v1/revenue", {{"Authorization", "Bearer write-t0ken"}});
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 401);

  auto ok = running.post(body);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  json reply = json::parse(ok->body);
  EXPECT_EQ(reply["accepted"], 1);
  EXPECT_EQ(reply["duplicate"], 0);
  EXPECT_EQ(reply["refused"], 0);
  EXPECT_EQ(running.logged_lines(), 1u);
  auto metrics = running.client().Get("/metrics", {{"Authorization", "Bearer read-t0ken"}});
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("tablepulse_http_events_requests_total{status=\"200\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("tablepulse_http_events_requests_total{status=\"403\"} 2\n"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("tablepulse_http_events_requests_total{status=\"401\"} 2\n"),
            std::string::npos);
  auto method = running.client().Get("/api/v1/events", {{"Authorization", "Bearer read-t0ken"}});
  ASSERT_TRUE(method);
  EXPECT_EQ(method->status, 405);
}

TEST(ServerEvents, DisabledWithoutAWriteToken) {
  test::TempDir dir;
  EventsServer running(intake_options(dir), /*enabled=*/false, /*read_token=*/"");
  auto res = running.post(payment_line(uuid(1)), {}, "anything");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(code_of(res), "not_found");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "events.jsonl"));
}

TEST(ServerEvents, LimitsAndMalformedBodies) {
  test::TempDir dir;
  auto options = intake_options(dir);
  options.max_body_bytes = 64 << 10;
  options.events_per_second = 20;
  EventsServer running(options);

  std::string big;
  while (big.size() <= options.max_body_bytes) big += payment_line(uuid(7)) + "\n";
  auto oversized = running.post(big);
  ASSERT_TRUE(oversized);
  EXPECT_EQ(oversized->status, 413);
  EXPECT_EQ(code_of(oversized), "payload_too_large");

  std::string bomb = gzip(std::string(32 << 20, '\n'), 9);
  ASSERT_LT(bomb.size(), options.max_body_bytes);
  auto bombed = running.post(bomb, {{"Content-Encoding", "gzip"}});
  ASSERT_TRUE(bombed);
  EXPECT_EQ(bombed->status, 413);
  EXPECT_EQ(code_of(bombed), "payload_too_large");

  for (const auto& [body, encoding] : std::vector<std::pair<std::string, std::string>>{
           {"this is not json\nnor this", ""},
           {"[{\"event_id\": 1},", ""},
           {"not gzip at all", "gzip"},
           {gzip(payment_line(uuid(3))).substr(0, 30), "gzip"}}) {
    httplib::Headers headers;
    if (!encoding.empty()) headers.emplace("Content-Encoding", encoding);
    auto res = running.post(body, headers);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << body;
    EXPECT_EQ(code_of(res), "malformed_body") << body;
  }
  auto unknown = running.post("x", {{"Content-Encoding", "zstd"}});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 415);
  EXPECT_EQ(running.logged_lines(), 0u);

  // gzip accepted; then the rate limit (20/s, burst 20) refuses whole requests with a wait.
  std::string twenty;
  for (int i = 0; i < 20; ++i) twenty += payment_line(uuid(100 + i)) + "\n";
  auto zipped = running.post(gzip(twenty), {{"Content-Encoding", "gzip"}});
  ASSERT_TRUE(zipped);
  ASSERT_EQ(zipped->status, 200) << zipped->body;
  EXPECT_EQ(json::parse(zipped->body)["accepted"], 20);
  auto limited = running.post(payment_line(uuid(200)));
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(code_of(limited), "rate_limited");
  EXPECT_GE(std::stoi(limited->get_header_value("Retry-After")), 1);
  EXPECT_EQ(running.logged_lines(), 20u);
}

// serve refuses, before it opens anything, a write token that would switch authentication off
// or let the read token write.
TEST(EventsCli, RefusesEmptyOrSharedWriteTokensAndAMissingLogPath) {
  test::TempDir dir;
  const std::string db = (dir.path() / "db").string();
  for (const std::string& args : {fmt::format("--db {} --write-token ''", db),
                                  fmt::format("--db {} --token same --write-token same", db),
                                  std::string("--clickhouse http://127.0.0.1:1 --write-token w")}) {
    auto result = test::run_command(
        fmt::format("{} serve --listen 127.0.0.1:0 {} 2>&1", test::tablepulse_binary(), args));
    EXPECT_EQ(result.status, error_exit_status(ErrorCode::kInvalidArgument)) << args;
    EXPECT_NE(result.out.find("invalid_argument"), std::string::npos) << result.out;
  }
  auto from_env = test::run_command(
      fmt::format("TABLEPULSE_WRITE_TOKEN= {} serve --listen 127.0.0.1:0 --db {} 2>&1",
                  test::tablepulse_binary(), db));
  EXPECT_EQ(from_env.status, error_exit_status(ErrorCode::kInvalidArgument)) << from_env.out;
  EXPECT_FALSE(std::filesystem::exists(db));
}

// ---------------------------------------------------------------------------------------------
// With the engine: `tablepulse serve` processes on one database.

constexpr const char* kWrite = "w-secret";

// Posts `body` to a started serve; the reply (status -1 when there was none).
std::pair<int, json> post_events(int port, const std::string& body) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  auto res = client.Post("/api/v1/events", {{"Authorization", std::string("Bearer ") + kWrite}},
                         body, "application/x-ndjson");
  if (!res) return {-1, nullptr};
  return {res->status, json::parse(res->body, nullptr, false)};
}

// Waits until the consumer of a started serve has committed every line it read and read nothing
// new for a second (what the events log held is then stored).
void wait_until_committed(int port) {
  httplib::Client client("127.0.0.1", port);
  auto value = [](const std::string& text, const std::string& name) {
    std::smatch m;
    if (!std::regex_search(text, m, std::regex("\n" + name + " (\\d+)"))) return -1LL;
    return std::stoll(m[1]);
  };
  long long last_read = -2;
  auto stable_since = std::chrono::steady_clock::now();
  auto deadline = stable_since + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto res = client.Get("/metrics");
    if (res && res->status == 200) {
      long long read = value(res->body, "tablepulse_events_read_total");
      long long committed =
          value(res->body, "tablepulse_lines_total");  // committed non-blank lines
      auto quiet = std::chrono::steady_clock::now() - stable_since;
      if (read != last_read || read != committed) {
        last_read = read;
        stable_since = std::chrono::steady_clock::now();
      } else if (quiet > (read > 0 ? 1500ms : 6000ms)) {  // a restart may have nothing to read
        return;
      }
    }
    std::this_thread::sleep_for(100ms);
  }
  ADD_FAILURE() << "the consumer did not catch up with the events log";
}

// A database whose retention keeps the brief's 2025 events and the generator's.
std::string fresh_db(const test::TempDir& dir) {
  std::string db = (dir.path() / "db").string();
  auto migrated = test::run_command(
      fmt::format("{} migrate --db {} --ttl-days 2228 2>&1", test::tablepulse_binary(), db));
  EXPECT_EQ(migrated.status, 0) << migrated.out;
  return db;
}

// The rows of `sql` (tablepulse sql --rows), each a JSON object.
std::vector<json> sql_rows(const std::string& db, const std::string& sql) {
  auto result = test::run_command(
      fmt::format("{} sql --rows --db {} \"{}\"", test::tablepulse_binary(), db, sql));
  EXPECT_EQ(result.status, 0) << result.out;
  std::vector<json> rows;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  return rows;
}

std::vector<std::string> generated_lines(const test::TempDir& dir, int events, int seed) {
  std::string path = (dir.path() / fmt::format("gen-{}.jsonl", seed)).string();
  auto generated = test::run_command(fmt::format(
      "{} generate --restaurants 4 --events {} --seed {} --duplicate-rate 0 --late-rate 0 "
      "--malformed-rate 0 --conflict-rate 0 -o {} 2>&1",
      test::tablepulse_binary(), events, seed, path));
  EXPECT_EQ(generated.status, 0) << generated.out;
  return file_lines(path);
}

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

TEST(EngineEvents, AcknowledgedEventsSurviveKillNine) {
  test::TempDir dir;
  std::string db = fresh_db(dir);
  auto lines = generated_lines(dir, 3000, 5);
  ASSERT_EQ(lines.size(), 3000u);
  std::set<std::string> acknowledged;
  size_t next = 0;
  int kills = 0;
  for (int round = 0; round < 3; ++round) {
    // A long batch age: most acknowledged events are only in the log when serve dies.
    auto serve = test::start_serve(fmt::format("--db {} --write-token {} --batch-ms {}", db, kWrite,
                                               round == 0 ? 60000 : 300));
    ASSERT_GT(serve.port, 0) << serve.first_line;
    int requests = 0;
    while (next < lines.size() && requests < 25) {
      std::string body;
      std::vector<std::string> ids;
      for (int i = 0; i < 40 && next < lines.size(); ++i, ++next) {
        body += lines[next] + "\n";
        ids.push_back(lowercase(json::parse(lines[next])["event_id"].get<std::string>()));
      }
      auto [status, reply] = post_events(serve.port, body);
      ASSERT_EQ(status, 200) << reply.dump();
      ASSERT_EQ(reply["refused"], 0) << reply.dump();
      acknowledged.insert(ids.begin(), ids.end());
      ++requests;
    }
    ::kill(serve.pid, SIGKILL);  // right after the last 2xx
    ++kills;
    test::stop_serve(serve);
  }
  ASSERT_EQ(kills, 3);
  // Restarted on the same database: the consumer resumes the log where it had committed.
  {
    auto serve =
        test::start_serve(fmt::format("--db {} --write-token {} --batch-ms 200", db, kWrite));
    ASSERT_GT(serve.port, 0) << serve.first_line;
    wait_until_committed(serve.port);
    EXPECT_EQ(test::stop_serve(serve), 0);
  }
  auto counts = sql_rows(db, "SELECT count() AS rows, uniqExact(event_id) AS ids FROM events");
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0]["rows"].get<uint64_t>(), acknowledged.size());
  EXPECT_EQ(counts[0]["ids"].get<uint64_t>(), acknowledged.size());
  std::set<std::string> stored;
  for (const auto& row : sql_rows(db, "SELECT toString(event_id) AS id FROM events")) {
    stored.insert(lowercase(row["id"].get<std::string>()));
  }
  EXPECT_EQ(stored, acknowledged);
}

TEST(EngineEvents, RetriedPostIsStoredOnce) {
  test::TempDir dir;
  std::string db = fresh_db(dir);
  auto lines = generated_lines(dir, 30, 8);
  std::string body;
  for (const auto& line : lines) body += line + "\n";
  {
    auto serve = test::start_serve(fmt::format("--db {} --write-token {}", db, kWrite));
    ASSERT_GT(serve.port, 0) << serve.first_line;
    auto [first_status, first] = post_events(serve.port, body);
    ASSERT_EQ(first_status, 200);
    EXPECT_EQ(first["accepted"], 30);
    auto [second_status, second] = post_events(serve.port, body);  // the client's retry
    ASSERT_EQ(second_status, 200);
    EXPECT_EQ(second["accepted"], 0);
    EXPECT_EQ(second["duplicate"], 30);
    wait_until_committed(serve.port);
    EXPECT_EQ(test::stop_serve(serve), 0);
  }
  {
    // A new process has forgotten the ids: it accepts the retry, and the consumer's dedup (the
    // exact one) counts it as duplicates.
    auto serve = test::start_serve(fmt::format("--db {} --write-token {}", db, kWrite));
    ASSERT_GT(serve.port, 0) << serve.first_line;
    auto [status, reply] = post_events(serve.port, body);
    ASSERT_EQ(status, 200);
    EXPECT_EQ(reply["accepted"], 30);
    wait_until_committed(serve.port);
    EXPECT_EQ(test::stop_serve(serve), 0);
  }
  json stored = test::stored(db);
  EXPECT_EQ(stored["events"]["ids"], 30) << stored.dump();
  EXPECT_EQ(stored["events"]["rows"], 30) << stored.dump();
  EXPECT_EQ(stored["batches"]["lines"], 60) << stored.dump();
  EXPECT_EQ(stored["batches"]["events"], 30) << stored.dump();
  EXPECT_EQ(stored["batches"]["duplicates"], 30) << stored.dump();
  auto raw = sql_rows(db, "SELECT count() AS rows FROM events");
  EXPECT_EQ(raw[0]["rows"], 30);
}

TEST(EngineEvents, LogRotatesOnceCommittedAndTheConsumerFollows) {
  test::TempDir dir;
  std::string db = fresh_db(dir);
  auto lines = generated_lines(dir, 600, 9);
  auto serve = test::start_serve(fmt::format(
      "--db {} --write-token {} --batch-ms 100 --events-log-max-bytes 8192", db, kWrite));
  ASSERT_GT(serve.port, 0) << serve.first_line;
  const std::string log = db + "/http-events.jsonl";
  for (size_t at = 0; at < lines.size(); at += 50) {
    std::string body;
    for (size_t i = at; i < at + 50 && i < lines.size(); ++i) body += lines[i] + "\n";
    auto [status, reply] = post_events(serve.port, body);
    ASSERT_EQ(status, 200) << reply.dump();
    // Wait for a rotation now and then, so that several happen.
    std::error_code ec;
    for (int i = 0; i < 40 && std::filesystem::file_size(log, ec) > 8192; ++i) {
      std::this_thread::sleep_for(100ms);
    }
  }
  wait_until_committed(serve.port);
  EXPECT_EQ(test::stop_serve(serve), 0);
  EXPECT_TRUE(std::filesystem::exists(log + ".1"));
  EXPECT_LT(std::filesystem::file_size(log), 8192u + 50 * 1024);
  auto counts = sql_rows(db, "SELECT count() AS rows, uniqExact(event_id) AS ids FROM events");
  EXPECT_EQ(counts[0]["rows"], 600);
  EXPECT_EQ(counts[0]["ids"], 600);
  EXPECT_NE(serve.first_line.find("rotated"), std::string::npos) << serve.first_line;
}

// The four example events of ../shared/seed/exercise.md, as the brief prints them.
std::vector<std::string> brief_examples() {
  for (const char* relative : {"/../shared/seed/exercise.md", "/../../shared/seed/exercise.md"}) {
    std::ifstream in(std::string(TABLEPULSE_SOURCE_DIR) + relative);
    if (!in) continue;
    std::stringstream text;
    text << in.rdbuf();
    std::string md = text.str();
    std::vector<std::string> events;
    std::regex block("```json\\n([\\s\\S]*?)```");
    for (std::sregex_iterator it(md.begin(), md.end(), block), end; it != end; ++it) {
      events.push_back((*it)[1]);
    }
    return events;
  }
  return {};
}

TEST(EngineEvents, BriefExamplesPostedAsAnArrayAreAccepted) {
  auto examples = brief_examples();
  if (examples.empty()) GTEST_SKIP() << "no ../shared/seed/exercise.md next to the source tree";
  ASSERT_EQ(examples.size(), 4u);
  auto array_of = [](const std::vector<std::string>& events) {
    std::string body = "[\n";
    for (size_t i = 0; i < events.size(); ++i) body += (i ? ",\n" : "") + events[i];
    return body + "]\n";
  };
  // The brief writes "uuid" for every event_id: as printed, they are one event and three
  // redeliveries of it with other content. With distinct UUIDs (as tests/cases/brief_examples
  // has them), four events.
  std::vector<std::string> distinct = examples;
  for (size_t i = 0; i < distinct.size(); ++i) {
    distinct[i] = std::regex_replace(distinct[i], std::regex("\"uuid\""),
                                     "\"" + uuid(static_cast<int>(i) + 1) + "\"");
  }
  test::TempDir dir;
  std::string db = fresh_db(dir);
  {
    auto serve = test::start_serve(fmt::format("--db {} --write-token {}", db, kWrite));
    ASSERT_GT(serve.port, 0) << serve.first_line;
    auto [status, reply] = post_events(serve.port, array_of(examples));
    ASSERT_EQ(status, 200) << reply.dump();
    EXPECT_EQ(reply["accepted"], 1) << reply.dump();
    EXPECT_EQ(reply["duplicate"], 3) << reply.dump();
    EXPECT_EQ(reply["refused"], 0) << reply.dump();
    auto [distinct_status, distinct_reply] = post_events(serve.port, array_of(distinct));
    ASSERT_EQ(distinct_status, 200) << distinct_reply.dump();
    EXPECT_EQ(distinct_reply["accepted"], 4) << distinct_reply.dump();
    EXPECT_EQ(distinct_reply["refused"], 0) << distinct_reply.dump();
    wait_until_committed(serve.port);
    EXPECT_EQ(test::stop_serve(serve), 0);
  }
  auto rows = sql_rows(db,
                       "SELECT toString(event_id) AS id, toString(event_type) AS type, "
                       "toString(total_amount) AS total FROM events FINAL ORDER BY ts, id");
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0]["id"], uuid(1));  // 18:23:45.123, then "uuid" (the seating) at the same ts
  EXPECT_EQ(rows[1]["id"], "uuid");
  EXPECT_EQ(rows[1]["type"], "table_seated");  // the first delivery of "uuid" wins
  EXPECT_EQ(rows[4]["id"], uuid(4));
  EXPECT_EQ(rows[4]["type"], "payment");
  EXPECT_EQ(rows[4]["total"], "65.55");
  auto conflicts = sql_rows(db, "SELECT sum(conflicting_duplicates) AS n FROM ingest_batches");
  EXPECT_EQ(conflicts[0]["n"], 3);

  // Past the retention (here 30 days; the default 400 expires them from 2026-12-03 19:05 UTC on)
  // the brief's 2025 events are refused as expired, in the reply as by the consumer.
  test::TempDir other;
  const std::string short_db = (other.path() / "db").string();
  auto migrated = test::run_command(
      fmt::format("{} migrate --db {} --ttl-days 30 2>&1", test::tablepulse_binary(), short_db));
  ASSERT_EQ(migrated.status, 0) << migrated.out;
  auto serve = test::start_serve(fmt::format("--db {} --write-token {}", short_db, kWrite));
  ASSERT_GT(serve.port, 0) << serve.first_line;
  auto [status, reply] = post_events(serve.port, array_of(distinct));
  ASSERT_EQ(status, 200);
  EXPECT_EQ(reply["refused"], 4);
  EXPECT_EQ(reply["refused_lines"][0]["reason"], "expired");
  test::stop_serve(serve);
}

}  // namespace
}  // namespace tp
