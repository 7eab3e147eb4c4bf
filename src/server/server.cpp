#include "server/server.h"

#include <fmt/core.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/time.h"
#include "server/prometheus.h"
#include "server/request.h"
#include "server/static_files.h"

namespace tp::server {
namespace {

using nlohmann::json;

constexpr const char* kJson = "application/json; charset=utf-8";
constexpr const char* kEventsPath = "/api/v1/events";
// Where the pre-routing handler moves a POST's Content-Encoding (see there).
constexpr const char* kMovedEncodingHeader = "X-Tablepulse-Content-Encoding";

// The API's error body: {"error": {"code": "...", "message": "..."}}.
std::string error_body(std::string_view code, std::string_view message) {
  return json{{"error", {{"code", code}, {"message", message}}}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

void send_error(httplib::Response& res, int status, std::string_view code,
                std::string_view message) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(error_body(code, message), kJson);
}

// Bad input is the caller's (400); a missing thing 404; anything else is the database's (503).
int status_for(const Error& error) {
  switch (error.code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    default:
      return 503;
  }
}

void send_error(httplib::Response& res, const Error& error) {
  send_error(res, status_for(error), error_code_name(error.code), error.message);
}

void send_json(httplib::Response& res, const nlohmann::ordered_json& body) {
  res.status = 200;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace),
                  kJson);
}

Params first_params(const httplib::Request& req) {
  Params params;
  for (const auto& [name, value] : req.params) params.emplace(name, value);  // first one wins
  return params;
}

// Paths anyone may read: the health check (for load balancers) and the page's code, which
// holds no data. The page itself needs the token under every path it is served at.
bool is_public(const std::string& path) {
  if (path == "/healthz") return true;
  return path.rfind("/assets/", 0) == 0 && path != "/assets/index.html";
}

// The request as logs may show it: the path, and the query with the token's value hidden.
std::string loggable_target(const httplib::Request& req) {
  std::string out = req.path;
  char separator = '?';
  for (const auto& [name, value] : req.params) {
    out += fmt::format("{}{}={}", separator, name, name == "token" ? "[redacted]" : value);
    separator = '&';
  }
  return out;
}

// Headers every answer carries, whatever its path or status: the page's policy (scripts and
// data from this origin only, never framed) and no content sniffing.
void set_security_headers(httplib::Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                 "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                 "base-uri 'none'; form-action 'self'");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("X-Content-Type-Options", "nosniff");
}

// The reason phrase of the statuses httplib answers on its own.
std::string status_text(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 404:
      return "not found";
    case 413:
      return "payload too large";
    case 414:
      return "URI too long";
    case 416:
      return "range not satisfiable";
    default:
      return fmt::format("HTTP status {}", status);
  }
}

// httplib's pool of connection workers, elastic: `core` threads always run, and while every
// worker is busy a connection gets a new one (up to `max`), which ends after a while idle.
// httplib gives each connection a worker from its accept until it closes, so with a fixed pool
// a few dozen connections that send nothing held every worker until they timed out and a
// health check waited behind them; now they cost a thread each for request_timeout_s.
class ElasticThreadPool final : public httplib::TaskQueue {
 public:
  ElasticThreadPool(size_t core, size_t max) : core_(core), max_(std::max(core, max)) {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < core_; ++i) spawn();
  }
  ~ElasticThreadPool() override { shutdown(); }

  void enqueue(std::function<void()> job) override {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
    if (idle_ < jobs_.size() && running_ < max_) spawn();
    wake_.notify_one();
  }

  // Runs the queued jobs, then joins every thread (their thread_local ClickHouse sessions are
  // closed before the server that made them goes away).
  void shutdown() override {
    std::list<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      wake_.notify_all();
      threads.swap(threads_);
    }
    for (auto& thread : threads) thread.join();
  }

 private:
  static constexpr auto kExtraIdleLife = std::chrono::seconds(30);

  // Called with mutex_ held; joins the threads that ended first.
  void spawn() {
    for (auto id : ended_) {
      auto it = std::find_if(threads_.begin(), threads_.end(),
                             [id](const std::thread& t) { return t.get_id() == id; });
      if (it != threads_.end()) {
        it->join();
        threads_.erase(it);
      }
    }
    ended_.clear();
    ++running_;
    threads_.emplace_back([this] { work(); });
  }

  void work() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ++idle_;
      bool woken =
          wake_.wait_for(lock, kExtraIdleLife, [this] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty() && (stopping_ || (!woken && running_ > core_))) break;
      if (jobs_.empty()) continue;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
    --running_;
    ended_.push_back(std::this_thread::get_id());
  }

  const size_t core_;
  const size_t max_;
  std::mutex mutex_;
  std::condition_variable wake_;  // a job arrived, or shutdown
  std::deque<std::function<void()>> jobs_;
  std::list<std::thread> threads_;      // started and not yet joined
  std::vector<std::thread::id> ended_;  // threads that left work(), to join
  size_t running_ = 0;                  // threads in work()
  size_t idle_ = 0;                     // of which waiting for a job
  bool stopping_ = false;
};

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
      .count();
}

}  // namespace

class Server::Impl {
 public:
  Impl(clickhouse::ClientFactory& factory, MetricsBackend backend,
       std::shared_ptr<ingest::IngestStats> stats, ServerOptions options)
      : factory_(factory),
        backend_(backend),
        stats_(stats ? std::move(stats) : std::make_shared<ingest::IngestStats>()),
        options_(std::move(options)),
        hub_(factory, std::move(backend), stats_, latencies_, options_.timing) {
    hub_.set_broken_parts(options_.broken_parts);
    // A page that goes away mid-write must cost an error code, not the process.
    std::signal(SIGPIPE, SIG_IGN);
    const size_t core = static_cast<size_t>(std::max(4, options_.worker_threads));
    const size_t max = static_cast<size_t>(std::max(options_.max_worker_threads, 4));
    http_.new_task_queue = [core, max] { return new ElasticThreadPool(core, max); };
    http_.set_keep_alive_timeout(options_.request_timeout_s);
    http_.set_read_timeout(options_.request_timeout_s);
    http_.set_write_timeout(10);
    // Only POST /api/v1/events has a body worth reading (other methods are refused before it).
    http_.set_payload_max_length(
        options_.events ? std::max<size_t>(64 * 1024, options_.events->options().max_body_bytes)
                        : 64 * 1024);
    http_.set_default_headers(
        {{"X-Content-Type-Options", "nosniff"}, {"Referrer-Policy", "no-referrer"}});
    routes();
  }

  ~Impl() {
    stop();
    if (thread_.joinable()) thread_.join();
  }

  Result<int> bind() {
    if (port_ > 0) return port_;
    int port = 0;
    if (options_.port == 0) {
      port = http_.bind_to_any_port(options_.host);
    } else if (http_.bind_to_port(options_.host, options_.port)) {
      port = options_.port;
    }
    if (port <= 0) {
      return make_error(ErrorCode::kUnavailable, "cannot listen on {}:{} (address in use?)",
                        options_.host, options_.port);
    }
    port_ = port;
    return port;
  }

  Status run() {
    auto bound = bind();
    if (!bound.ok()) return bound.error();
    hub_.start();
    bool ok = stopping_ || http_.listen_after_bind();
    hub_.stop();
    if (!ok && !stopping_) {
      return make_error(ErrorCode::kUnavailable, "the HTTP server stopped unexpectedly");
    }
    return {};
  }

  Status start() {
    auto bound = bind();
    if (!bound.ok()) return bound.error();
    thread_ = std::thread([this] {
      auto status = run();
      if (!status.ok()) spdlog::error("server: {}", status.error().to_string());
    });
    for (int i = 0; i < 500 && !http_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!http_.is_running()) {
      return make_error(ErrorCode::kInternal, "the HTTP server did not start");
    }
    return {};
  }

  void stop() {
    stopping_ = true;
    hub_.stop();  // wakes the live streams, which then end their responses
    http_.stop();
  }

  int port() const { return port_; }

  std::string url() const {
    std::string host = options_.host.find(':') != std::string::npos
                           ? "[" + options_.host + "]"
                           : (options_.host == "0.0.0.0" ? "127.0.0.1" : options_.host);
    return fmt::format("http://{}:{}/", host, port_);
  }

  SnapshotHub& hub() { return hub_; }

 private:
  // This worker thread's ClickHouse session, opened on first use (chDB allows one connection
  // per thread; HTTP sessions are curl handles that must not be shared).
  Result<clickhouse::Client*> thread_client() {
    struct Slot {
      const Impl* owner = nullptr;
      std::unique_ptr<clickhouse::Client> client;
    };
    thread_local Slot slot;
    if (slot.owner != this || !slot.client) {
      auto connected = factory_.connect();
      if (!connected.ok()) return connected.error();
      slot.client = std::move(connected.value());
      slot.owner = this;
    }
    return slot.client.get();
  }

  // Wraps a handler: a bug (exception) becomes a JSON 500 instead of a dropped connection.
  httplib::Server::Handler guarded(
      std::function<void(const httplib::Request&, httplib::Response&)> handler) {
    return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
      try {
        handler(req, res);
      } catch (const std::exception& e) {
        spdlog::error("{} {}: {}", req.method, req.path, e.what());
        send_error(res, 500, "internal", e.what());
      }
    };
  }

  void routes() {
    http_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      set_security_headers(res);
      if (req.method == "POST" && req.path == kEventsPath) {
        // httplib 0.11 would inflate a gzip body itself, with no bound on the inflated size and
        // without noticing a truncated stream: the endpoint inflates it (bounded, checked), so
        // the header is moved aside before httplib reads the body. `req` is httplib's own
        // non-const Request. The write token is checked by the handler (not the read token).
        auto& request = const_cast<httplib::Request&>(req);
        auto encoding = request.headers.find("Content-Encoding");
        if (encoding != request.headers.end()) {
          request.headers.emplace(kMovedEncodingHeader, encoding->second);
          request.headers.erase(encoding);
        }
        return httplib::Server::HandlerResponse::Unhandled;
      }
      if (req.method != "GET" && req.method != "HEAD") {
        res.set_header("Allow", "GET, HEAD");
        res.set_header("Connection", "close");  // its body, if any, is not read
        send_error(res, 405, "method_not_allowed",
                   fmt::format("{} is not allowed: the API is read-only (GET, HEAD)", req.method));
        return httplib::Server::HandlerResponse::Handled;
      }
      if (!options_.token.empty() && !is_public(req.path)) {
        Credentials credentials{req.get_header_value("Authorization"), req.get_param_value("token"),
                                req.get_header_value("Cookie")};
        if (!token_accepted(options_.token, credentials)) {
          res.set_header("WWW-Authenticate", "Bearer realm=\"tablepulse\"");
          send_error(res, 401, error_code_name(ErrorCode::kUnauthorized),
                     "a token is required: Authorization: Bearer <token>, ?token=<token> or "
                     "the tp_token cookie");
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });

    // Answers httplib produced itself (404 for an unknown path, 400 for a bad request line)
    // get the API's JSON error shape too.
    http_.set_error_handler(
        httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          std::string_view code = res.status == 404   ? "not_found"
                                  : res.status == 413 ? error_code_name(ErrorCode::kPayloadTooLarge)
                                                      : "invalid_argument";
          send_error(res, res.status, code, status_text(res.status));
          return httplib::Server::HandlerResponse::Handled;
        }));
    http_.set_exception_handler(
        [](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
          std::string what = "unknown error";
          try {
            if (error) std::rethrow_exception(error);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          spdlog::error("{} {}: {}", req.method, req.path, what);
          send_error(res, 500, "internal", what);
        });
    http_.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      spdlog::debug("{} {} -> {}", req.method, loggable_target(req), res.status);
    });

    auto page = guarded([this](const httplib::Request& req, httplib::Response& res) {
      serve_file(req, res, "index.html");
    });
    http_.Get("/", page);
    http_.Get("/index.html", page);
    http_.Get("/assets/([^/]+)",
              guarded([this](const httplib::Request& req, httplib::Response& res) {
                serve_file(req, res, req.matches[1].str());
              }));
    http_.Get("/healthz", guarded([this](const auto& req, auto& res) { healthz(req, res); }));
    http_.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
                res.set_header("Cache-Control", "no-store");
                std::string text = render_prometheus(*stats_, latencies_, hub_.subscriber_count(),
                                                     options_.broken_parts.size());
                if (options_.events) text += options_.events->metrics().render();
                res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
              }));
    http_.Get("/api/v1/restaurants",
              guarded([this](const auto& req, auto& res) { restaurants(req, res); }));
    http_.Get("/api/v1/stream", guarded([this](const auto& req, auto& res) { stream(req, res); }));
    http_.Get(kEventsPath, [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Allow", "POST");
      send_error(res, 405, "method_not_allowed", "POST events here (JSON lines or a JSON array)");
    });
    http_.Post(kEventsPath, [this](const httplib::Request& req, httplib::Response& res,
                                   const httplib::ContentReader& reader) {
      try {  // this handler's exception boundary
        post_events(req, res, reader);
      } catch (const std::exception& e) {
        spdlog::error("POST {}: {}", req.path, e.what());
        send_error(res, 500, "internal", e.what());
      }
      if (options_.events) options_.events->metrics().count_request(res.status);
    });
    http_.Get("/api/v1/([^/]+)",
              guarded([this](const httplib::Request& req, httplib::Response& res) {
                metric(req, res, req.matches[1].str());
              }));
    http_.Get(".*", [](const httplib::Request& req, httplib::Response& res) {
      send_error(res, 404, "not_found", fmt::format("no such path: {}", req.path));
    });
  }

  // POST /api/v1/events: the write token, the body (bounded, inflated), then the intake.
  void post_events(const httplib::Request& req, httplib::Response& res,
                   const httplib::ContentReader& reader) {
    auto refuse = [&](int status, ErrorCode code, const std::string& message) {
      res.set_header("Connection", "close");  // the body may be left unread
      send_error(res, status, error_code_name(code), message);
    };
    if (!options_.events || options_.write_token.empty()) {
      return refuse(404, ErrorCode::kNotFound,
                    "the events endpoint is disabled: start serve with --write-token");
    }
    EventsIntake& intake = *options_.events;
    // The write token only in the Authorization header: a cookie or a link cannot write.
    if (!token_accepted(options_.write_token,
                        Credentials{req.get_header_value("Authorization"), "", ""})) {
      Credentials read{req.get_header_value("Authorization"), req.get_param_value("token"),
                       req.get_header_value("Cookie")};
      if (!options_.token.empty() && token_accepted(options_.token, read)) {
        return refuse(403, ErrorCode::kForbidden,
                      "the read token cannot write: POST events with the write token");
      }
      res.set_header("WWW-Authenticate", "Bearer realm=\"tablepulse-write\"");
      return refuse(401, ErrorCode::kUnauthorized,
                    "the write token is required: Authorization: Bearer <write token>");
    }
    std::string encoding = req.get_header_value(kMovedEncodingHeader);
    std::transform(encoding.begin(), encoding.end(), encoding.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const bool compressed = encoding == "gzip" || encoding == "x-gzip" || encoding == "deflate";
    if (!compressed && !encoding.empty() && encoding != "identity") {
      return refuse(415, ErrorCode::kMalformedBody,
                    fmt::format("Content-Encoding '{}' is not supported (gzip, deflate or none)",
                                encoding.substr(0, 32)));
    }
    const uint64_t max_bytes = intake.options().max_body_bytes;
    std::string body;
    bool too_large = false;
    bool read = reader([&](const char* data, size_t length) {
      if (body.size() + length > max_bytes) {
        too_large = true;
        return false;
      }
      body.append(data, length);
      return true;
    });
    intake.metrics().count_bytes(body.size());
    if (too_large || res.status == 413) {
      return refuse(413, ErrorCode::kPayloadTooLarge,
                    fmt::format("the body is larger than --max-body-bytes ({} bytes)", max_bytes));
    }
    if (!read) {
      return refuse(400, ErrorCode::kMalformedBody, "the body could not be read");
    }
    if (compressed) {
      auto inflated = inflate_body(body, max_bytes);
      if (!inflated.ok()) {
        const bool big = inflated.error().code == ErrorCode::kPayloadTooLarge;
        return refuse(big ? 413 : 400, inflated.error().code, inflated.error().message);
      }
      body = std::move(inflated.value());
    }
    int retry_after_s = 0;
    auto reply = intake.submit(body, &retry_after_s);
    if (!reply.ok()) {
      const Error& error = reply.error();
      switch (error.code) {
        case ErrorCode::kMalformedBody:
          return send_error(res, 400, error_code_name(error.code), error.message);
        case ErrorCode::kRateLimited:
          res.set_header("Retry-After", std::to_string(retry_after_s));
          return send_error(res, 429, error_code_name(error.code), error.message);
        default:  // the log could not be written: nothing is acknowledged
          spdlog::error("POST {}: {}", req.path, error.to_string());
          return send_error(res, 503, error_code_name(error.code), error.message);
      }
    }
    send_json(res, reply->to_json());
  }

  void serve_file(const httplib::Request& req, httplib::Response& res, const std::string& name) {
    auto file = find_static_file(name);
    if (!file) {
      send_error(res, 404, "not_found",
                 name == "index.html"
                     ? "the page is not built into this binary: run `npm run build` in web/ "
                       "and rebuild"
                     : fmt::format("no such asset: {}", name));
      return;
    }
    res.set_header("ETag", file->etag);
    res.set_header("Cache-Control", file->cache_control);
    if (etag_matches(req.get_header_value("If-None-Match"), file->etag)) {
      res.status = 304;
      return;
    }
    res.status = 200;
    res.set_content(file->body.data(), file->body.size(), file->content_type);
  }

  void healthz(const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    auto client = thread_client();
    Status status = client.ok() ? client.value()->execute("SELECT 1") : Status(client.error());
    if (!status.ok()) {
      res.status = 503;
      res.set_content(json{{"status", "unavailable"},
                           {"error",
                            {{"code", error_code_name(status.error().code)},
                             {"message", status.error().message}}}}
                          .dump(-1, ' ', false, json::error_handler_t::replace),
                      kJson);
      return;
    }
    // A consumer that stopped leaves the numbers stale: not healthy, say why.
    if (std::string stopped = hub_.ingest_error(); !stopped.empty()) {
      res.status = 503;
      res.set_content(json{{"status", "consumer_stopped"},
                           {"error", {{"code", "consumer_stopped"}, {"message", stopped}}}}
                          .dump(-1, ' ', false, json::error_handler_t::replace),
                      kJson);
      return;
    }
    // Parts the engine could not read are missing from every answer, and a part that does not
    // read back fails the queries that touch it: still served (a load balancer keeps routing
    // here, 200: the rest of the data answers), but said.
    auto data_error = hub_.data_error();
    if (!options_.broken_parts.empty() || data_error) {
      nlohmann::ordered_json body = {{"status", "degraded"},
                                     {"broken_parts", broken_parts_json(options_.broken_parts)}};
      if (data_error) {
        body["error"] = {{"code", error_code_name(data_error->code)},
                         {"message", data_error->message}};
      }
      res.status = 200;
      res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), kJson);
      return;
    }
    res.status = 200;
    res.set_content(R"({"status":"ok"})", kJson);
  }

  void metric(const httplib::Request& req, httplib::Response& res, const std::string& name) {
    auto endpoint = find_metric_endpoint(name);
    if (!endpoint) {
      std::string known;
      for (const auto& e : metric_endpoints()) {
        known += known.empty() ? "" : ", ";
        known += e.name;
      }
      send_error(res, 400, "invalid_argument",
                 fmt::format("unknown metric '{}' (expected one of {}, restaurants, stream)",
                             name.substr(0, 64), known));
      return;
    }
    auto request = parse_metric_params(endpoint->metric, first_params(req), now_ms());
    if (!request.ok()) return send_error(res, request.error());
    auto client = thread_client();
    if (!client.ok()) return send_error(res, client.error());
    auto started = std::chrono::steady_clock::now();
    auto result = backend_.run_metric(*client.value(), request.value());
    latencies_.observe(endpoint->name, elapsed_ms(started));
    if (!result.ok()) {
      hub_.note_query_error(result.error());
      return send_error(res, result.error());
    }
    send_json(res, result.value());
  }

  void restaurants(const httplib::Request& req, httplib::Response& res) {
    auto as_of = parse_as_of(first_params(req), now_ms());
    if (!as_of.ok()) return send_error(res, as_of.error());
    auto client = thread_client();
    if (!client.ok()) return send_error(res, client.error());
    auto started = std::chrono::steady_clock::now();
    auto result = backend_.list_restaurants(*client.value(), as_of.value());
    latencies_.observe("restaurants", elapsed_ms(started));
    if (!result.ok()) {
      hub_.note_query_error(result.error());
      return send_error(res, result.error());
    }
    send_json(res, result.value());
  }

  // Server-Sent Events: "retry" first, then every snapshot of this page's filter as it is
  // produced; the response ends when the page goes away (a write fails) or the server stops.
  void stream(const httplib::Request& req, httplib::Response& res) {
    auto restaurant = parse_restaurant_id(first_params(req));
    if (!restaurant.ok()) return send_error(res, restaurant.error());
    if (hub_.subscriber_count() >= options_.max_stream_clients) {
      res.set_header("Retry-After", "10");
      return send_error(res, 503, "unavailable",
                        fmt::format("too many live pages connected ({}); try again later",
                                    options_.max_stream_clients));
    }
    auto subscription = hub_.subscribe(restaurant.value().value_or(""));
    res.set_header("Cache-Control", "no-cache, no-store");
    res.set_header("X-Accel-Buffering", "no");  // proxies must not hold events back
    auto greeted = std::make_shared<bool>(false);
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, subscription, greeted](size_t, httplib::DataSink& sink) {
          if (stopping_) return false;
          if (!*greeted) {
            *greeted = true;
            static constexpr std::string_view kHello = "retry: 2000\n\n";
            return sink.write(kHello.data(), kHello.size());
          }
          auto event = hub_.next(*subscription, std::chrono::milliseconds(500));
          if (stopping_) return false;
          if (!event) return sink.is_writable();
          return sink.write(event->data(), event->size());
        },
        [this, subscription](bool) { hub_.unsubscribe(subscription); });
  }

  clickhouse::ClientFactory& factory_;
  MetricsBackend backend_;
  std::shared_ptr<ingest::IngestStats> stats_;
  ServerOptions options_;
  QueryLatencies latencies_;
  SnapshotHub hub_;
  httplib::Server http_;
  std::atomic<bool> stopping_{false};
  int port_ = 0;
  std::thread thread_;
};

Server::Server(clickhouse::ClientFactory& factory, MetricsBackend backend,
               std::shared_ptr<ingest::IngestStats> stats, ServerOptions options)
    : impl_(std::make_unique<Impl>(factory, std::move(backend), std::move(stats),
                                   std::move(options))) {}
Server::~Server() = default;
Result<int> Server::bind() { return impl_->bind(); }
Status Server::run() { return impl_->run(); }
Status Server::start() { return impl_->start(); }
void Server::stop() { impl_->stop(); }
int Server::port() const { return impl_->port(); }
std::string Server::url() const { return impl_->url(); }
SnapshotHub& Server::hub() { return impl_->hub(); }

}  // namespace tp::server
