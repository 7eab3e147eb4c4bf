// `tablepulse serve`: the consumer (when sources are given) and the HTTP server (API, live page,
// /metrics) in one process, sharing the consumer's live counters.
#include <fmt/core.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <optional>
#include <thread>

#include "cli/commands.h"
#include "cli/connection.h"
#include "cli/consumer_flags.h"
#include "clickhouse/schema.h"
#include "ingest/consumer.h"
#include "query/metrics.h"
#include "server/server.h"

namespace tp::cli {
namespace {

struct ServeFlags {
  ConnectionFlags connection;
  std::string listen = "127.0.0.1:8080";
  std::vector<std::string> sources;
  ConsumerFlags consumer;
  std::string token;
  bool token_given = false;  // --token on the command line (even empty)
  bool migrate = true;
  int threads = 48;
  std::string write_token;         // enables POST /api/v1/events
  bool write_token_given = false;  // --write-token on the command line (even empty)
  std::string events_log;          // its write-ahead file; default <db>/http-events.jsonl
  uint64_t max_body_bytes = 8ULL << 20;
  double events_rate = 0;                       // events/s; 0: no limit
  uint64_t events_log_max_bytes = 64ULL << 20;  // rotated past this once all of it is committed
};

// A server waits out any outage of the database, whether or not its sources end.
constexpr ConsumerDefaults kServeDefaults{"forever", 250};

// "host:port", "[::1]:port" or ":port" (loopback) into host and port.
Result<std::pair<std::string, int>> parse_listen(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument, "--listen '{}' is not HOST:PORT", text);
  }
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "127.0.0.1";
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(port_text, &used);
    if (used != port_text.size()) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    return make_error(ErrorCode::kInvalidArgument, "--listen '{}': the port is not 0..65535", text);
  }
  return std::make_pair(host, port);
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

void serve(const ServeFlags& flags) {
  // SIGINT/SIGTERM are taken by one thread (below) with sigtimedwait. The mask is set before
  // anything starts a thread (the embedded engine starts its own pools), so every thread
  // inherits it and none is killed or interrupted mid-query.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // An empty token would switch authentication off without a word: refuse it.
  const char* token_env = std::getenv("TABLEPULSE_TOKEN");
  if (flags.token_given ? flags.token.empty() : (token_env != nullptr && *token_env == '\0')) {
    fail(make_error(ErrorCode::kInvalidArgument,
                    "the bearer token is empty (--token \"\" or TABLEPULSE_TOKEN=\"\"): give a "
                    "non-empty token, or neither to serve without authentication"));
  }
  const char* write_env = std::getenv("TABLEPULSE_WRITE_TOKEN");
  if (flags.write_token_given ? flags.write_token.empty()
                              : (write_env != nullptr && *write_env == '\0')) {
    fail(make_error(ErrorCode::kInvalidArgument,
                    "the write token is empty (--write-token \"\" or TABLEPULSE_WRITE_TOKEN=\"\"): "
                    "give a non-empty token, or neither to leave POST /api/v1/events disabled"));
  }
  if (!flags.write_token.empty() && flags.write_token == flags.token) {
    fail(make_error(ErrorCode::kInvalidArgument,
                    "--write-token must differ from --token: the read token must not write"));
  }
  if (!flags.write_token.empty() && flags.events_log.empty() && flags.connection.use_http) {
    fail(make_error(ErrorCode::kInvalidArgument,
                    "--write-token with --clickhouse needs --events-log PATH (the write-ahead "
                    "file of POST /api/v1/events)"));
  }
  auto listen = parse_listen(flags.listen);
  if (!listen.ok()) fail(listen.error());
  // Checked with or without --source, like `ingest` checks them.
  auto ingest_options = consumer_options(flags.consumer, kServeDefaults);
  if (!ingest_options.ok()) fail(ingest_options.error());
  auto factory = open_connection(flags.connection);
  if (!factory.ok()) fail(factory.error());
  auto broken_parts = check_broken_parts(*factory.value(), flags.connection);
  if (!broken_parts.ok()) fail(broken_parts.error());

  if (flags.migrate) {
    // A database down at start is waited for (--retry-for, forever by default) like one that
    // goes away later; SIGINT/SIGTERM end the wait (they are blocked, so a thread takes them).
    std::atomic<bool> stop_waiting{false};
    std::atomic<bool> migrated{false};
    std::thread waiter([&] {
      timespec tick{0, 100 * 1000 * 1000};
      while (!migrated) {
        int signal = sigtimedwait(&signals, nullptr, &tick);
        if (signal == SIGINT || signal == SIGTERM) {
          stop_waiting = true;
          return;
        }
      }
    });
    auto report = migrate_at_start(*factory.value(), ingest_options->retry, &stop_waiting);
    migrated = true;
    waiter.join();
    if (!report.ok()) fail(report.error());
    if (stop_waiting) return;  // a stop asked for while migrating: nothing served yet
    for (const auto& name : report->applied) spdlog::info("applied migration {}", name);
  }

  auto stats = std::make_shared<ingest::IngestStats>();
  server::MetricsBackend backend{
      [](clickhouse::Client& client, const query::MetricRequest& request) {
        return query::run_metric(client, request);
      },
      [](clickhouse::Client& client, int64_t as_of_ms) {
        return query::list_restaurants(client, as_of_ms);
      }};
  server::ServerOptions options;
  options.host = listen->first;
  options.port = listen->second;
  options.token = flags.token;
  options.worker_threads = flags.threads;
  options.max_stream_clients = static_cast<size_t>(std::max(1, flags.threads - 16));
  options.broken_parts = broken_parts.value();
  // POST /api/v1/events: a write-ahead file the consumer below follows (docs/DESIGN.md, "HTTP
  // events endpoint").
  std::string events_log;
  if (!flags.write_token.empty()) {
    events_log = !flags.events_log.empty() ? flags.events_log
                                           : flags.connection.db_dir + "/http-events.jsonl";
    server::EventsIntakeOptions events;
    events.log_path = events_log;
    events.max_body_bytes = flags.max_body_bytes;
    events.events_per_second = flags.events_rate;
    events.decoder.max_line_bytes = static_cast<size_t>(ingest_options->max_line_bytes);
    events.decoder.default_zone = ingest_options->default_zone;
    {  // the retention, for `expired` as the consumer refuses it (a connection of this thread)
      auto client = factory.value()->connect();
      if (!client.ok()) fail(client.error());
      auto ttl = clickhouse::current_ttl_days(*client.value());
      if (!ttl.ok()) fail(ttl.error());
      events.ttl_days = ttl.value();
    }
    auto intake = server::EventsIntake::open(std::move(events));
    if (!intake.ok()) fail(intake.error());
    // Its own connection, opened on the rotation thread (chDB: one connection per thread).
    auto rotation_client = std::make_shared<std::unique_ptr<clickhouse::Client>>();
    clickhouse::ClientFactory* connections = factory.value().get();
    intake.value()->start_rotation(flags.events_log_max_bytes,
                                   [connections, rotation_client,
                                    events_log]() -> Result<std::optional<ingest::FileCheckpoint>> {
                                     if (!*rotation_client) {
                                       auto connected = connections->connect();
                                       if (!connected.ok()) return connected.error();
                                       *rotation_client = std::move(connected.value());
                                     }
                                     return ingest::read_file_checkpoint(**rotation_client,
                                                                         events_log);
                                   });
    options.events = std::move(intake.value());
    options.write_token = flags.write_token;
  }
  server::Server http(*factory.value(), backend, stats, options);
  auto port = http.bind();
  if (!port.ok()) fail(port.error());
  if (!is_loopback(options.host) && options.token.empty()) {
    spdlog::warn("listening on {} without --token: anyone who can reach it reads the data",
                 options.host);
  }

  // A consumer's thread, with its exception boundary: a consumer that stops is reported on the
  // page and by /healthz instead of ending the process.
  auto run_consumer = [&http](ingest::Consumer& runner, std::string_view name) {
    return std::thread([&http, &runner, name] {
      Result<ingest::IngestSummary> summary = make_error(ErrorCode::kInternal, "not run");
      try {
        summary = runner.run();
      } catch (const std::exception& e) {
        summary = make_error(ErrorCode::kInternal, "{} failed: {}", name, e.what());
      }
      if (!summary.ok()) {
        spdlog::error("{} stopped: {}", name, summary.error().to_string());
        http.hub().set_ingest_error(summary.error().to_string());
        return;
      }
      spdlog::info("{} finished: {}", name, summary->to_json().dump());
    });
  };
  std::optional<ingest::Consumer> consumer;
  std::thread consumer_thread;
  if (!flags.sources.empty() || !ingest_options->kafka.brokers.empty()) {
    ingest_options->sources = flags.sources;
    consumer.emplace(*factory.value(), ingest_options.value(), stats);
    consumer_thread = run_consumer(*consumer, "consumer");
  }

  // The events log has a consumer of its own (its sources are read in turn, and this one never
  // ends): the same options, following, with its own dead-letter file when the other consumer
  // (--source, --kafka) has one.
  std::optional<ingest::Consumer> events_consumer;
  std::thread events_thread;
  if (!events_log.empty()) {
    ingest::IngestOptions events_options = ingest_options.value();
    events_options.sources = {events_log};
    events_options.follow = true;
    events_options.progress = false;
    events_options.kafka = {};  // the topic is the other consumer's
    if (!events_options.dead_letter_path.empty() && consumer) {
      events_options.dead_letter_path += ".http-events";
    }
    events_consumer.emplace(*factory.value(), events_options, stats);
    events_thread = run_consumer(*events_consumer, "events consumer");
  }

  std::atomic<bool> done{false};
  std::thread signal_thread([&] {
    timespec tick{0, 200 * 1000 * 1000};
    while (!done) {
      int signal = sigtimedwait(&signals, nullptr, &tick);
      if (signal == SIGINT || signal == SIGTERM) {
        spdlog::info("{}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
        if (consumer) consumer->stop();  // commits what it holds
        if (events_consumer) events_consumer->stop();
        if (consumer_thread.joinable()) consumer_thread.join();
        if (events_thread.joinable()) events_thread.join();
        http.stop();
        return;
      }
    }
  });

  fmt::print("TablePulse serving on {}\n", http.url());
  if (!options.token.empty())
    fmt::print("(a token is required: open {}?token=<token>)\n", http.url());
  std::fflush(stdout);
  spdlog::info("serving {} on {}{}", factory.value()->describe(), http.url(),
               !consumer && events_log.empty() ? " (dashboard only)"
               : events_log.empty()            ? ""
                                    : fmt::format(" (events posted to {})", events_log));

  auto status = http.run();
  done = true;
  if (signal_thread.joinable()) signal_thread.join();
  if (consumer) consumer->stop();
  if (events_consumer) events_consumer->stop();
  if (consumer_thread.joinable()) consumer_thread.join();
  if (events_thread.joinable()) events_thread.join();
  if (!status.ok()) fail(status.error());
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* command = app.add_subcommand(
      "serve",
      "Serve the live dashboard and the JSON API (and ingest --source files or a --kafka topic)");
  add_connection_flags(command, flags->connection);
  add_allow_broken_parts_flag(command, flags->connection);
  command->add_option("--listen", flags->listen, "HOST:PORT to listen on (port 0: any free)")
      ->capture_default_str();
  command->add_option("--source", flags->sources,
                      "JSON lines to ingest while serving: a file, or - for stdin (repeatable)");
  add_consumer_flags(command, flags->consumer, kServeDefaults);
  command
      ->add_option("--token", flags->token,
                   "Require this bearer token (or $TABLEPULSE_TOKEN) on the page, the API "
                   "and /metrics")
      ->envname("TABLEPULSE_TOKEN")
      ->each([flags](const std::string&) { flags->token_given = true; });
  command
      ->add_option("--write-token", flags->write_token,
                   "Enable POST /api/v1/events (JSON lines or a JSON array, gzip accepted) for "
                   "this bearer token (or $TABLEPULSE_WRITE_TOKEN; the read --token cannot "
                   "write). Without it the endpoint answers 404 (disabled)")
      ->envname("TABLEPULSE_WRITE_TOKEN")
      ->each([flags](const std::string&) { flags->write_token_given = true; });
  command->add_option("--events-log", flags->events_log,
                      "Write-ahead file of the posted events, followed by serve's consumer "
                      "(default: <db>/http-events.jsonl; required with --clickhouse)");
  command
      ->add_option("--events-log-max-bytes", flags->events_log_max_bytes,
                   "The events log is renamed to <log>.1 past this size, once the consumer has "
                   "committed all of it (the previous .1 is dropped)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 40));
  command
      ->add_option("--max-body-bytes", flags->max_body_bytes,
                   "Largest POST /api/v1/events body, also once inflated (413 beyond)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 30));
  command
      ->add_option("--events-rate", flags->events_rate,
                   "Events per second POST /api/v1/events takes (token bucket, burst 1 s; 429 "
                   "with Retry-After beyond); 0: no limit")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  command->add_flag("--migrate,!--no-migrate", flags->migrate,
                    "Apply schema migrations at start (default: on)");
  command->add_option("--threads", flags->threads, "HTTP worker threads (each live page holds one)")
      ->capture_default_str()
      ->check(CLI::Range(8, 1024));
  command->callback([flags] { serve(*flags); });
}

}  // namespace tp::cli
