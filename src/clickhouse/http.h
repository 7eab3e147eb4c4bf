#pragma once
// The HTTP backend: any ClickHouse server or cluster over its HTTP interface (libcurl).
#include <memory>
#include <string>

#include "clickhouse/client.h"

namespace tp::clickhouse {

// How to reach the server; credentials are never logged.
struct HttpOptions {
  std::string url = "http://127.0.0.1:8123";  // http:// or https://, optionally with a path
  std::string user = "default";               // $CLICKHOUSE_USER overrides an empty flag
  std::string password;                       // $CLICKHOUSE_PASSWORD overrides an empty flag
  std::string database = "default";           // the database every statement runs in
  long connect_timeout_ms = 5000;             // TCP/TLS connect limit
  long request_timeout_ms = 60000;            // whole-request limit
  bool compress = true;                       // gzip request bodies and accept compressed answers
  bool verify_tls = true;                     // verify the server certificate for https://
  std::string ca_file;                        // extra CA bundle for https://, empty: system CAs
};

// Checks the options (URL scheme, timeouts) and returns a factory of HTTP sessions.
// Does not contact the server: the first statement does.
Result<std::unique_ptr<ClientFactory>> open_http(const HttpOptions& options);

}  // namespace tp::clickhouse
