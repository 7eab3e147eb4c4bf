// The HTTP server of `tablepulse serve`: every endpoint answers what run_metric answers, bad
// input is a 400 (never a 500), writes are 405, the token guards everything but /healthz and
// the page's code, and the live stream shares one snapshot per tick among its pages.
// Suites named EngineServer* use the embedded engine; Server* use a fake backend (and run
// under the sanitizers).
#include "server/server.h"

#include <arpa/inet.h>
#include <fmt/core.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sstream>
#include <thread>

#include "clickhouse/schema.h"
#include "common/time.h"
#include "ingest/consumer.h"
#include "query/metrics.h"
#include "server/prometheus.h"
#include "server/request.h"
#include "server/static_files.h"
#include "test_support.h"

namespace tp {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// A fake ClickHouse: enough for the server's own logic (healthz, errors, the stream).

class FakeClient final : public test::NullClient {
 public:
  explicit FakeClient(std::shared_ptr<std::atomic<bool>> up) : up_(std::move(up)) {}
  Status execute(std::string_view, const clickhouse::QueryParams&) override {
    if (*up_) return {};
    return make_error(ErrorCode::kUnavailable, "fake ClickHouse is down");
  }
  std::string describe() const override { return "fake"; }

 private:
  std::shared_ptr<std::atomic<bool>> up_;
};

class FakeFactory final : public clickhouse::ClientFactory {
 public:
  Result<std::unique_ptr<clickhouse::Client>> connect() override {
    return std::unique_ptr<clickhouse::Client>(std::make_unique<FakeClient>(up));
  }
  bool embedded() const override { return false; }
  std::string describe() const override { return "fake"; }
  std::shared_ptr<std::atomic<bool>> up = std::make_shared<std::atomic<bool>>(true);
};

// A backend whose answers say what was asked, and which counts its calls.
struct FakeBackend {
  std::atomic<int> metric_calls{0};
  std::atomic<int> revenue_calls{0};
  std::atomic<bool> fail{false};
  // Runs first in each metric query, on the snapshot thread: a test's slow database or a
  // batch that lands while the queries run. Set before the server starts.
  std::function<void()> before_metric;

  server::MetricsBackend backend() {
    return {[this](clickhouse::Client&, const query::MetricRequest& r) -> Result<ordered_json> {
              if (before_metric) before_metric();
              ++metric_calls;
              if (r.metric == query::Metric::kRevenue) ++revenue_calls;
              if (fail) return make_error(ErrorCode::kClickHouse, "fake failure");
              ordered_json row = {
                  {"metric", static_cast<int>(r.metric)},
                  {"as_of", format_iso_ms(r.as_of_ms)},
                  {"window_ms", r.window_ms ? json(*r.window_ms) : json(nullptr)},
                  {"limit", r.limit ? json(*r.limit) : json(nullptr)},
                  {"restaurant_id", r.restaurant_id ? json(*r.restaurant_id) : json(nullptr)}};
              return ordered_json::array({row});
            },
            [this](clickhouse::Client&, int64_t as_of) -> Result<ordered_json> {
              if (fail) return make_error(ErrorCode::kUnavailable, "fake failure");
              return ordered_json::array(
                  {{{"restaurant_id", "r-1"}, {"restaurant_name", format_iso_ms(as_of)}}});
            }};
  }
};

// A started server on a free port, stopped at the end of the test.
class RunningServer {
 public:
  RunningServer(clickhouse::ClientFactory& factory, server::MetricsBackend backend,
                server::ServerOptions options = {},
                std::shared_ptr<ingest::IngestStats> stats = nullptr)
      : stats_(stats ? stats : std::make_shared<ingest::IngestStats>()),
        server_(factory, std::move(backend), stats_, with_free_port(options)) {
    auto status = server_.start();
    EXPECT_TRUE(status.ok()) << status.error().to_string();
  }
  ~RunningServer() { server_.stop(); }

  httplib::Client client() const {
    httplib::Client client("127.0.0.1", server_.port());
    client.set_read_timeout(30, 0);
    return client;
  }
  server::Server& server() { return server_; }
  ingest::IngestStats& stats() { return *stats_; }

 private:
  static server::ServerOptions with_free_port(server::ServerOptions options) {
    options.port = 0;
    return options;
  }
  std::shared_ptr<ingest::IngestStats> stats_;
  server::Server server_;
};

json body_of(const httplib::Result& res) {
  EXPECT_TRUE(res) << "no response";
  if (!res) return nullptr;
  return json::parse(res->body, nullptr, false);
}

std::string error_code_of(const httplib::Result& res) {
  json body = body_of(res);
  if (!body.is_object() || !body.contains("error")) return "<no error object>";
  return body["error"].value("code", "<no code>");
}

// Reads the live stream until `wanted` snapshots arrived (or `limit` passed).
std::vector<json> read_snapshots(httplib::Client& client, const std::string& path, size_t wanted,
                                 std::chrono::milliseconds limit,
                                 const httplib::Headers& headers = {}) {
  std::vector<json> snapshots;
  std::string buffer;
  auto deadline = std::chrono::steady_clock::now() + limit;
  client.Get(path, headers, [&](const char* data, size_t length) {
    buffer.append(data, length);
    size_t end;
    while ((end = buffer.find("\n\n")) != std::string::npos) {
      std::string event = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      size_t at = event.find("data: ");
      if (event.rfind("event: snapshot\n", 0) == 0 && at != std::string::npos) {
        snapshots.push_back(json::parse(event.substr(at + 6)));
      }
    }
    return snapshots.size() < wanted && std::chrono::steady_clock::now() < deadline;
  });
  return snapshots;
}

// ---------------------------------------------------------------------------------------------
// Request validation, without a socket.

TEST(ServerRequest, ParsesAndValidatesMetricParameters) {
  const int64_t now = *parse_rfc3339_ms("2026-11-24T18:00:00Z");
  auto ok = server::parse_metric_params(query::Metric::kTopItems,
                                        {{"as_of", "2026-11-24T19:00:00+01:00"},
                                         {"window", "1h30m"},
                                         {"limit", "25"},
                                         {"restaurant_id", "r-001"}},
                                        now);
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_EQ(ok->as_of_ms, now);
  EXPECT_EQ(ok->window_ms, 90 * 60'000);
  EXPECT_EQ(ok->limit, 25);
  EXPECT_EQ(ok->restaurant_id, "r-001");

  auto defaults = server::parse_metric_params(query::Metric::kRevenue, {}, now);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->as_of_ms, now);
  EXPECT_FALSE(defaults->window_ms);
  EXPECT_FALSE(defaults->limit);
  EXPECT_FALSE(defaults->restaurant_id);

  // "+01:00" unencoded in a URL arrives as " 01:00".
  auto plus = server::parse_as_of({{"as_of", "2026-11-24T19:00:00 01:00"}}, 0);
  ASSERT_TRUE(plus.ok());
  EXPECT_EQ(plus.value(), now);

  for (const server::Params& bad : std::vector<server::Params>{
           {{"as_of", "yesterday"}},
           {{"as_of", "2026-11-24T18:00:00"}},  // no zone
           {{"window", "5x"}},
           {{"window", "0m"}},
           {{"window", "-5m"}},
           {{"limit", "0"}},
           {{"limit", "1001"}},
           {{"limit", "ten"}},
           {{"limit", "5.5"}},
           {{"limit", "99999999999999999999"}},
           {{"restaurant_id", std::string(65, 'r')}},
       }) {
    auto result = server::parse_metric_params(query::Metric::kFunnel, bad, now);
    ASSERT_FALSE(result.ok()) << bad.begin()->first << "=" << bad.begin()->second;
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(server::parse_metric_params(query::Metric::kFunnel, {{"limit", "1000"}}, now).ok());
  EXPECT_TRUE(server::parse_metric_params(query::Metric::kFunnel, {{"limit", "1"}}, now).ok());
}

TEST(ServerRequest, TokenFromHeaderQueryOrCookie) {
  EXPECT_TRUE(server::token_accepted("", {}));
  EXPECT_FALSE(server::token_accepted("s3cret", {}));
  EXPECT_TRUE(server::token_accepted("s3cret", {"Bearer s3cret", "", ""}));
  EXPECT_TRUE(server::token_accepted("s3cret", {"bearer s3cret", "", ""}));
  EXPECT_FALSE(server::token_accepted("s3cret", {"Bearer s3cre", "", ""}));
  EXPECT_FALSE(server::token_accepted("s3cret", {"Basic s3cret", "", ""}));
  EXPECT_TRUE(server::token_accepted("s3cret", {"", "s3cret", ""}));
  EXPECT_FALSE(server::token_accepted("s3cret", {"", "s3cret2", ""}));
  EXPECT_TRUE(server::token_accepted("s3cret", {"", "", "a=1; tp_token=s3cret; b=2"}));
  EXPECT_TRUE(server::token_accepted("a b;c", {"", "", "tp_token=a%20b%3Bc"}));
  EXPECT_FALSE(server::token_accepted("s3cret", {"", "", "other_tp_token=s3cret"}));
  EXPECT_EQ(server::cookie_value("x=1;  y=\"2\"", "y"), "2");
  EXPECT_FALSE(server::cookie_value("x=1", "y"));
}

TEST(ServerStatic, ContentTypesAndEtags) {
  EXPECT_EQ(server::content_type_for("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(server::content_type_for("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(server::content_type_for("app.css"), "text/css; charset=utf-8");
  EXPECT_EQ(server::content_type_for("blob"), "application/octet-stream");
  EXPECT_TRUE(server::etag_matches("\"abc\"", "\"abc\""));
  EXPECT_TRUE(server::etag_matches("W/\"x\", \"abc\"", "\"abc\""));
  EXPECT_TRUE(server::etag_matches("*", "\"abc\""));
  EXPECT_FALSE(server::etag_matches("\"abd\"", "\"abc\""));
  EXPECT_FALSE(server::find_static_file("../CMakeLists.txt"));
  EXPECT_FALSE(server::find_static_file("a/b.js"));
}

TEST(ServerPrometheus, CountersHistogramsAndLabels) {
  ingest::IngestStats stats;
  stats.lines_read = 13;
  stats.lines = 12;
  stats.inserted = 9;
  stats.duplicates = 2;
  stats.rejected = 1;
  stats.batches = 3;
  stats.lag_ms = 250;
  stats.rejected_by_reason["not_json"] = 1;
  stats.dead_letters_dropped = 4;
  stats.insert_latency_buckets[10] = 2;
  stats.insert_latency_buckets[100] = 3;
  stats.insert_latency_buckets[std::numeric_limits<double>::infinity()] = 3;
  stats.insert_latency_sum_ms = 42.5;
  stats.insert_latency_count = 3;
  server::QueryLatencies latencies;
  latencies.observe("revenue", 3);
  latencies.observe("revenue", 40000);
  std::string text = server::render_prometheus(stats, latencies, 2, 1);
  for (const char* line : {
           "tablepulse_events_read_total 13\n",
           "tablepulse_lines_total 12\n",
           "tablepulse_events_inserted_total 9\n",
           "tablepulse_events_duplicates_total 2\n",
           "tablepulse_events_rejected_total{reason=\"not_json\"} 1\n",
           "tablepulse_batches_total 3\n",
           "tablepulse_dead_letters_dropped_total 4\n",
           "tablepulse_insert_latency_ms_bucket{le=\"10\"} 2\n",
           "tablepulse_insert_latency_ms_bucket{le=\"+Inf\"} 3\n",
           "tablepulse_insert_latency_ms_sum 42.5\n",
           "tablepulse_insert_latency_ms_count 3\n",
           "tablepulse_consumer_lag_ms 250\n",
           "# TYPE tablepulse_query_latency_ms histogram\n",
           "tablepulse_query_latency_ms_bucket{endpoint=\"revenue\",le=\"5\"} 1\n",
           "tablepulse_query_latency_ms_bucket{endpoint=\"revenue\",le=\"30000\"} 1\n",
           "tablepulse_query_latency_ms_bucket{endpoint=\"revenue\",le=\"+Inf\"} 2\n",
           "tablepulse_query_latency_ms_count{endpoint=\"revenue\"} 2\n",
           "tablepulse_stream_clients 2\n",
           "tablepulse_broken_parts 1\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << text;
  }
  EXPECT_EQ(server::escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

// ---------------------------------------------------------------------------------------------
// The server over a fake backend.

TEST(ServerHttp, PassesParametersAndMapsErrors) {
  FakeFactory factory;
  FakeBackend fake;
  RunningServer running(factory, fake.backend());
  auto client = running.client();

  auto res = client.Get(
      "/api/v1/top-items?as_of=2026-11-24T18:00:00Z&window=90s&limit=3&restaurant_id=r-9");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json; charset=utf-8");
  json row = body_of(res)[0];
  EXPECT_EQ(row["metric"], static_cast<int>(query::Metric::kTopItems));
  EXPECT_EQ(row["as_of"], "2026-11-24T18:00:00.000Z");
  EXPECT_EQ(row["window_ms"], 90000);
  EXPECT_EQ(row["limit"], 3);
  EXPECT_EQ(row["restaurant_id"], "r-9");

  // Default as_of is now.
  int64_t before = now_ms();
  json now_row = body_of(client.Get("/api/v1/funnel"))[0];
  int64_t as_of = *parse_rfc3339_ms(now_row["as_of"].get<std::string>());
  EXPECT_GE(as_of, before - 1);
  EXPECT_LE(as_of, now_ms() + 1);

  for (const char* bad :
       {"/api/v1/revenue?as_of=nope", "/api/v1/revenue?window=7q", "/api/v1/revenue?limit=0",
        "/api/v1/revenue?limit=1001", "/api/v1/revenue?limit=abc", "/api/v1/no-such-metric",
        "/api/v1/restaurants?as_of=2026-13-45T00:00:00Z"}) {
    auto r = client.Get(bad);
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_EQ(error_code_of(r), "invalid_argument") << bad;
    EXPECT_FALSE(body_of(r)["error"]["message"].get<std::string>().empty());
  }
  auto missing = client.Get("/no/such/path");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(error_code_of(missing), "not_found");

  fake.fail = true;
  auto failed = client.Get("/api/v1/revenue");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 503);
  EXPECT_EQ(error_code_of(failed), "clickhouse_error");
  auto failed_list = client.Get("/api/v1/restaurants");
  ASSERT_TRUE(failed_list);
  EXPECT_EQ(failed_list->status, 503);
  EXPECT_EQ(error_code_of(failed_list), "unavailable");
}

TEST(ServerHttp, ReadOnlyMethods) {
  FakeFactory factory;
  FakeBackend fake;
  RunningServer running(factory, fake.backend());
  auto client = running.client();
  for (const auto& r :
       {client.Post("/api/v1/revenue", "{}", "application/json"),
        client.Put("/api/v1/revenue", "{}", "application/json"),
        client.Patch("/api/v1/revenue", "{}", "application/json"), client.Delete("/api/v1/revenue"),
        client.Options("/api/v1/revenue"), client.Post("/", "x", "text/plain")}) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
    EXPECT_EQ(error_code_of(r), "method_not_allowed");
  }
  auto head = client.Head("/api/v1/revenue");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
}

TEST(ServerHttp, HealthzFollowsTheDatabase) {
  FakeFactory factory;
  FakeBackend fake;
  RunningServer running(factory, fake.backend());
  auto client = running.client();
  auto up = client.Get("/healthz");
  ASSERT_TRUE(up);
  EXPECT_EQ(up->status, 200);
  EXPECT_EQ(body_of(up), json({{"status", "ok"}}));
  *factory.up = false;
  auto down = client.Get("/healthz");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->status, 503);
  EXPECT_EQ(body_of(down)["status"], "unavailable");
}

// Connections that never finish their request (a TCP connect and nothing, or half a request
// line) used to hold every worker until its read timed out: 60 of them delayed /healthz by
// 14 s. Each is now given a bounded time to send its request, and a connection that arrives
// while every worker waits gets a worker of its own, so the health check answers at once.
TEST(ServerHttp, HalfOpenConnectionsDoNotDelayHealthz) {
  FakeFactory factory;
  FakeBackend fake;
  RunningServer running(factory, fake.backend());
  std::vector<int> idle;
  for (int i = 0; i < 100; ++i) {
    int sock = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(sock, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(running.server().port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    if (i % 4 != 0) {  // most start a request and never finish it, the others send nothing
      static constexpr std::string_view kPartial = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
      ASSERT_EQ(::send(sock, kPartial.data(), kPartial.size(), 0),
                static_cast<ssize_t>(kPartial.size()));
    }
    idle.push_back(sock);
  }
  std::this_thread::sleep_for(200ms);  // every idle connection has been accepted by now
  auto client = running.client();
  auto started = std::chrono::steady_clock::now();
  auto health = client.Get("/healthz");
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_LT(took, 5s) << std::chrono::duration<double>(took).count() << " s";
  for (auto sock : idle) ::close(sock);
}

// Parts the engine set aside (serve --allow-broken-parts): still served, 200 for load
// balancers, but "degraded" with the parts named.
TEST(ServerHttp, HealthzSaysDegradedWithBrokenParts) {
  FakeFactory factory;
  FakeBackend fake;
  server::ServerOptions options;
  options.broken_parts = {{"events", "broken-on-start_202611_1_1_0", "broken-on-start"}};
  RunningServer running(factory, fake.backend(), options);
  auto client = running.client();
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(body_of(health),
            json({{"status", "degraded"},
                  {"broken_parts",
                   {{{"table", "events"},
                     {"name", "broken-on-start_202611_1_1_0"},
                     {"reason", "broken-on-start"}}}}}));
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\ntablepulse_broken_parts 1\n"), std::string::npos);
  *factory.up = false;  // an unreachable database still comes first
  auto down = client.Get("/healthz");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->status, 503);
}

// A 401 for the page, for the header checks.
httplib::Result denied_page(httplib::Client& client) { return client.Get("/"); }

// Where TokenIsNeverLogged's log goes.
std::ostringstream& captured_log() {
  static std::ostringstream log;
  return log;
}

TEST(ServerHttp, TokenGuardsEverythingButHealthAndAssets) {
  FakeFactory factory;
  FakeBackend fake;
  server::ServerOptions options;
  options.token = "t0k3n";
  RunningServer running(factory, fake.backend(), options);
  auto client = running.client();

  for (const char* path : {"/api/v1/revenue", "/api/v1/restaurants", "/api/v1/stream", "/metrics",
                           "/", "/api/v1/no-such-metric"}) {
    auto denied = client.Get(path);
    ASSERT_TRUE(denied) << path;
    EXPECT_EQ(denied->status, 401) << path;
    EXPECT_EQ(error_code_of(denied), "unauthorized") << path;
    EXPECT_EQ(denied->get_header_value("WWW-Authenticate"), "Bearer realm=\"tablepulse\"");
    auto wrong = client.Get(path, {{"Authorization", "Bearer t0k3n-not"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401) << path;
  }
  auto header = client.Get("/api/v1/revenue", {{"Authorization", "Bearer t0k3n"}});
  ASSERT_TRUE(header);
  EXPECT_EQ(header->status, 200);
  auto query = client.Get("/api/v1/funnel?token=t0k3n");
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status, 200);
  auto cookie = client.Get("/metrics", {{"Cookie", "tp_token=t0k3n"}});
  ASSERT_TRUE(cookie);
  EXPECT_EQ(cookie->status, 200);
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto asset = client.Get("/assets/does-not-exist.js");  // public path: 404, not 401
  ASSERT_TRUE(asset);
  EXPECT_EQ(asset->status, 404);
  // The page is the page under any path: /assets/index.html needs the token like / does.
  auto page_as_asset = client.Get("/assets/index.html");
  ASSERT_TRUE(page_as_asset);
  EXPECT_EQ(page_as_asset->status, 401);
  // One set of headers on every answer, a 401 and a public 404 included.
  auto expect_headers = [](const httplib::Result& res, const char* what) {
    ASSERT_TRUE(res) << what;
    EXPECT_FALSE(res->get_header_value("Content-Security-Policy").empty()) << what;
    EXPECT_EQ(res->get_header_value("X-Frame-Options"), "DENY") << what;
  };
  expect_headers(denied_page(client), "401 of the page");
  expect_headers(asset, "404 of an asset");
  expect_headers(page_as_asset, "/assets/index.html");
}

// The token never reaches the log, however it was sent.
TEST(ServerHttp, TokenIsNeverLogged) {
  FakeFactory factory;
  FakeBackend fake;
  server::ServerOptions options;
  options.token = "t0k3n-secret";
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured_log());
  auto logger = std::make_shared<spdlog::logger>("capture", sink);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::debug);
  {
    RunningServer running(factory, fake.backend(), options);
    auto client = running.client();
    ASSERT_TRUE(client.Get("/api/v1/revenue?token=t0k3n-secret&window=5m"));
    ASSERT_TRUE(client.Get("/api/v1/revenue?token=wrong-one"));
  }
  spdlog::set_default_logger(previous);
  spdlog::set_level(spdlog::level::info);
  const std::string log = captured_log().str();
  EXPECT_NE(log.find("/api/v1/revenue"), std::string::npos) << log;  // requests are logged
  EXPECT_EQ(log.find("t0k3n-secret"), std::string::npos) << log;
  EXPECT_EQ(log.find("wrong-one"), std::string::npos) << log;
}

TEST(ServerHttp, PageAndAssetsFromEmbeddedResources) {
  FakeFactory factory;
  FakeBackend fake;
  RunningServer running(factory, fake.backend());
  auto client = running.client();
  if (!server::find_static_file("index.html")) {
    GTEST_SKIP() << "web/dist is not built into this binary (npm run build in web/)";
  }
  auto page = client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("TablePulse"), std::string::npos);
  EXPECT_FALSE(page->get_header_value("Content-Security-Policy").empty());
  for (const char* asset : {"app.js", "app.css", "format.js", "chart.umd.min.js"}) {
    auto res = client.Get(std::string("/assets/") + asset);
    ASSERT_TRUE(res) << asset;
    EXPECT_EQ(res->status, 200) << asset;
    EXPECT_FALSE(res->body.empty()) << asset;
    std::string etag = res->get_header_value("ETag");
    ASSERT_FALSE(etag.empty()) << asset;
    EXPECT_EQ(res->get_header_value("Cache-Control"), "no-cache");
    auto again = client.Get(std::string("/assets/") + asset, {{"If-None-Match", etag}});
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 304) << asset;
    EXPECT_TRUE(again->body.empty());
  }
  EXPECT_EQ(client.Get("/assets/app.js")->get_header_value("Content-Type"),
            "text/javascript; charset=utf-8");
  EXPECT_EQ(client.Get("/assets/app.css")->get_header_value("Content-Type"),
            "text/css; charset=utf-8");
  auto missing = client.Get("/assets/nope.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST(ServerStream, OneSnapshotPerTickSharedByAllPages) {
  FakeFactory factory;
  FakeBackend fake;
  server::ServerOptions options;
  options.timing.heartbeat_ms = 300;
  RunningServer running(factory, fake.backend(), options);

  constexpr int kPages = 3;
  std::vector<std::vector<json>> received(kPages);
  std::vector<std::thread> pages;
  for (int i = 0; i < kPages; ++i) {
    pages.emplace_back([&, i] {
      auto client = running.client();
      received[i] = read_snapshots(client, "/api/v1/stream", 4, 5s);
    });
  }
  for (auto& page : pages) page.join();

  std::set<std::string> first_page;
  for (int i = 0; i < kPages; ++i) {
    ASSERT_EQ(received[i].size(), 4u) << "page " << i;
    for (const json& snapshot : received[i]) {
      ASSERT_TRUE(snapshot["panels"].is_object());
      for (const auto& endpoint : server::metric_endpoints()) {
        EXPECT_TRUE(snapshot["panels"].contains(std::string(endpoint.name))) << endpoint.name;
      }
      for (const char* key :
           {"running", "lines", "lines_read", "inserted", "duplicates", "rejected",
            "rejected_by_reason", "late_events", "events_per_sec", "lag_ms", "last_commit_at"}) {
        EXPECT_TRUE(snapshot["ingest"].contains(key)) << key;
      }
      EXPECT_TRUE(parse_rfc3339_ms(snapshot["as_of"].get<std::string>()));
      EXPECT_TRUE(parse_rfc3339_ms(snapshot["generated_at"].get<std::string>()));
      if (i == 0) first_page.insert(snapshot["as_of"].get<std::string>());
    }
  }
  // Pages saw the same snapshots, and the backend ran once per snapshot, not once per page.
  int shared = 0;
  for (const json& snapshot : received[1]) shared += first_page.count(snapshot["as_of"]);
  EXPECT_GE(shared, 2);
  EXPECT_LE(fake.revenue_calls.load(), 4 + 3);
  EXPECT_EQ(fake.metric_calls.load(), fake.revenue_calls.load() * 6);
}

TEST(ServerStream, NewBatchTriggersASnapshotAndFiltersAreSeparate) {
  FakeFactory factory;
  FakeBackend fake;
  server::ServerOptions options;
  options.timing.heartbeat_ms = 60000;  // only news makes a snapshot after the first
  RunningServer running(factory, fake.backend(), options);

  std::thread bump([&] {
    std::this_thread::sleep_for(700ms);
    running.stats().inserted += 5;
    running.stats().batches += 1;
  });
  auto client = running.client();
  auto started = std::chrono::steady_clock::now();
  auto snapshots = read_snapshots(client, "/api/v1/stream?restaurant_id=r-7", 2, 5s);
  bump.join();
  ASSERT_EQ(snapshots.size(), 2u);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_EQ(snapshots[0]["restaurant_id"], "r-7");
  EXPECT_EQ(snapshots[0]["panels"]["revenue"][0]["restaurant_id"], "r-7");
  EXPECT_EQ(snapshots[0]["ingest"]["inserted"], 0);
  EXPECT_EQ(snapshots[1]["ingest"]["inserted"], 5);
  EXPECT_EQ(snapshots[1]["ingest"]["batches"], 1);

  auto bad = client.Get("/api/v1/stream?restaurant_id=" + std::string(100, 'x'));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

// A snapshot's consumer counters are read before its panels' queries: a batch that lands while
// they run is counted by the next snapshot (which its news brings), not by this one, whose
// panels may lack it. Read after the queries, the page counted lines it did not show yet.
TEST(ServerStream, ASnapshotCountsOnlyWhatItsPanelsCanInclude) {
  FakeFactory factory;
  FakeBackend fake;
  server::ServerOptions options;
  options.timing.heartbeat_ms = 60000;  // only news makes a snapshot after the first
  auto stats = std::make_shared<ingest::IngestStats>();
  std::atomic<bool> landed{false};
  fake.before_metric = [&] {
    if (!landed.exchange(true)) {  // a batch is stored and checkpointed during the first queries
      stats->stored_lines += 7;
      stats->stored_batches += 1;
      stats->inserted += 7;
      stats->batches += 1;
    }
  };
  RunningServer running(factory, fake.backend(), options, stats);
  auto client = running.client();
  auto snapshots = read_snapshots(client, "/api/v1/stream", 2, 5s);
  ASSERT_EQ(snapshots.size(), 2u);
  EXPECT_EQ(snapshots[0]["ingest"]["inserted"], 0);
  EXPECT_EQ(snapshots[0]["ingest"]["stored_lines"], 0);
  EXPECT_EQ(snapshots[1]["ingest"]["inserted"], 7);
  EXPECT_EQ(snapshots[1]["ingest"]["stored_lines"], 7);
}

// An insert changes revenue, funnel and top items, a checkpoint wait times, turnover and data
// quality (query::data_moment): a snapshot recomputes only the panels with news and repeats
// the others (the fake's rows carry the instant they were computed for), at half the cost.
TEST(ServerStream, ASnapshotRecomputesOnlyThePanelsWithNews) {
  FakeFactory factory;
  FakeBackend fake;
  server::ServerOptions options;
  options.timing.heartbeat_ms = 60000;  // only news makes a snapshot after the first
  auto stats = std::make_shared<ingest::IngestStats>();
  RunningServer running(factory, fake.backend(), options, stats);
  std::thread consumer([&] {
    std::this_thread::sleep_for(700ms);
    stats->stored_batches += 1;  // an insert (the count first, as the consumer does)
    stats->stored_lines += 7;
    std::this_thread::sleep_for(700ms);
    stats->batches += 1;  // its checkpoint
    stats->inserted += 7;
  });
  auto client = running.client();
  auto snapshots = read_snapshots(client, "/api/v1/stream", 3, 5s);
  consumer.join();
  ASSERT_EQ(snapshots.size(), 3u);
  auto computed_for = [](const json& snapshot, const char* panel) {
    return snapshot["panels"][panel][0]["as_of"].get<std::string>();
  };
  const std::vector<const char*> stored = {"revenue", "funnel", "top-items"};
  const std::vector<const char*> checkpointed = {"wait-times", "turnover", "data-quality"};
  for (const char* panel : stored) {
    EXPECT_NE(computed_for(snapshots[1], panel), computed_for(snapshots[0], panel)) << panel;
    EXPECT_EQ(computed_for(snapshots[2], panel), computed_for(snapshots[1], panel)) << panel;
  }
  for (const char* panel : checkpointed) {
    EXPECT_EQ(computed_for(snapshots[1], panel), computed_for(snapshots[0], panel)) << panel;
    EXPECT_NE(computed_for(snapshots[2], panel), computed_for(snapshots[1], panel)) << panel;
  }
  EXPECT_EQ(snapshots[1]["ingest"]["stored_lines"], 7);
  EXPECT_EQ(snapshots[1]["ingest"]["inserted"], 0);
  EXPECT_EQ(snapshots[2]["ingest"]["inserted"], 7);
  EXPECT_EQ(fake.metric_calls.load(), 6 + 3 + 3);
}

// A slow database slows the page's updates instead of taking the snapshot thread: with news
// before every round and each panel query taking 40 ms (a round of six, 240 ms), rounds start
// at least twice the average round apart, so the thread computes about half the time (53 %
// here). Without that bound the 250 ms minimum interval alone kept it busy 93 % of the time.
TEST(ServerStream, ASlowDatabaseSlowsTheSnapshotsInsteadOfTakingTheThread) {
  FakeFactory factory;
  FakeBackend fake;
  server::ServerOptions options;
  options.timing.heartbeat_ms = 60000;  // only news makes a snapshot after the first
  auto stats = std::make_shared<ingest::IngestStats>();
  std::atomic<int64_t> busy_us{0};
  fake.before_metric = [&] {  // the slow database: what the snapshot thread spends computing
    const auto started = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(40ms);
    busy_us += std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count();
  };
  RunningServer running(factory, fake.backend(), options, stats);
  std::atomic<bool> done{false};
  std::thread consumer([&] {  // an insert and a checkpoint every 10 ms: news all the time
    while (!done) {
      stats->stored_batches += 1;
      stats->batches += 1;
      std::this_thread::sleep_for(10ms);
    }
  });
  auto client = running.client();
  const auto started = std::chrono::steady_clock::now();
  auto snapshots = read_snapshots(client, "/api/v1/stream", 8, 20s);
  const double elapsed_us =
      static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count());
  done = true;
  consumer.join();
  ASSERT_EQ(snapshots.size(), 8u);
  const double busy = static_cast<double>(busy_us.load()) / elapsed_us;
  RecordProperty("busy_fraction", std::to_string(busy));
  EXPECT_LT(busy, 0.7) << "the snapshot thread computed " << busy * 100 << " % of the time";
}

TEST(ServerStream, GoneClientsAreForgottenAndStopEndsStreams) {
  FakeFactory factory;
  FakeBackend fake;
  server::ServerOptions options;
  options.timing.heartbeat_ms = 200;
  RunningServer running(factory, fake.backend(), options);
  {
    auto client = running.client();
    EXPECT_EQ(read_snapshots(client, "/api/v1/stream", 1, 5s).size(), 1u);
  }  // the receiver returned false: the client closed the connection
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (running.server().hub().subscriber_count() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(running.server().hub().subscriber_count(), 0u);

  // A page still connected when the server stops sees its stream end promptly.
  std::atomic<bool> ended{false};
  std::thread page([&] {
    auto client = running.client();
    read_snapshots(client, "/api/v1/stream", 1000, 20s);
    ended = true;
  });
  std::this_thread::sleep_for(500ms);
  auto stopping = std::chrono::steady_clock::now();
  running.server().stop();
  page.join();
  EXPECT_TRUE(ended);
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 5s);
}

TEST(ServerStream, DatabaseErrorIsReportedInBand) {
  FakeFactory factory;
  FakeBackend fake;
  fake.fail = true;
  RunningServer running(factory, fake.backend());
  auto client = running.client();
  auto snapshots = read_snapshots(client, "/api/v1/stream", 1, 5s);
  ASSERT_EQ(snapshots.size(), 1u);
  EXPECT_EQ(snapshots[0]["error"]["code"], "clickhouse_error");
}

// ---------------------------------------------------------------------------------------------
// The server over the embedded engine and the real metrics.

// A small day at two restaurants (docs/EVENTS.md), with a redelivery and a refused line.
std::vector<std::string> sample_lines() {
  auto event = [](const char* id, const char* type, const char* ts, const char* restaurant,
                  const char* name, const std::string& rest) {
    return fmt::format(
        R"({{"event_id":"{}","event_type":"{}","timestamp":"{}","restaurant_id":"{}","restaurant_name":"{}",{}}})",
        id, type, ts, restaurant, name, rest);
  };
  std::vector<std::string> lines = {
      event("5e0a0001-0000-4000-8000-000000000001", "table_seated", "2026-11-24T18:00:00.000Z",
            "srv-a", "Server Test A", R"("table_id":"T1","party_size":4,"server_id":"s1")"),
      event(
          "5e0a0001-0000-4000-8000-000000000002", "order_placed", "2026-11-24T18:05:00.000Z",
          "srv-a", "Server Test A",
          R"("table_id":"T1","server_id":"s1","order_id":"o-a1","items":[{"item_id":"m-burger","item_name":"Classic Burger","category":"mains","quantity":2,"price":14.5},{"item_id":"m-cola","item_name":"Cola","category":"drinks","quantity":2,"price":3.25}],"subtotal":35.5)"),
      event("5e0a0001-0000-4000-8000-000000000003", "order_completed", "2026-11-24T18:20:00.000Z",
            "srv-a", "Server Test A",
            R"("table_id":"T1","order_id":"o-a1","kitchen_time_minutes":14.5)"),
      event(
          "5e0a0001-0000-4000-8000-000000000004", "payment", "2026-11-24T18:50:00.000Z", "srv-a",
          "Server Test A",
          R"("table_id":"T1","order_id":"o-a1","subtotal":35.5,"tax":3.2,"tip":6,"total_amount":44.7,"payment_method":"credit_card")"),
      event("5e0a0001-0000-4000-8000-000000000005", "table_seated", "2026-11-24T18:10:00.000Z",
            "srv-b", "Server Test B", R"("table_id":"T9","party_size":2,"server_id":"s2")"),
      event(
          "5e0a0001-0000-4000-8000-000000000006", "order_placed", "2026-11-24T18:12:00.000Z",
          "srv-b", "Server Test B",
          R"("table_id":"T9","server_id":"s2","order_id":"o-b1","items":[{"item_id":"m-pizza","item_name":"Margherita Pizza","category":"mains","quantity":1,"price":12}],"subtotal":12)"),
      event(
          "5e0a0001-0000-4000-8000-000000000007", "payment", "2026-11-24T18:49:00.000Z", "srv-b",
          "Server Test B",
          R"("table_id":"T9","order_id":"o-b1","subtotal":12,"tax":1.08,"tip":2,"total_amount":15.08,"payment_method":"cash")"),
  };
  lines.push_back(lines[1]);  // a redelivery
  lines.push_back("{not json");
  return lines;
}

// Ingests the sample once per process into the test engine (migrating it first).
void ensure_sample_ingested() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto client = test::embedded_client();
    auto migrated = clickhouse::migrate(*client, {});
    ASSERT_TRUE(migrated.ok()) << migrated.error().to_string();
    static test::TempDir dir;
    std::string path = dir.str() + "/events.jsonl";
    std::ofstream out(path);
    for (const auto& line : sample_lines()) out << line << "\n";
    out.close();
    ingest::IngestOptions options;
    options.sources = {path};
    ingest::Consumer consumer(test::embedded_engine(), options);
    auto summary = consumer.run();
    ASSERT_TRUE(summary.ok()) << summary.error().to_string();
  });
}

server::MetricsBackend real_backend() {
  return {
      [](clickhouse::Client& c, const query::MetricRequest& r) { return query::run_metric(c, r); },
      [](clickhouse::Client& c, int64_t as_of) { return query::list_restaurants(c, as_of); }};
}

class EngineServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ensure_sample_ingested(); }
};

using EngineServerApi = EngineServerTest;
using EngineServerStream = EngineServerTest;

TEST_F(EngineServerApi, EveryMetricEndpointAnswersWhatRunMetricAnswers) {
  RunningServer running(test::embedded_engine(), real_backend());
  auto client = running.client();
  auto direct = test::embedded_client();
  const std::string as_of = "2026-11-24T18:52:00Z";
  struct Case {
    std::string query;
    std::optional<int64_t> window;
    std::optional<int> limit;
    std::optional<std::string> restaurant;
  };
  std::vector<Case> cases = {
      {"", {}, {}, {}},
      {"&window=2h", 2 * 3600 * 1000LL, {}, {}},
      {"&restaurant_id=srv-a", {}, {}, "srv-a"},
      {"&limit=1&window=1h", 3600 * 1000LL, 1, {}},
  };
  for (const auto& endpoint : server::metric_endpoints()) {
    for (const auto& c : cases) {
      std::string path = fmt::format("/api/v1/{}?as_of={}{}", endpoint.name, as_of, c.query);
      auto res = client.Get(path);
      ASSERT_TRUE(res) << path;
      ASSERT_EQ(res->status, 200) << path << ": " << res->body;
      query::MetricRequest request{endpoint.metric, *parse_rfc3339_ms(as_of), c.window, c.limit,
                                   c.restaurant};
      auto expected = query::run_metric(*direct, request);
      ASSERT_TRUE(expected.ok()) << expected.error().to_string();
      EXPECT_EQ(res->body, expected->dump()) << path;
    }
  }
  // Spot checks that the data is the sample's.
  json revenue =
      body_of(client.Get("/api/v1/revenue?as_of=2026-11-24T18:52:00Z&restaurant_id=srv-a"));
  ASSERT_EQ(revenue.size(), 1u);
  EXPECT_EQ(revenue[0]["revenue"], 44.7);
  EXPECT_EQ(revenue[0]["order_count"], 1);
  json top = body_of(
      client.Get("/api/v1/top-items?as_of=2026-11-24T18:20:00Z&restaurant_id=srv-a&limit=1"));
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0]["quantity"], 2);
}

TEST_F(EngineServerApi, RestaurantsHealthAndMetrics) {
  RunningServer running(test::embedded_engine(), real_backend());
  auto client = running.client();
  json list = body_of(client.Get("/api/v1/restaurants?as_of=2026-11-24T18:52:00Z"));
  ASSERT_TRUE(list.is_array());
  std::set<std::string> ids;
  for (const auto& row : list) ids.insert(row["restaurant_id"].get<std::string>());
  EXPECT_TRUE(ids.count("srv-a"));
  EXPECT_TRUE(ids.count("srv-b"));
  json before = body_of(client.Get("/api/v1/restaurants?as_of=2026-11-24T18:05:00Z"));
  for (const auto& row : before) EXPECT_NE(row["restaurant_id"], "srv-b");  // not seen yet

  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(body_of(health), json({{"status", "ok"}}));

  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics->body.find("tablepulse_events_read_total"), std::string::npos);
  EXPECT_NE(metrics->body.find("tablepulse_query_latency_ms_count{endpoint=\"restaurants\"} 2"),
            std::string::npos)
      << metrics->body;
}

TEST_F(EngineServerApi, BadInputIs400WritesAre405TokenIs401) {
  server::ServerOptions options;
  options.token = "engine-token";
  RunningServer running(test::embedded_engine(), real_backend(), options);
  auto client = running.client();
  httplib::Headers auth = {{"Authorization", "Bearer engine-token"}};
  for (const char* bad : {"/api/v1/revenue?as_of=2026-11-24", "/api/v1/funnel?window=abc",
                          "/api/v1/top-items?limit=5000", "/api/v1/unknown"}) {
    auto res = client.Get(bad, auth);
    ASSERT_TRUE(res) << bad;
    EXPECT_EQ(res->status, 400) << bad;
    EXPECT_EQ(error_code_of(res), "invalid_argument");
  }
  auto post = client.Post("/api/v1/revenue", auth, "", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  auto anonymous = client.Get("/api/v1/revenue");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  auto ok = client.Get("/api/v1/revenue?as_of=2026-11-24T18:52:00Z", auth);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(EngineServerStream, SnapshotPanelsEqualTheApiAtTheSnapshotInstant) {
  server::ServerOptions options;
  options.timing.heartbeat_ms = 500;
  RunningServer running(test::embedded_engine(), real_backend(), options);
  auto client = running.client();
  auto snapshots = read_snapshots(client, "/api/v1/stream?restaurant_id=srv-a", 2, 20s);
  ASSERT_EQ(snapshots.size(), 2u);
  EXPECT_NE(snapshots[0]["as_of"], snapshots[1]["as_of"]);  // heartbeats are fresh snapshots
  auto direct = test::embedded_client();
  for (const auto& endpoint : server::metric_endpoints()) {
    query::MetricRequest request;
    request.metric = endpoint.metric;
    request.as_of_ms = *parse_rfc3339_ms(snapshots[1]["as_of"].get<std::string>());
    request.restaurant_id = "srv-a";
    auto expected = query::run_metric(*direct, request);
    ASSERT_TRUE(expected.ok());
    EXPECT_EQ(snapshots[1]["panels"][std::string(endpoint.name)].dump(),
              json::parse(expected->dump()).dump())
        << endpoint.name;
  }
}

}  // namespace
}  // namespace tp
