#pragma once
// One interface to ClickHouse, with two backends: the embedded chDB engine and an HTTP server.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace tp::clickhouse {

// Named ClickHouse query parameters ({name:Type} in SQL), values as ClickHouse text.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Per-insert settings: the token makes a retried insert idempotent.
struct InsertOptions {
  std::string deduplication_token;  // empty: no token (the server deduplicates by block hash)
};

// Figures of the last query, from the engine's own statistics where it reports them.
struct QueryStats {
  uint64_t rows_read = 0;
  uint64_t bytes_read = 0;
  double elapsed_ms = 0;
};

// A session with ClickHouse; not thread-safe: use one per thread (chDB allows one connection
// per thread, and an HTTP session is a curl handle).
class Client {
 public:
  virtual ~Client() = default;

  // Runs a statement whose output is discarded (DDL, INSERT ... SELECT, SET).
  virtual Status execute(std::string_view sql, const QueryParams& params = {}) = 0;

  // Inserts `data` in ClickHouse `format` (e.g. JSONEachRow, RowBinary) into `table`.
  virtual Status insert(std::string_view table, std::string_view format, std::string_view data,
                        const InsertOptions& options = {}) = 0;

  // Runs a SELECT and returns its rows, one JSON object per row (JSONEachRow: 64-bit integers
  // and decimals as JSON numbers, NULL as null).
  virtual Result<std::vector<std::string>> query_json_rows(std::string_view sql,
                                                           const QueryParams& params = {}) = 0;

  // query_json_rows for a statement that reads a long list of values: the SQL names it
  // {{values}}, a one-column table (column `value` of ClickHouse `type`, values as its text).
  // A batch's ids (25,000 and more) as an Array parameter cost the engine more to parse than
  // the query itself; the embedded backend overrides this to read them from a file instead.
  virtual Result<std::vector<std::string>> query_json_rows_with_values(
      std::string_view sql, const QueryParams& params, std::string_view type,
      const std::vector<std::string_view>& values);

  // What this client talks to, for logs (never includes credentials).
  virtual std::string describe() const = 0;

  // Statistics of the last query_json_rows call, if the backend reports them.
  virtual QueryStats last_stats() const { return {}; }
};

// Makes clients for new threads; owns what they share (the embedded engine, connection settings).
class ClientFactory {
 public:
  virtual ~ClientFactory() = default;
  virtual Result<std::unique_ptr<Client>> connect() = 0;
  virtual bool embedded() const = 0;
  virtual std::string describe() const = 0;
};

// An error ClickHouse reported for a statement, on either backend: data_corrupted for the codes
// of stored data that does not read back (a part whose bytes changed but not its file sizes,
// which the engine's load-time check cannot see: CHECKSUM_DOESNT_MATCH, CORRUPTED_DATA,
// CANNOT_DECOMPRESS), clickhouse_error for any other.
Error statement_error(std::string message, int clickhouse_code);

// Quotes `value` as a ClickHouse string literal ('...' with \ and ' escaped).
std::string quote_string(std::string_view value);

// Replaces every `placeholder` (a {{name}} of the SQL templates) in `sql` with `text`.
std::string replace_all(std::string sql, std::string_view placeholder, std::string_view text);

// Drops trailing blanks and semicolons, so a statement can be wrapped or get FORMAT appended.
std::string_view trim_statement(std::string_view sql);

// Escapes a query parameter value the way ClickHouse parses parameter text (TSV escaping:
// backslash, tab, newline), so any string arrives intact. Both backends send values through it.
std::string escape_parameter(std::string_view value);

}  // namespace tp::clickhouse
