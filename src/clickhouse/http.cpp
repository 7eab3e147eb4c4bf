#include "clickhouse/http.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>

#include "clickhouse/error_codes.h"
#include "common/fault.h"

// Server versions differ in what they offer over HTTP; the client works with all of them:
// - ClickHouse 18.16 (Debian's package, used by the tests) has no X-ClickHouse-Exception-Code
//   header (the code is parsed from the "Code: 60, e.displayText() = ..." body), no
//   X-ClickHouse-Summary header (last_stats() then has only elapsed_ms), no query parameters
//   (the server answers code 115 "Unknown setting param_x") and no insert_deduplication_token
//   (the client notices code 115 once and inserts without it). It does accept gzip request
//   bodies and sends gzip answers under enable_http_compression=1, as modern servers do.
// - Modern servers send JSON decimals unquoted by default, so no
//   output_format_json_quote_decimals is sent (18.16 rejects unknown settings).

namespace tp::clickhouse {
namespace {

// Bodies smaller than this go uncompressed: gzip costs more than it saves on a short statement.
constexpr size_t kGzipMinBytes = 4096;
// Longest server text kept in an Error (a proxy may answer with a whole HTML page).
constexpr size_t kMaxMessageBytes = 4096;
// ClickHouse's codes for refused credentials.
constexpr int kAuthCodes[] = {error_codes::AUTHENTICATION_FAILED, error_codes::UNKNOWN_USER,
                              error_codes::WRONG_PASSWORD};

// curl_global_init is not thread-safe on every libcurl build: run it once, before any handle.
void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Trims blanks (and CR/LF) on both ends, for server text.
std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// ClickHouse's code in an error text: "Code: 60, e.displayText() = ..." (18.16) or
// "Code: 60. DB::Exception: ..." (modern); 0 if there is none.
int code_in_text(std::string_view text) {
  // A scan, not std::regex: GCC 12 warns inside <regex> in sanitizer builds (-Werror).
  for (size_t at = text.find("Code: "); at != std::string_view::npos;
       at = text.find("Code: ", at + 1)) {
    const char* digits = text.data() + at + 6;
    int code = 0;
    auto [end, ec] = std::from_chars(digits, text.data() + text.size(), code);
    if (ec == std::errc() && end != digits) return code;
  }
  return 0;
}

// Gzips a request body (a gzip wrapper, which ClickHouse accepts as Content-Encoding: gzip).
Result<std::string> gzip(std::string_view data) {
  z_stream stream{};
  // Level 1: inserts are large and frequent; speed matters more than the last few percent.
  if (deflateInit2(&stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return make_error(ErrorCode::kInternal, "zlib deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&stream, data.size()));
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  size_t in_left = data.size();
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    // avail_in/avail_out are 32-bit: feed bodies over 4 GiB in slices.
    uInt in_chunk = static_cast<uInt>(std::min<size_t>(in_left, UINT32_MAX));
    stream.avail_in = in_chunk;
    size_t produced = static_cast<size_t>(reinterpret_cast<char*>(stream.next_out) - out.data());
    if (produced == out.size()) {
      out.resize(out.size() * 2 + 64);
      stream.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    }
    size_t room = out.size() - produced;
    stream.avail_out = static_cast<uInt>(std::min<size_t>(room, UINT32_MAX));
    rc = deflate(&stream, in_left == in_chunk ? Z_FINISH : Z_NO_FLUSH);
    in_left -= in_chunk - stream.avail_in;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      deflateEnd(&stream);
      return make_error(ErrorCode::kInternal, "zlib deflate failed ({})", rc);
    }
  }
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

// What every client of one factory shares: the checked settings and what the server lacks.
struct Shared {
  HttpOptions options;         // credentials already taken from the URL when given there
  std::string url;             // the URL without credentials: safe to log
  bool url_has_query = false;  // the URL carries its own ?settings: append with &
  std::atomic<bool> no_dedup_token{false};  // the server rejected insert_deduplication_token
};

// One HTTP answer, before it is judged.
struct Response {
  long status = 0;
  std::string body;
  int exception_code = 0;  // X-ClickHouse-Exception-Code (servers since 19.x)
  std::string summary;     // X-ClickHouse-Summary JSON (servers since 19.x)
};

// What a successful answer holds, which decides how an exception inside it is recognised.
enum class Answer {
  kJsonRows,   // JSONEachRow: every row line starts with '{'
  kDiscarded,  // whatever the statement prints (usually nothing)
};

// A URL setting or parameter, its value not yet URL-encoded.
using UrlSettings = std::vector<std::pair<std::string, std::string>>;

// A session over one curl handle, whose connection curl keeps alive between requests.
class HttpClient final : public Client {
 public:
  HttpClient(std::shared_ptr<Shared> shared, CURL* curl) : shared_(std::move(shared)), curl_(curl) {
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error_buffer_);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &HttpClient::on_body);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &HttpClient::on_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, this);
    // No "Expect: 100-continue" round trip before large bodies; gzip is declared per request.
    plain_headers_ = curl_slist_append(nullptr, "Expect:");
    gzip_headers_ = curl_slist_append(nullptr, "Expect:");
    gzip_headers_ = curl_slist_append(gzip_headers_, "Content-Encoding: gzip");
  }
  ~HttpClient() override {
    curl_easy_cleanup(curl_);
    curl_slist_free_all(gzip_headers_);
    curl_slist_free_all(plain_headers_);
  }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Status execute(std::string_view sql, const QueryParams& params) override {
    if (fault_window("clickhouse_execute_unavailable")) {
      return make_error(ErrorCode::kUnavailable, "injected fault clickhouse_execute_unavailable");
    }
    UrlSettings settings;
    TP_RETURN_IF_ERROR(add_params(params, settings));
    auto response = perform(settings, sql, Answer::kDiscarded);
    if (!response.ok()) return response.error();
    return {};
  }

  Status insert(std::string_view table, std::string_view format, std::string_view data,
                const InsertOptions& options) override {
    if (table.empty() || format.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "insert needs a table and a format");
    }
    if (fault_window("clickhouse_insert_unavailable")) {
      return make_error(ErrorCode::kUnavailable, "injected fault clickhouse_insert_unavailable");
    }
    UrlSettings settings{{"query", fmt::format("INSERT INTO {} FORMAT {}", table, format)}};
    bool with_token = !options.deduplication_token.empty() && !shared_->no_dedup_token.load();
    if (with_token)
      settings.emplace_back("insert_deduplication_token", options.deduplication_token);
    // One attempt. An insert whose answer was lost may have been stored: a caller that retries
    // it passes a deduplication token (the server drops a block whose token it has seen) or
    // looks up what landed first, as the consumer does (clickhouse/retry.h).
    auto response = perform(settings, data, Answer::kDiscarded);
    if (!response.ok() && with_token &&
        response.error().clickhouse_code == error_codes::UNKNOWN_SETTING &&
        response.error().message.find("insert_deduplication_token") != std::string::npos) {
      // Servers before 22.x reject the setting before running the insert, so sending the
      // block again without it cannot store it twice.
      if (!shared_->no_dedup_token.exchange(true)) {
        spdlog::warn(
            "{} does not support insert_deduplication_token (ClickHouse older than "
            "22.x): retried inserts may be stored twice",
            shared_->url);
      }
      settings.pop_back();
      response = perform(settings, data, Answer::kDiscarded);
    }
    if (!response.ok()) return response.error();
    return {};
  }

  Result<std::vector<std::string>> query_json_rows(std::string_view sql,
                                                   const QueryParams& params) override {
    UrlSettings settings{{"output_format_json_quote_64bit_integers", "0"}};
    TP_RETURN_IF_ERROR(add_params(params, settings));
    std::string body = fmt::format("{}\nFORMAT JSONEachRow", trim_statement(sql));
    auto started = std::chrono::steady_clock::now();
    auto response = perform(settings, body, Answer::kJsonRows);
    if (!response.ok()) return response.error();
    stats_ = QueryStats{};
    stats_.elapsed_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    read_summary(response->summary);
    return split_rows(response->body);
  }

  std::string describe() const override { return shared_->url; }
  QueryStats last_stats() const override { return stats_; }

 private:
  // Query parameters travel as URL settings param_<name>, values in ClickHouse's parameter
  // text, so they are parsed as their declared type and never spliced into SQL.
  static Status add_params(const QueryParams& params, UrlSettings& settings) {
    for (const auto& [name, value] : params) {
      bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      });
      if (!valid) {
        return make_error(ErrorCode::kInvalidArgument, "bad query parameter name '{}'", name);
      }
      settings.emplace_back("param_" + name, escape_parameter(value));
    }
    return {};
  }

  // The URL of one request: the server URL, the database, compression and `settings`.
  std::string build_url(const UrlSettings& settings) const {
    std::string url = shared_->url;
    char separator = shared_->url_has_query ? '&' : '?';
    auto append = [&](std::string_view name, std::string_view value) {
      char* escaped = curl_easy_escape(curl_, value.data(), static_cast<int>(value.size()));
      url += separator;
      url += name;
      url += '=';
      url += escaped != nullptr ? escaped : "";
      curl_free(escaped);
      separator = '&';
    };
    append("database", shared_->options.database);
    if (shared_->options.compress) append("enable_http_compression", "1");
    for (const auto& [name, value] : settings) append(name, value);
    return url;
  }

  // Sends `body` once and turns an HTTP error into an Error. Nothing is retried here: the
  // caller that owns the operation retries it through the one policy (clickhouse/retry.h),
  // so a failure is never tried (client attempts) x (caller attempts) times.
  Result<Response> perform(const UrlSettings& settings, std::string_view body, Answer answer) {
    std::string url = build_url(settings);
    std::string compressed;
    bool gzipped = shared_->options.compress && body.size() >= kGzipMinBytes;
    if (gzipped) {
      auto packed = gzip(body);
      if (!packed.ok()) return packed.error();
      compressed = std::move(packed.value());
    }
    std::string_view payload = gzipped ? std::string_view(compressed) : body;
    Error failure;
    if (!perform_once(url, payload, gzipped, failure)) return failure;
    if (response_.status == 200) {
      Error in_body;
      if (!body_has_exception(response_.body, answer, in_body)) return std::move(response_);
      return in_body;
    }
    return server_error(response_);
  }

  // One request on the kept-alive handle; false with `failure` filled if no HTTP answer came.
  bool perform_once(const std::string& url, std::string_view payload, bool gzipped,
                    Error& failure) {
    response_ = Response{};
    error_buffer_[0] = '\0';
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    // Never a null pointer: curl would then read the body from stdin.
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, payload.empty() ? "" : payload.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, gzipped ? gzip_headers_ : plain_headers_);
    CURLcode rc = curl_easy_perform(curl_);
    if (rc == CURLE_OK) {
      curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &response_.status);
      return true;
    }
    failure = transport_failure(rc);
    return false;
  }

  // Maps a libcurl failure to an Error whose code says whether trying again may help
  // (clickhouse::is_transient); curl's text names host and port, never credentials.
  Error transport_failure(CURLcode rc) const {
    std::string detail = error_buffer_[0] != '\0' ? error_buffer_ : curl_easy_strerror(rc);
    Error error{ErrorCode::kUnavailable,
                fmt::format("ClickHouse at {}: {}", shared_->url, trim(detail)), 0};
    switch (rc) {
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_CONNECT:
      case CURLE_SSL_CONNECT_ERROR:  // often a reset during the handshake
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
        break;  // unavailable: the server is away or restarting
      case CURLE_OPERATION_TIMEDOUT:
        // Transient too, in the same policy: a server too busy to answer in time is away for
        // the caller, and the caller's backoff keeps the repeats from adding much load.
        error.code = ErrorCode::kTimeout;
        break;
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
        // The certificate or the CA bundle does not verify: the TLS flags (--ca-file,
        // --insecure) are wrong for this server, and trying again cannot help.
        error.code = ErrorCode::kInvalidArgument;
        break;
      default:
        error.code = ErrorCode::kProtocol;  // curl failed in a way no retry is known to mend
        break;
    }
    return error;
  }

  // An HTTP error answer as an Error: credentials refused, a proxy away, or ClickHouse refusing
  // a statement (statement_error: data_corrupted for the broken-part codes).
  static Error server_error(const Response& response) {
    std::string_view text = trim(response.body);
    if (text.size() > kMaxMessageBytes) text = text.substr(0, kMaxMessageBytes);
    Error error = statement_error(
        text.empty() ? fmt::format("HTTP {}", response.status) : std::string(text),
        response.exception_code != 0 ? response.exception_code : code_in_text(text));
    bool auth_code = std::find(std::begin(kAuthCodes), std::end(kAuthCodes),
                               error.clickhouse_code) != std::end(kAuthCodes);
    if (response.status == 401 || response.status == 403 || auth_code) {
      error.code = ErrorCode::kAuth;
    } else if (error.clickhouse_code == 0 &&
               (response.status == 502 || response.status == 503 || response.status == 504)) {
      error.code = ErrorCode::kUnavailable;  // a proxy in front of the server, not ClickHouse
    } else if (error.clickhouse_code == error_codes::UNKNOWN_SETTING &&
               error.message.find("param_") != std::string::npos) {
      error.message += " (query parameters need ClickHouse 19.x or newer)";
    }
    return error;
  }

  // A query failing after its first rows still answers 200: ClickHouse appends the exception
  // text to the output ("Code: ..." on a line of its own; {"exception": ...} as the last line
  // under output_format_json_valid_output_on_exception). JSON rows all start with '{'; other
  // output is judged by its last line only.
  static bool body_has_exception(std::string_view body, Answer answer, Error& error) {
    std::string_view rest = trim(body);
    if (rest.empty()) return false;
    size_t last = rest.rfind('\n');
    last = last == std::string_view::npos ? 0 : last + 1;
    std::string_view last_line = rest.substr(last);
    size_t from = std::string_view::npos;  // where the exception text starts
    if (answer == Answer::kJsonRows) {
      for (size_t at = 0; at < rest.size();) {
        size_t end = rest.find('\n', at);
        if (end == std::string_view::npos) end = rest.size();
        std::string_view line = trim(rest.substr(at, end - at));
        if (!line.empty() && line.front() != '{') {
          from = at;
          break;
        }
        at = end + 1;
      }
      if (from == std::string_view::npos && last_line.starts_with("{\"exception\":") &&
          code_in_text(last_line) != 0) {
        from = last;
      }
    } else if (last_line.starts_with("Code: ") &&
               last_line.find("DB::Exception") != std::string_view::npos) {
      from = last;
    }
    if (from == std::string_view::npos) return false;
    std::string_view text = trim(rest.substr(from));
    if (text.size() > kMaxMessageBytes) text = text.substr(0, kMaxMessageBytes);
    error = statement_error(std::string(text), code_in_text(text));
    return true;
  }

  // One JSON object per line; the trailing newline makes no empty row.
  static std::vector<std::string> split_rows(std::string_view body) {
    std::vector<std::string> rows;
    for (size_t at = 0; at < body.size();) {
      size_t end = body.find('\n', at);
      if (end == std::string_view::npos) end = body.size();
      std::string_view line = body.substr(at, end - at);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) rows.emplace_back(line);
      at = end + 1;
    }
    return rows;
  }

  // Reads read_rows/read_bytes from X-ClickHouse-Summary (numbers sent as JSON strings).
  void read_summary(const std::string& summary) {
    if (summary.empty()) return;
    auto json = nlohmann::json::parse(summary, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) return;
    auto number = [&](const char* key) -> uint64_t {
      auto it = json.find(key);
      if (it == json.end()) return 0;
      if (it->is_number_unsigned()) return it->get<uint64_t>();
      if (!it->is_string()) return 0;
      const auto& text = it->get_ref<const std::string&>();
      uint64_t value = 0;
      std::from_chars(text.data(), text.data() + text.size(), value);
      return value;
    };
    stats_.rows_read = number("read_rows");
    stats_.bytes_read = number("read_bytes");
  }

  // curl's write callback: the answer accumulates in response_ (ClickHouse answers stream).
  static size_t on_body(char* data, size_t size, size_t count, void* self) {
    static_cast<HttpClient*>(self)->response_.body.append(data, size * count);
    return size * count;
  }

  // Collects the ClickHouse headers of the final answer (a new status line starts afresh).
  static size_t on_header(char* data, size_t size, size_t count, void* self) {
    auto& response = static_cast<HttpClient*>(self)->response_;
    std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) {
      response.exception_code = 0;
      response.summary.clear();
      return line.size();
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return line.size();
    std::string name(trim(line.substr(0, colon)));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = trim(line.substr(colon + 1));
    if (name == "x-clickhouse-exception-code") {
      std::from_chars(value.data(), value.data() + value.size(), response.exception_code);
    } else if (name == "x-clickhouse-summary") {
      response.summary = std::string(value);
    }
    return line.size();
  }

  std::shared_ptr<Shared> shared_;
  CURL* curl_;  // one handle per client: curl keeps its connection alive between requests
  curl_slist* plain_headers_ = nullptr;
  curl_slist* gzip_headers_ = nullptr;
  char error_buffer_[CURL_ERROR_SIZE] = {0};
  Response response_;
  QueryStats stats_;
};

// Hands each thread its own session; shares the checked options and what the server lacks.
class HttpFactory final : public ClientFactory {
 public:
  explicit HttpFactory(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  Result<std::unique_ptr<Client>> connect() override {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return make_error(ErrorCode::kInternal, "curl_easy_init failed");
    const HttpOptions& o = shared_->options;
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: threads are safe
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, o.connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, o.request_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tablepulse/" TABLEPULSE_VERSION);
    // Basic auth works on every server version (X-ClickHouse-User headers arrived later).
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERNAME, o.user.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, o.password.c_str());
    if (o.compress) curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, o.verify_tls ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, o.verify_tls ? 2L : 0L);
    if (!o.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, o.ca_file.c_str());
    return std::unique_ptr<Client>(std::make_unique<HttpClient>(shared_, curl));
  }
  bool embedded() const override { return false; }
  std::string describe() const override { return shared_->url; }

 private:
  std::shared_ptr<Shared> shared_;
};

// Frees a parsed URL when open_http returns, on every path.
struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};

// Reads one part of a parsed URL; empty if absent.
std::string url_part(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) return {};
  std::string out = value;
  curl_free(value);
  return out;
}

}  // namespace

Result<std::unique_ptr<ClientFactory>> open_http(const HttpOptions& options) {
  init_curl_once();
  auto shared = std::make_shared<Shared>();
  shared->options = options;
  std::unique_ptr<CURLU, UrlDeleter> url(curl_url());
  if (url == nullptr) return make_error(ErrorCode::kInternal, "curl_url failed");
  // Parse errors never echo the URL: it may carry a password.
  if (curl_url_set(url.get(), CURLUPART_URL, options.url.c_str(), 0) != CURLUE_OK) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the ClickHouse URL is not valid (expected http://host:port or https://...)");
  }
  std::string scheme = url_part(url.get(), CURLUPART_SCHEME);
  if (scheme != "http" && scheme != "https") {
    return make_error(ErrorCode::kInvalidArgument,
                      "the ClickHouse URL must start with http:// or https:// (got {}://)", scheme);
  }
  if (url_part(url.get(), CURLUPART_HOST).empty()) {
    return make_error(ErrorCode::kInvalidArgument, "the ClickHouse URL has no host");
  }
  // Credentials written into the URL are used when the options leave them at their defaults,
  // and are removed from the URL everyone logs.
  std::string url_user = url_part(url.get(), CURLUPART_USER);
  std::string url_password = url_part(url.get(), CURLUPART_PASSWORD);
  if (!url_user.empty() && (options.user.empty() || options.user == "default")) {
    shared->options.user = url_user;
  }
  if (!url_password.empty() && options.password.empty()) shared->options.password = url_password;
  curl_url_set(url.get(), CURLUPART_USER, nullptr, 0);
  curl_url_set(url.get(), CURLUPART_PASSWORD, nullptr, 0);
  curl_url_set(url.get(), CURLUPART_FRAGMENT, nullptr, 0);
  shared->url = url_part(url.get(), CURLUPART_URL);
  shared->url_has_query = !url_part(url.get(), CURLUPART_QUERY).empty();
  if (shared->options.user.empty()) shared->options.user = "default";
  if (options.connect_timeout_ms <= 0 || options.request_timeout_ms <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "ClickHouse timeouts must be positive");
  }
  if (options.database.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "the ClickHouse database must not be empty");
  }
  if (!options.ca_file.empty() && !std::filesystem::is_regular_file(options.ca_file)) {
    return make_error(ErrorCode::kInvalidArgument, "CA file {} not found", options.ca_file);
  }
  spdlog::debug("ClickHouse over HTTP at {} (user {}, database {})", shared->url,
                shared->options.user, options.database);
  return std::unique_ptr<ClientFactory>(std::make_unique<HttpFactory>(std::move(shared)));
}

}  // namespace tp::clickhouse
