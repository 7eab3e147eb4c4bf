#pragma once
// `tablepulse serve`'s HTTP side: the read-only JSON API over the dashboard metrics, the live
// snapshot stream (Server-Sent Events), /metrics for Prometheus, /healthz, and the page itself
// from the resources compiled into the binary.
#include <memory>
#include <string>
#include <vector>

#include "clickhouse/broken_parts.h"
#include "clickhouse/client.h"
#include "common/result.h"
#include "ingest/stats.h"
#include "server/events_intake.h"
#include "server/snapshot_hub.h"

namespace tp::server {

// Where and how to serve; the defaults suit one machine (loopback, no token).
struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless asked: the API has no per-user access
  int port = 8080;                 // 0: any free port (tests); port() tells which
  std::string token;               // non-empty: required on everything but /healthz and assets
  int worker_threads = 48;         // always running; each live page holds one while connected
  int max_worker_threads = 512;    // more are started while every worker is busy, so that
                                   // connections that send nothing cannot starve the others
  int request_timeout_s = 5;       // a connection's time to start a request (and each read of
                                   // it may wait this long): what a silent one costs a worker
  size_t max_stream_clients = 32;  // beyond this /api/v1/stream answers 503, keeping workers
                                   // free for the JSON API
  SnapshotTiming timing;
  std::vector<clickhouse::BrokenPart> broken_parts;  // set aside by the engine, served anyway
                                                     // (--allow-broken-parts): "degraded"
  std::string write_token;  // required (Authorization: Bearer only) by POST /api/v1/events
  std::shared_ptr<EventsIntake> events;  // POST /api/v1/events; null: the endpoint is disabled
};

// One HTTP server; each worker thread opens its own ClickHouse session from the factory.
class Server {
 public:
  Server(clickhouse::ClientFactory& factory, MetricsBackend backend,
         std::shared_ptr<ingest::IngestStats> stats, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the listening socket (kUnavailable if the address is taken); returns the port.
  Result<int> bind();
  // Serves until stop(); binds first if bind() was not called.
  Status run();
  // bind() + run() on a background thread; returns once requests are accepted (tests).
  Status start();
  // Ends run(): closes the live streams and the socket; safe from any thread, idempotent.
  void stop();

  int port() const;
  // "http://127.0.0.1:8080/".
  std::string url() const;
  SnapshotHub& hub();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tp::server
