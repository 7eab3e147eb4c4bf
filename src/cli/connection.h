#pragma once
// Flags every database-using command shares (--db or --clickhouse) and the factory they make.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "clickhouse/broken_parts.h"
#include "clickhouse/client.h"
#include "clickhouse/http.h"

namespace tp::cli {

// Which ClickHouse to use: embedded (default) or a server when --clickhouse is given.
struct ConnectionFlags {
  std::string db_dir = "./tablepulse-data";  // embedded data directory
  std::string chdb_library;                  // embedded engine path override
  clickhouse::HttpOptions http;              // used when http.url is set by --clickhouse
  bool use_http = false;
  bool allow_broken_parts = false;  // --allow-broken-parts: work on what the engine could read
};

// Adds --db, --clickhouse, --user, --password, --database, --timeout, --insecure, --ca-file.
void add_connection_flags(CLI::App* command, ConnectionFlags& flags);

// Adds --allow-broken-parts (the commands that check the data directory, see below).
void add_allow_broken_parts_flag(CLI::App* command, ConnectionFlags& flags);

// Opens the chosen backend; fills credentials from CLICKHOUSE_USER/CLICKHOUSE_PASSWORD.
Result<std::unique_ptr<clickhouse::ClientFactory>> open_connection(ConnectionFlags flags);

// The parts of the embedded data directory that the engine set aside at start because it could
// not read them (their rows are gone from the tables, while ingest_batches still counts them).
// None: an empty list. Some: kDataCorrupted naming them and the remedies, unless
// --allow-broken-parts, in which case they are logged as a warning and returned (serve reports
// them). A ClickHouse server is not checked: its replicas re-fetch broken parts, and its own
// monitoring watches system.detached_parts.
Result<std::vector<clickhouse::BrokenPart>> check_broken_parts(
    clickhouse::ClientFactory& factory, const ConnectionFlags& flags);

// Prints `error` to stderr and ends the command with its exit status.
[[noreturn]] void fail(const Error& error);

}  // namespace tp::cli
