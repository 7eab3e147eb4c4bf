// The HTTP backend against a real ClickHouse server (Debian's 18.16, a private instance per test
// process started by scripts/clickhouse-test-server.sh), and its wire format against a small
// fake server for what 18.16 cannot show (query parameters, modern error and summary headers,
// retry counts).
#include "clickhouse/http.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "clickhouse/error_codes.h"
#include "clickhouse/retry.h"
#include "ingest/consumer.h"
#include "test_support.h"

namespace tp {
namespace {

using nlohmann::json;
namespace codes = clickhouse::error_codes;
constexpr const char* kPassword = "tp-secret";


// Milliseconds since `start`, for timing assertions.
double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Inflates a gzip body, to check what the client put on the wire.
std::string gunzip(std::string_view data) {
  z_stream stream{};
  inflateInit2(&stream, 15 + 32);
  std::string out;
  char buffer[65536];
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof(buffer);
    rc = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof(buffer) - stream.avail_out);
  }
  inflateEnd(&stream);
  return rc == Z_STREAM_END ? out : "<not gzip>";
}

// Standard base64, to check the Basic authorization header.
std::string base64(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    for (int shift : {18, 12, 6}) out += kAlphabet[(n >> shift) & 63];
    out += '=';
  }
  return out;
}

// A private clickhouse-server on free loopback ports, in a temporary directory, stopped (its
// whole process group) when the test ends.
class TestServer {
 public:
  ~TestServer() { stop(); }

  // Starts on fresh ports; tries again on other ports if another process took them meanwhile.
  bool start() {
    for (int attempt = 0; attempt < 3; ++attempt) {
      http_port_ = test::free_port();
      tcp_port_ = test::free_port();
      if (http_port_ == tcp_port_) continue;
      if (restart()) return true;
    }
    return false;
  }

  // Starts again on the same directory and ports (after stop()).
  bool restart() {
    auto result = test::run_command(
        fmt::format("TP_WATCH_PID={} {}/scripts/clickhouse-test-server.sh start {} {} {} 2>&1",
                    ::getpid(), TABLEPULSE_SOURCE_DIR, dir_.str(), http_port_, tcp_port_));
    if (result.status != 0) {
      ADD_FAILURE() << "test server did not start: " << result.out;
      return false;
    }
    running_ = true;
    return true;
  }

  void stop() {
    if (!running_) return;
    auto result = test::run_command(fmt::format("{}/scripts/clickhouse-test-server.sh stop {} 2>&1",
                                                TABLEPULSE_SOURCE_DIR, dir_.str()));
    EXPECT_EQ(result.status, 0) << result.out;
    running_ = false;
  }

  std::string url() const { return fmt::format("http://127.0.0.1:{}", http_port_); }
  int http_port() const { return http_port_; }

 private:
  test::TempDir dir_;
  int http_port_ = 0;
  int tcp_port_ = 0;
  bool running_ = false;
};

// Options for the test server: short timeouts so failure tests stay quick.
clickhouse::HttpOptions test_options(const std::string& url) {
  clickhouse::HttpOptions options;
  options.url = url;
  options.password = kPassword;
  options.connect_timeout_ms = 2000;
  options.request_timeout_ms = 60000;
  return options;
}

std::unique_ptr<clickhouse::Client> connect(const clickhouse::HttpOptions& options) {
  auto factory = clickhouse::open_http(options);
  EXPECT_TRUE(factory.ok()) << factory.error().to_string();
  auto client = factory.value()->connect();
  EXPECT_TRUE(client.ok()) << client.error().to_string();
  return std::move(client.value());
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.start()); }
  void TearDown() override { server_.stop(); }

  std::unique_ptr<clickhouse::Client> client() { return connect(test_options(server_.url())); }

  // The server's major version (18 for Debian's package).
  int server_major(clickhouse::Client& client) {
    auto rows = client.query_json_rows("SELECT version() AS v");
    EXPECT_TRUE(rows.ok());
    return rows.ok() ? std::stoi(json::parse(rows->at(0))["v"].get<std::string>()) : 0;
  }

  TestServer server_;
};

TEST_F(HttpServerTest, CreatesTableInsertsAndSelectsBack) {
  auto ch = client();
  ASSERT_TRUE(ch->execute("CREATE TABLE visits (id UInt64, name String, day Date) "
                          "ENGINE = MergeTree() ORDER BY id")
                  .ok());
  std::string rows =
      "{\"id\":1,\"name\":\"plain\",\"day\":\"2026-11-24\"}\n"
      "{\"id\":18446744073709551615,\"name\":\"it's \\\\ \\\"q\\\"\\n\\u00e9\",\"day\":"
      "\"2026-11-25\"}\n"
      "{\"id\":3,\"name\":\"\",\"day\":\"1970-01-02\"}\n";
  // 18.16 lacks insert_deduplication_token: the client notices and inserts without it.
  auto inserted = ch->insert("visits", "JSONEachRow", rows, {"batch-1"});
  ASSERT_TRUE(inserted.ok()) << inserted.error().to_string();
  ASSERT_TRUE(
      ch->insert("visits", "JSONEachRow", "{\"id\":4,\"name\":\"x\",\"day\":\"2026-01-01\"}").ok());

  auto selected = ch->query_json_rows("SELECT id, name, day FROM visits ORDER BY id ;\n ");
  ASSERT_TRUE(selected.ok()) << selected.error().to_string();
  ASSERT_EQ(selected->size(), 4u);
  auto first = json::parse(selected->at(0));
  EXPECT_EQ(first["id"], 1);  // 64-bit integers as JSON numbers
  EXPECT_EQ(first["name"], "plain");
  EXPECT_EQ(first["day"], "2026-11-24");
  auto big = json::parse(selected->at(3));
  EXPECT_EQ(big["id"].get<uint64_t>(), 18446744073709551615ull);
  EXPECT_EQ(big["name"], "it's \\ \"q\"\n\u00e9");
  EXPECT_EQ(json::parse(selected->at(1))["name"], "");
  EXPECT_GT(ch->last_stats().elapsed_ms, 0);

  auto sums = ch->query_json_rows(
      "SELECT count() AS n, toDecimal64(2.5, 2) AS d FROM visits WHERE id < 10");
  ASSERT_TRUE(sums.ok()) << sums.error().to_string();
  auto sum_row = json::parse(sums->at(0));
  EXPECT_EQ(sum_row["n"], 3);
  EXPECT_TRUE(sum_row["d"].is_number());  // decimals unquoted without any extra setting

  auto empty = ch->query_json_rows("SELECT * FROM visits WHERE id = 12345");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(HttpServerTest, Inserts100kRowsAndReportsTheRate) {
  auto ch = client();
  ASSERT_TRUE(ch->execute("CREATE TABLE bulk (id UInt64, name String, day Date) "
                          "ENGINE = MergeTree() ORDER BY id")
                  .ok());
  constexpr int kRows = 100000;
  std::string data;
  data.reserve(kRows * 64);
  for (int i = 0; i < kRows; ++i) {
    data += fmt::format(R"({{"id":{},"name":"restaurant-{}-table-{}","day":"2026-11-{:02}"}})", i,
                        i % 97, i % 31, 1 + i % 28);
    data += '\n';
  }
  auto started = std::chrono::steady_clock::now();
  auto status = ch->insert("bulk", "JSONEachRow", data, {"bulk-1"});
  double elapsed = ms_since(started);
  ASSERT_TRUE(status.ok()) << status.error().to_string();
  fmt::print(
      "[ measure  ] inserted {} rows ({:.1f} MB JSONEachRow, gzip) in {:.0f} ms: "
      "{:.0f} rows/s\n",
      kRows, data.size() / 1e6, elapsed, kRows / (elapsed / 1000.0));
  auto rows = ch->query_json_rows("SELECT count() AS n, sum(id) AS s FROM bulk");
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  auto row = json::parse(rows->at(0));
  EXPECT_EQ(row["n"], kRows);
  EXPECT_EQ(row["s"].get<uint64_t>(), uint64_t{kRows} * (kRows - 1) / 2);
}

TEST_F(HttpServerTest, UnknownTableIsClickHouseError60) {
  auto ch = client();
  auto rows = ch->query_json_rows("SELECT * FROM no_such_table");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().code, ErrorCode::kClickHouse);
  EXPECT_EQ(rows.error().clickhouse_code, codes::UNKNOWN_TABLE);
  auto status = ch->insert("no_such_table", "JSONEachRow", "{\"id\":1}\n");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kClickHouse);
  EXPECT_EQ(status.error().clickhouse_code, codes::UNKNOWN_TABLE);
}

TEST_F(HttpServerTest, SyntaxErrorIs62) {
  auto ch = client();
  auto status = ch->execute("SELEC 1");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kClickHouse);
  EXPECT_EQ(status.error().clickhouse_code, codes::SYNTAX_ERROR);
  // The same client goes on working after an error.
  EXPECT_TRUE(ch->query_json_rows("SELECT 1 AS one").ok());
  EXPECT_TRUE(ch->execute("SELECT 1").ok());  // output of execute() is discarded
  auto late = ch->execute(
      "SELECT throwIf(number = 50000) FROM system.numbers LIMIT 100000 "
      "SETTINGS max_block_size = 1000");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().clickhouse_code, codes::FUNCTION_THROW_IF_VALUE_IS_NON_ZERO);
}

TEST_F(HttpServerTest, ErrorAfterTheFirstRowsIsReported) {
  auto ch = client();
  // The server has sent rows (and HTTP 200) before the exception: it must still be an error.
  auto rows = ch->query_json_rows(
      "SELECT throwIf(number = 50000) AS x, number FROM system.numbers LIMIT 100000 "
      "SETTINGS max_block_size = 1000");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().code, ErrorCode::kClickHouse);
  EXPECT_EQ(rows.error().clickhouse_code, codes::FUNCTION_THROW_IF_VALUE_IS_NON_ZERO);
}

TEST_F(HttpServerTest, WrongPasswordOrUserIsAuthError) {
  auto options = test_options(server_.url());
  options.password = "not-the-password";
  auto ch = connect(options);
  auto rows = ch->query_json_rows("SELECT 1 AS one");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().code, ErrorCode::kAuth);
  EXPECT_EQ(rows.error().clickhouse_code, codes::WRONG_PASSWORD);
  EXPECT_EQ(rows.error().message.find("not-the-password"), std::string::npos);

  options.user = "nobody";
  auto other = connect(options);
  auto status = other->execute("SELECT 1");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kAuth);
  EXPECT_EQ(status.error().clickhouse_code, codes::UNKNOWN_USER);
}

// One attempt, no retries inside the client: the caller's policy decides (clickhouse/retry.h).
TEST_F(HttpServerTest, StoppedServerIsUnavailableAtOnce) {
  auto ch = client();
  ASSERT_TRUE(ch->query_json_rows("SELECT 1 AS one").ok());  // a kept-alive connection
  server_.stop();
  auto started = std::chrono::steady_clock::now();
  auto rows = ch->query_json_rows("SELECT 1 AS one");
  double elapsed = ms_since(started);
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().code, ErrorCode::kUnavailable);
  EXPECT_LT(elapsed, 1000);
  auto status = ch->insert("t", "JSONEachRow", "{}\n", {"token"});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kUnavailable);
}

TEST_F(HttpServerTest, SameClientWorksAgainAfterServerRestart) {
  auto ch = client();
  ASSERT_TRUE(ch->execute("CREATE TABLE kept (id UInt64) ENGINE = MergeTree() ORDER BY id").ok());
  ASSERT_TRUE(ch->insert("kept", "JSONEachRow", "{\"id\":1}\n", {"k-1"}).ok());
  server_.stop();
  auto down = ch->query_json_rows("SELECT count() AS n FROM kept");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
  ASSERT_TRUE(server_.restart());  // same directory, same port
  auto rows = ch->query_json_rows("SELECT count() AS n FROM kept");
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  EXPECT_EQ(json::parse(rows->at(0))["n"], 1);
  EXPECT_TRUE(ch->insert("kept", "JSONEachRow", "{\"id\":2}\n", {"k-2"}).ok());
  // A restart while the connection sits idle in curl's cache is survived too.
  server_.stop();
  ASSERT_TRUE(server_.restart());
  auto again = ch->query_json_rows("SELECT count() AS n FROM kept");
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(json::parse(again->at(0))["n"], 2);
}

TEST_F(HttpServerTest, AcceptsGzipRequestBodies) {
  for (bool compress : {true, false}) {
    SCOPED_TRACE(compress ? "gzip" : "plain");
    auto options = test_options(server_.url());
    options.compress = compress;
    auto ch = connect(options);
    std::string table = compress ? "gz" : "plain";
    ASSERT_TRUE(ch->execute(fmt::format("CREATE TABLE {} (id UInt64, name String) "
                                        "ENGINE = MergeTree() ORDER BY id",
                                        table))
                    .ok());
    std::string data;
    for (int i = 0; i < 2000; ++i) data += fmt::format("{{\"id\":{},\"name\":\"n{}\"}}\n", i, i);
    ASSERT_GT(data.size(), 16384u);  // well over the gzip threshold
    auto status = ch->insert(table, "JSONEachRow", data, {"gz-" + table});
    ASSERT_TRUE(status.ok()) << status.error().to_string();
    // A statement body over the threshold is compressed as well.
    std::string long_literal(10000, 'x');
    auto rows = ch->query_json_rows(
        fmt::format("SELECT count() AS n, length('{}') AS l FROM {}", long_literal, table));
    ASSERT_TRUE(rows.ok()) << rows.error().to_string();
    auto row = json::parse(rows->at(0));
    EXPECT_EQ(row["n"], 2000);
    EXPECT_EQ(row["l"], 10000);
    // A large answer, gzip-compressed by the server when asked.
    auto all = ch->query_json_rows(fmt::format("SELECT id, name FROM {} ORDER BY id", table));
    ASSERT_TRUE(all.ok()) << all.error().to_string();
    ASSERT_EQ(all->size(), 2000u);
    EXPECT_EQ(json::parse(all->back())["name"], "n1999");
  }
}

TEST_F(HttpServerTest, CredentialsNeverAppearInDescriptionsOrErrors) {
  auto options =
      test_options(fmt::format("http://default:{}@127.0.0.1:{}/", kPassword, server_.http_port()));
  options.password.clear();  // taken from the URL
  auto factory = clickhouse::open_http(options);
  ASSERT_TRUE(factory.ok()) << factory.error().to_string();
  EXPECT_EQ(factory.value()->describe().find(kPassword), std::string::npos);
  auto ch = factory.value()->connect();
  ASSERT_TRUE(ch.ok());
  EXPECT_EQ(ch.value()->describe().find(kPassword), std::string::npos);
  EXPECT_EQ(ch.value()->describe().find("default@"), std::string::npos);
  ASSERT_TRUE(ch.value()->query_json_rows("SELECT 1 AS one").ok());  // the URL's password works

  auto unknown = ch.value()->query_json_rows("SELECT * FROM missing_table");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().to_string().find(kPassword), std::string::npos);
  server_.stop();
  auto down = ch.value()->execute("SELECT 1");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(down.error().to_string().find(kPassword), std::string::npos);
  auto bad = clickhouse::open_http(test_options(fmt::format("ftp://u:{}@host/", kPassword)));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().to_string().find(kPassword), std::string::npos);
}

TEST_F(HttpServerTest, TimeoutIsReportedAndTheClientRecovers) {
  auto options = test_options(server_.url());
  options.request_timeout_ms = 300;
  auto ch = connect(options);
  auto started = std::chrono::steady_clock::now();
  auto rows = ch->query_json_rows("SELECT sleep(2) AS s");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().code, ErrorCode::kTimeout);
  EXPECT_LT(ms_since(started), 1500);  // timeouts are not retried
  EXPECT_TRUE(ch->query_json_rows("SELECT 1 AS one").ok());
}

TEST_F(HttpServerTest, DatabaseOptionSelectsTheDatabase) {
  auto ch = client();
  ASSERT_TRUE(ch->execute("CREATE DATABASE tp_other").ok());
  auto options = test_options(server_.url());
  options.database = "tp_other";
  auto other = connect(options);
  ASSERT_TRUE(
      other->execute("CREATE TABLE here (id UInt64) ENGINE = MergeTree() ORDER BY id").ok());
  ASSERT_TRUE(other->insert("here", "JSONEachRow", "{\"id\":7}\n").ok());
  auto rows = ch->query_json_rows("SELECT id FROM tp_other.here");
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  EXPECT_EQ(json::parse(rows->at(0))["id"], 7);
}

// Query parameters arrived in ClickHouse 19.x: on 18.16 the server refuses them (code 115,
// UNKNOWN_SETTING) and the wire format is checked by HttpServerWire instead.
TEST_F(HttpServerTest, QueryParametersWhereTheServerSupportsThem) {
  auto ch = client();
  int major = server_major(*ch);
  auto rows = ch->query_json_rows("SELECT {s:String} AS s, {n:UInt32} + 1 AS n",
                                  {{"s", "it's a \\ 'quote'\n&x=1"}, {"n", "41"}});
  if (major < 19) {
    ASSERT_FALSE(rows.ok());
    EXPECT_EQ(rows.error().code, ErrorCode::kClickHouse);
    EXPECT_EQ(rows.error().clickhouse_code, codes::UNKNOWN_SETTING);
    fmt::print("[ note     ] ClickHouse {} has no query parameters: round trip not tested\n",
               major);
    return;
  }
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  auto row = json::parse(rows->at(0));
  EXPECT_EQ(row["s"], "it's a \\ 'quote'\n&x=1");
  EXPECT_EQ(row["n"], 42);
}

TEST(HttpServerOptions, RejectsBadUrlsAndOptions) {
  for (const char* url : {"ftp://127.0.0.1:8123", "127.0.0.1:8123", "", "http://"}) {
    clickhouse::HttpOptions options;
    options.url = url;
    auto factory = clickhouse::open_http(options);
    ASSERT_FALSE(factory.ok()) << url;
    EXPECT_EQ(factory.error().code, ErrorCode::kInvalidArgument) << url;
  }
  clickhouse::HttpOptions options;
  options.request_timeout_ms = 0;
  EXPECT_FALSE(clickhouse::open_http(options).ok());
  options = {};
  options.url = "HTTPS://example.invalid:8443/path";
  EXPECT_TRUE(clickhouse::open_http(options).ok());  // no contact until the first statement
}

// ---- Wire format, against a fake server -------------------------------------------------

// A request as the fake server read it.
struct SeenRequest {
  std::string target;                          // path and query string
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// A canned answer.
struct CannedResponse {
  int status = 200;
  std::string headers;  // extra header lines, each ending in \r\n
  std::string body;
};

// A minimal HTTP/1.1 server on a free loopback port: records requests and answers each with
// the next canned response (default 200, empty). In hang-up mode it closes every connection
// as soon as it is accepted; with `hang_up_on`, it records a request whose target contains that
// text and closes its connection without an answer (the server died while it ran), and closes
// every connection after one answer (libcurl resends a request once by itself when a reused
// connection dies before answering, which would blur the counts).
class FakeServer {
 public:
  explicit FakeServer(bool hang_up = false, std::string hang_up_on = "")
      : hang_up_(hang_up), hang_up_on_(std::move(hang_up_on)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    ::listen(listen_fd_, 16);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    stopping_ = true;
    thread_.join();
    for (auto& connection : connections_) connection.join();
    ::close(listen_fd_);
  }

  void answer(CannedResponse response) {
    std::lock_guard lock(mutex_);
    canned_.push_back(std::move(response));
  }
  std::vector<SeenRequest> requests() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  int accepted() const { return accepted_.load(); }
  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }

 private:
  void serve() {
    while (!stopping_) {
      pollfd fd{listen_fd_, POLLIN, 0};
      if (::poll(&fd, 1, 50) <= 0) continue;
      int connection = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) continue;
      ++accepted_;
      if (hang_up_) {
        ::close(connection);
        continue;
      }
      // A thread per connection: each client keeps its own connection alive.
      connections_.emplace_back([this, connection] {
        handle(connection);
        ::close(connection);
      });
    }
  }

  // Serves requests on one kept-alive connection until the client closes it or we stop.
  void handle(int connection) {
    std::string buffer;
    while (!stopping_) {
      size_t header_end;
      while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!read_more(connection, buffer)) return;
      }
      SeenRequest request;
      std::string head = buffer.substr(0, header_end);
      size_t line_end = head.find("\r\n");
      std::string request_line = head.substr(0, line_end);
      size_t first_space = request_line.find(' ');
      request.target =
          request_line.substr(first_space + 1, request_line.rfind(' ') - first_space - 1);
      for (size_t at = line_end + 2; at < head.size() && line_end != std::string::npos;) {
        size_t end = head.find("\r\n", at);
        if (end == std::string::npos) end = head.size();
        std::string line = head.substr(at, end - at);
        size_t colon = line.find(':');
        std::string name = line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        size_t value_at = line.find_first_not_of(' ', colon + 1);
        request.headers[name] = value_at == std::string::npos ? "" : line.substr(value_at);
        at = end + 2;
      }
      size_t length = request.headers.count("content-length")
                          ? std::stoul(request.headers["content-length"])
                          : 0;
      buffer.erase(0, header_end + 4);
      while (buffer.size() < length) {
        if (!read_more(connection, buffer)) return;
      }
      request.body = buffer.substr(0, length);
      buffer.erase(0, length);
      CannedResponse response;
      {
        std::lock_guard lock(mutex_);
        bool hang_up = !hang_up_on_.empty() && request.target.find(hang_up_on_) != std::string::npos;
        seen_.push_back(std::move(request));
        if (hang_up) return;
        if (!canned_.empty()) {
          response = std::move(canned_.front());
          canned_.pop_front();
        }
      }
      if (!hang_up_on_.empty()) response.headers += "Connection: close\r\n";
      std::string out =
          fmt::format("HTTP/1.1 {} X\r\nContent-Length: {}\r\n{}\r\n{}", response.status,
                      response.body.size(), response.headers, response.body);
      if (::send(connection, out.data(), out.size(), MSG_NOSIGNAL) < 0) return;
      if (!hang_up_on_.empty()) return;
    }
  }

  bool read_more(int connection, std::string& buffer) {
    while (!stopping_) {
      pollfd fd{connection, POLLIN, 0};
      int ready = ::poll(&fd, 1, 50);
      if (ready == 0) continue;
      if (ready < 0) return false;
      char chunk[65536];
      ssize_t n = ::recv(connection, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<size_t>(n));
      return true;
    }
    return false;
  }

  bool hang_up_;
  std::string hang_up_on_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::mutex mutex_;
  std::deque<CannedResponse> canned_;
  std::vector<SeenRequest> seen_;
  std::thread thread_;
  std::vector<std::thread> connections_;  // touched by the accepting thread only
};

// curl_easy_escape's encoding of `value`, to compare query strings.
std::string url_encoded(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

TEST(HttpServerWire, SendsSettingsParametersAuthAndGzip) {
  FakeServer server;
  server.answer({200, "", "{\"s\":\"x\"}\n"});
  auto options = test_options(server.url());
  options.password = "wire-secret";
  auto ch = connect(options);
  std::string value = "it's a \\ 'quote'\n&x=1 ";
  auto rows = ch->query_json_rows("SELECT {s:String} AS s ; \n", {{"s", value}});
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  EXPECT_EQ(rows->size(), 1u);
  ASSERT_TRUE(ch->insert("db.t", "JSONEachRow", std::string(5000, ' ') + "{}\n", {"tok/1"}).ok());
  ASSERT_TRUE(ch->insert("t", "JSONEachRow", "{}\n").ok());

  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 3u);
  const auto& query = seen[0];
  EXPECT_EQ(query.body, "SELECT {s:String} AS s\nFORMAT JSONEachRow");
  EXPECT_NE(query.target.find("param_s=" + url_encoded(clickhouse::escape_parameter(value))),
            std::string::npos)
      << query.target;
  EXPECT_NE(query.target.find("database=default"), std::string::npos);
  EXPECT_NE(query.target.find("output_format_json_quote_64bit_integers=0"), std::string::npos);
  EXPECT_NE(query.target.find("enable_http_compression=1"), std::string::npos);
  EXPECT_EQ(query.target.find("quote_decimals"), std::string::npos);  // 18.16 lacks it
  EXPECT_EQ(query.headers.at("authorization"), "Basic " + base64("default:wire-secret"));
  EXPECT_EQ(query.target.find("wire-secret"), std::string::npos);
  EXPECT_TRUE(query.headers.count("accept-encoding"));
  EXPECT_FALSE(query.headers.count("content-encoding"));  // small bodies go plain

  const auto& big = seen[1];
  EXPECT_NE(big.target.find("query=" + url_encoded("INSERT INTO db.t FORMAT JSONEachRow")),
            std::string::npos)
      << big.target;
  EXPECT_NE(big.target.find("insert_deduplication_token=tok%2F1"), std::string::npos);
  EXPECT_EQ(big.headers.at("content-encoding"), "gzip");
  EXPECT_LT(big.body.size(), 1000u);
  EXPECT_EQ(gunzip(big.body), std::string(5000, ' ') + "{}\n");
  EXPECT_EQ(seen[2].target.find("insert_deduplication_token"), std::string::npos);
  EXPECT_EQ(seen[2].body, "{}\n");
}

TEST(HttpServerWire, ReadsModernErrorAndSummaryHeaders) {
  FakeServer server;
  server.answer({404, "X-ClickHouse-Exception-Code: 60\r\n",
                 "Code: 60. DB::Exception: Unknown table expression identifier 'x'. "
                 "(UNKNOWN_TABLE) (version 24.8.1.1)\n"});
  server.answer({403, "X-ClickHouse-Exception-Code: 516\r\n",
                 "Code: 516. DB::Exception: default: Authentication failed. "
                 "(AUTHENTICATION_FAILED)\n"});
  server.answer({200,
                 "X-ClickHouse-Summary: {\"read_rows\":\"1234\",\"read_bytes\":\"56789\","
                 "\"written_rows\":\"0\"}\r\n",
                 "{\"n\":1}\n{\"n\":2}\n"});
  server.answer({500, "", "plain text without a code"});
  server.answer({502, "", "<html>bad gateway</html>"});
  auto ch = connect(test_options(server.url()));
  auto unknown = ch->query_json_rows("SELECT * FROM x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kClickHouse);
  EXPECT_EQ(unknown.error().clickhouse_code, codes::UNKNOWN_TABLE);
  auto auth = ch->execute("SELECT 1");
  ASSERT_FALSE(auth.ok());
  EXPECT_EQ(auth.error().code, ErrorCode::kAuth);
  EXPECT_EQ(auth.error().clickhouse_code, codes::AUTHENTICATION_FAILED);
  auto rows = ch->query_json_rows("SELECT n FROM t");
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  EXPECT_EQ(rows->size(), 2u);
  EXPECT_EQ(ch->last_stats().rows_read, 1234u);
  EXPECT_EQ(ch->last_stats().bytes_read, 56789u);
  auto plain = ch->execute("SELECT 1");
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().code, ErrorCode::kClickHouse);
  EXPECT_EQ(plain.error().clickhouse_code, 0);
  auto proxy = ch->execute("SELECT 1");
  ASSERT_FALSE(proxy.ok());
  EXPECT_EQ(proxy.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(server.requests().size(), 5u);  // server errors are never retried
}

TEST(HttpServerWire, MidStreamJsonExceptionIsAnError) {
  FakeServer server;
  server.answer({200, "",
                 "{\"x\":0}\n{\"exception\": \"Code: 395. DB::Exception: Value passed to "
                 "'throwIf' function is non-zero. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)\"}\n"});
  auto ch = connect(test_options(server.url()));
  auto rows = ch->query_json_rows("SELECT x FROM t");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().clickhouse_code, codes::FUNCTION_THROW_IF_VALUE_IS_NON_ZERO);
}

// Stored data that does not read back is data_corrupted on both backends (one mapping,
// clickhouse::statement_error); over HTTP it was clickhouse_error, and the server's /healthz and
// API could not tell a broken part from a refused statement.
TEST(HttpServerWire, BrokenPartCodesAreDataCorrupted) {
  FakeServer server;
  server.answer({500, "X-ClickHouse-Exception-Code: 40\r\n",
                 "Code: 40. DB::Exception: Checksum doesn't match: corrupted data. Reference: "
                 "1234. Actual: 5678. (CHECKSUM_DOESNT_MATCH) (version 24.8.1.1)\n"});
  server.answer({500, "", "Code: 246. DB::Exception: Bad size of marks file. (CORRUPTED_DATA)\n"});
  server.answer({200, "",
                 "{\"x\":0}\n{\"exception\": \"Code: 271. DB::Exception: Cannot decompress. "
                 "(CANNOT_DECOMPRESS)\"}\n"});
  server.answer({500, "X-ClickHouse-Exception-Code: 60\r\n",
                 "Code: 60. DB::Exception: Unknown table. (UNKNOWN_TABLE)\n"});
  auto ch = connect(test_options(server.url()));
  auto header = ch->query_json_rows("SELECT * FROM events");
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.error().code, ErrorCode::kDataCorrupted);
  EXPECT_EQ(header.error().clickhouse_code, codes::CHECKSUM_DOESNT_MATCH);
  auto body = ch->execute("OPTIMIZE TABLE events");
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.error().code, ErrorCode::kDataCorrupted);
  EXPECT_EQ(body.error().clickhouse_code, codes::CORRUPTED_DATA);
  auto mid_stream = ch->query_json_rows("SELECT x FROM events");
  ASSERT_FALSE(mid_stream.ok());
  EXPECT_EQ(mid_stream.error().code, ErrorCode::kDataCorrupted);
  EXPECT_EQ(mid_stream.error().clickhouse_code, codes::CANNOT_DECOMPRESS);
  auto other = ch->execute("SELECT * FROM nowhere");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, ErrorCode::kClickHouse);
  EXPECT_FALSE(clickhouse::is_transient(header.error()));  // a retry reads the same bytes
}

// The one mapping both backends use.
TEST(ClickHouseErrors, BrokenPartCodesAndNoOthersAreDataCorrupted) {
  for (int code : {codes::CHECKSUM_DOESNT_MATCH, codes::CORRUPTED_DATA, codes::CANNOT_DECOMPRESS}) {
    auto error = clickhouse::statement_error("x", code);
    EXPECT_EQ(error.code, ErrorCode::kDataCorrupted) << code;
    EXPECT_EQ(error.clickhouse_code, code);
  }
  for (int code : {0, codes::UNKNOWN_TABLE, codes::SYNTAX_ERROR, codes::TOO_MANY_PARTS}) {
    EXPECT_EQ(clickhouse::statement_error("x", code).code, ErrorCode::kClickHouse) << code;
  }
}

// Each call is one attempt, whatever failed; retrying is the caller's, through the policy.
TEST(HttpServerWire, OneCallIsOneAttemptAndThePolicyRetriesIt) {
  FakeServer server(/*hang_up=*/true);
  auto ch = connect(test_options(server.url()));
  auto rows = ch->query_json_rows("SELECT 1");
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_FALSE(ch->insert("t", "JSONEachRow", "{}\n", {"token"}).ok());
  EXPECT_EQ(server.accepted(), 2);

  clickhouse::RetryPolicy policy;
  policy.first_backoff_ms = 20;
  policy.jitter = 0;
  policy.max_attempts = 4;
  auto started = std::chrono::steady_clock::now();
  Status status = clickhouse::retry(policy, [&] { return ch->execute("SELECT 1"); });
  double elapsed = ms_since(started);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(server.accepted(), 2 + 4);  // exactly the policy's four attempts
  EXPECT_GE(elapsed, 20 + 40 + 80);
}

// The consumer's insert over HTTP, the server dying under every one: each failed insert is
// sent as often as the consumer's retry policy says, not that times the HTTP client's own
// retries (4 client tries x 6 consumer attempts before: 24 requests for one batch).
TEST(HttpServerWire, AFailingInsertIsSentAsOftenAsThePolicySays) {
  FakeServer server(/*hang_up=*/false, url_encoded("INSERT INTO events"));
  test::TempDir dir;
  const std::string input = dir.str() + "/events.jsonl";
  {
    std::ofstream out(input);
    out << R"({"event_id":"00000000-0000-4000-8000-000000000001","event_type":"table_seated",)"
           R"("timestamp":"2026-11-24T18:00:00Z","restaurant_id":"r-1","restaurant_name":"One",)"
           R"("table_id":"T1","party_size":2,"server_id":"s"})"
        << "\n";
  }
  auto factory = clickhouse::open_http(test_options(server.url()));
  ASSERT_TRUE(factory.ok()) << factory.error().to_string();
  ingest::IngestOptions options;
  options.sources = {input};
  options.retry.max_attempts = 3;
  options.retry.first_backoff_ms = 10;
  ingest::Consumer consumer(*factory.value(), options);
  auto run = consumer.run();
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.error().code, ErrorCode::kUnavailable);
  int inserts = 0;
  for (const auto& request : server.requests()) {
    inserts += request.target.find(url_encoded("INSERT INTO events")) != std::string::npos;
  }
  EXPECT_EQ(inserts, 3);
}

TEST(HttpServerWire, OldServerWithoutDeduplicationTokenFallsBack) {
  FakeServer server;
  server.answer({500, "",
                 "Code: 115, e.displayText() = DB::Exception: Unknown setting "
                 "insert_deduplication_token, e.what() = DB::Exception\n"});
  auto options = test_options(server.url());
  auto factory = clickhouse::open_http(options);
  ASSERT_TRUE(factory.ok());
  auto first = factory.value()->connect();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first.value()->insert("t", "JSONEachRow", "{}\n", {"tok"}).ok());
  auto second = factory.value()->connect();  // what the server lacks is shared by clients
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(second.value()->insert("t", "JSONEachRow", "{}\n", {"tok-2"}).ok());
  auto seen = server.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_NE(seen[0].target.find("insert_deduplication_token=tok"), std::string::npos);
  EXPECT_EQ(seen[1].target.find("insert_deduplication_token"), std::string::npos);
  EXPECT_EQ(seen[2].target.find("insert_deduplication_token"), std::string::npos);
}

}  // namespace
}  // namespace tp
