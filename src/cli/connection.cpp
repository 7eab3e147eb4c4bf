#include "cli/connection.h"

#include <cstdlib>

#include <fmt/core.h>
#include <spdlog/spdlog.h>

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

void add_allow_broken_parts_flag(CLI::App* command, ConnectionFlags& flags) {
  command->add_flag("--allow-broken-parts", flags.allow_broken_parts,
                    "Work on a data directory whose engine set unreadable parts aside (their "
                    "rows are missing; serve reports them on /healthz, /metrics and the page)");
}

Result<std::vector<clickhouse::BrokenPart>> check_broken_parts(
    clickhouse::ClientFactory& factory, const ConnectionFlags& flags) {
  if (!factory.embedded()) return std::vector<clickhouse::BrokenPart>{};
  auto client = factory.connect();
  if (!client.ok()) return client.error();
  auto parts = clickhouse::find_broken_parts(*client.value());
  if (!parts.ok() || parts->empty()) return parts;
  const std::string list = clickhouse::describe_broken_parts(parts.value());
  if (!flags.allow_broken_parts) {
    return make_error(
        ErrorCode::kDataCorrupted,
        "{} part(s) of {} could not be read and were set aside by the engine ({}); their rows "
        "are missing. Restore the directory from a backup, or run with --allow-broken-parts to "
        "work on the data that is left (to accept the loss for good: tablepulse sql --db {} "
        "\"ALTER TABLE <table> DROP DETACHED PART '<name>' SETTINGS allow_drop_detached = 1\")",
        parts->size(), flags.db_dir, list, flags.db_dir);
  }
  spdlog::warn("--allow-broken-parts: {} part(s) of {} could not be read and are left out, "
               "their rows are missing: {}",
               parts->size(), flags.db_dir, list);
  return parts;
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
