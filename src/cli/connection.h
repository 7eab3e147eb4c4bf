#pragma once
// Flags every database-using command shares (--db or --clickhouse) and the factory they make.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "clickhouse/client.h"
#include "clickhouse/http.h"

namespace tp::cli {

// Which ClickHouse to use: embedded (default) or a server when --clickhouse is given.
struct ConnectionFlags {
  std::string db_dir = "./tablepulse-data";  // embedded data directory
  std::string chdb_library;                  // embedded engine path override
  clickhouse::HttpOptions http;              // used when http.url is set by --clickhouse
  bool use_http = false;
};

// Adds --db, --clickhouse, --user, --password, --database, --timeout, --insecure, --ca-file.
void add_connection_flags(CLI::App* command, ConnectionFlags& flags);

// Opens the chosen backend; fills credentials from CLICKHOUSE_USER/CLICKHOUSE_PASSWORD.
Result<std::unique_ptr<clickhouse::ClientFactory>> open_connection(ConnectionFlags flags);

// Prints `error` to stderr and ends the command with its exit status.
[[noreturn]] void fail(const Error& error);

}  // namespace tp::cli
