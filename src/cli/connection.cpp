#include "cli/connection.h"

#include <cstdlib>

#include <fmt/core.h>

#include "clickhouse/embedded.h"

namespace tp::cli {

void add_connection_flags(CLI::App* command, ConnectionFlags& flags) {
  auto* db = command->add_option("--db", flags.db_dir, "Embedded data directory")
                 ->capture_default_str();
  auto* url = command
                  ->add_option("--clickhouse", flags.http.url,
                               "ClickHouse HTTP URL (e.g. http://127.0.0.1:8123); default: embedded")
                  ->each([&flags](const std::string&) { flags.use_http = true; });
  db->excludes(url);
  command->add_option("--chdb-lib", flags.chdb_library,
                      "Path of the chDB engine (_chdb.abi3.so); default: .deps/chdb");
  command->add_option("--user", flags.http.user, "ClickHouse user (or $CLICKHOUSE_USER)");
  command->add_option("--password", flags.http.password,
                      "ClickHouse password (prefer $CLICKHOUSE_PASSWORD: flags show in ps)");
  command->add_option("--database", flags.http.database, "ClickHouse database")
      ->capture_default_str();
  command->add_option("--timeout-ms", flags.http.request_timeout_ms, "HTTP request timeout")
      ->capture_default_str();
  command->add_flag("!--no-compression", flags.http.compress, "Send and accept uncompressed HTTP");
  command->add_flag("!--insecure", flags.http.verify_tls, "Do not verify the TLS certificate");
  command->add_option("--ca-file", flags.http.ca_file, "CA bundle for https://");
}

Result<std::unique_ptr<clickhouse::ClientFactory>> open_connection(ConnectionFlags flags) {
  if (!flags.use_http) {
    return clickhouse::open_embedded({flags.db_dir, flags.chdb_library});
  }
  if (const char* user = std::getenv("CLICKHOUSE_USER"); user != nullptr && *user != '\0' &&
                                                         flags.http.user == "default") {
    flags.http.user = user;
  }
  if (const char* password = std::getenv("CLICKHOUSE_PASSWORD");
      password != nullptr && flags.http.password.empty()) {
    flags.http.password = password;
  }
  return clickhouse::open_http(flags.http);
}

void fail(const Error& error) {
  fmt::print(stderr, "tablepulse: {}\n", error.to_string());
  throw CLI::RuntimeError(error_exit_status(error.code));
}

}  // namespace tp::cli
