#include "clickhouse/embedded.h"

#include <adbc.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "common/fault.h"

namespace tp::clickhouse {
namespace {

// Splits "[chdb] Code: 60. DB::Exception: ..." into ClickHouse's code and an Error.
Error engine_error(const AdbcError& adbc, std::string_view what) {
  std::string message = adbc.message != nullptr ? adbc.message : "unknown engine error";
  int code = 0;
  if (size_t at = message.find("Code: "); at != std::string::npos) {
    code = std::atoi(message.c_str() + at + 6);
  }
  return statement_error(fmt::format("{}: {}", what, message), code);
}

// Frees an AdbcError's message the way ADBC requires.
void release_error(AdbcError& error) {
  if (error.release != nullptr) error.release(&error);
  error = AdbcError{};
}

// The process-wide engine: chDB supports one engine and one data directory per process.
class Engine {
 public:
  static Result<Engine*> open(const EmbeddedOptions& options);

  Result<AdbcConnection> new_connection();
  AdbcDriver& driver() { return driver_; }
  const std::string& data_dir() const { return data_dir_; }

 private:
  Status load(const std::string& library, const std::string& data_dir);
  Status lock_directory(const std::string& data_dir);

  AdbcDriver driver_{};
  AdbcDatabase database_{};
  std::string data_dir_;
  int lock_fd_ = -1;
  std::mutex connect_mutex_;
};

Result<Engine*> Engine::open(const EmbeddedOptions& options) {
  static std::mutex mutex;
  static Engine* engine = nullptr;  // never destroyed: chDB cannot shut down and restart
  std::lock_guard lock(mutex);
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot create data directory {}: {}", options.data_dir,
                      ec.message());
  }
  std::string dir = std::filesystem::canonical(options.data_dir, ec).string();
  if (ec)
    return make_error(ErrorCode::kIo, "cannot resolve {}: {}", options.data_dir, ec.message());
  if (engine != nullptr) {
    if (engine->data_dir_ != dir) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the embedded engine already uses {}; one process can open one data "
                        "directory only (asked for {})",
                        engine->data_dir_, dir);
    }
    return engine;
  }
  auto fresh = std::make_unique<Engine>();
  TP_RETURN_IF_ERROR(fresh->lock_directory(dir));
  TP_RETURN_IF_ERROR(fresh->load(resolve_chdb_library(options), dir));
  engine = fresh.release();
  return engine;
}

Status Engine::lock_directory(const std::string& dir) {
  // Our own lock, checked before the engine starts, gives a clear error naming the owner
  // instead of the engine's lower-level failure on its status file.
  std::string path = dir + "/tablepulse.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(ErrorCode::kIo, "cannot open {}: {}", path, std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char owner[32] = {0};
    ssize_t n = ::pread(fd, owner, sizeof(owner) - 1, 0);
    ::close(fd);
    std::string pid = n > 0 ? std::string(owner, static_cast<size_t>(n)) : "unknown";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return make_error(ErrorCode::kEngineLocked,
                      "data directory {} is in use by another TablePulse process (pid {}); "
                      "stop it, or use its HTTP API, or pass another --db",
                      dir, pid);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    spdlog::debug("could not record pid in {}", path);
  }
  lock_fd_ = fd;  // held (and locked) for the life of the process
  // Scratch files (insert blocks, id lists) left by a killed process: with the lock held no
  // other process can be using them, and nothing reads them after their statement.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/tmp", ec)) {
    if (entry.path().filename().string().rfind("tablepulse-scratch-", 0) == 0) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  return {};
}

Status Engine::load(const std::string& library, const std::string& dir) {
  auto started = std::chrono::steady_clock::now();
  if (!std::filesystem::exists(library)) {
    return make_error(ErrorCode::kEngineLoad,
                      "chDB engine not found at {}: run scripts/deps.sh (it installs the pinned "
                      "chdb-core wheel into .deps/) or set TABLEPULSE_CHDB_LIB",
                      library);
  }
  // The wheel's module references CPython symbols; libpython satisfies the loader (no
  // interpreter is started). RTLD_DEEPBIND keeps the engine's own libc++ symbols from being
  // bound to our libstdc++ (mixing them aborts in the engine's static initialisers).
  if (dlopen("libpython3.11.so.1.0", RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    return make_error(ErrorCode::kEngineLoad, "cannot load libpython3.11 (apt libpython3.11): {}",
                      dlerror());
  }
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (handle == nullptr) {
    return make_error(ErrorCode::kEngineLoad, "cannot load {}: {}", library, dlerror());
  }
  auto init = reinterpret_cast<AdbcDriverInitFunc>(dlsym(handle, "chdb_adbc_init"));
  if (init == nullptr) {
    return make_error(ErrorCode::kEngineLoad, "{} has no chdb_adbc_init entry point", library);
  }
  AdbcError error{};
  if (init(ADBC_VERSION_1_1_0, &driver_, &error) != ADBC_STATUS_OK) {
    Error e = engine_error(error, "ADBC driver init");
    release_error(error);
    e.code = ErrorCode::kEngineLoad;
    return e;
  }
  std::string uri = "chdb://" + dir;
  if (driver_.DatabaseNew(&database_, &error) != ADBC_STATUS_OK ||
      driver_.DatabaseSetOption(&database_, "uri", uri.c_str(), &error) != ADBC_STATUS_OK ||
      driver_.DatabaseInit(&database_, &error) != ADBC_STATUS_OK) {
    Error e = engine_error(error, "opening " + dir);
    release_error(error);
    e.code = ErrorCode::kEngineLoad;
    return e;
  }
  database_.private_driver = &driver_;
  data_dir_ = dir;
  auto elapsed =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started);
  spdlog::debug("embedded ClickHouse engine loaded from {} in {:.0f} ms, data in {}", library,
                elapsed.count(), dir);
  return {};
}

Result<AdbcConnection> Engine::new_connection() {
  std::lock_guard lock(connect_mutex_);
  AdbcConnection connection{};
  AdbcError error{};
  if (driver_.ConnectionNew(&connection, &error) != ADBC_STATUS_OK) {
    Error e = engine_error(error, "new connection");
    release_error(error);
    return e;
  }
  connection.private_driver = &driver_;
  if (driver_.ConnectionInit(&connection, &database_, &error) != ADBC_STATUS_OK) {
    Error e = engine_error(error, "connecting to " + data_dir_);
    release_error(error);
    if (e.message.find("Cannot lock file") != std::string::npos ||
        e.message.find("already running") != std::string::npos) {
      e.code = ErrorCode::kEngineLocked;
    }
    return e;
  }
  return connection;
}

// Reads the one string column of a result stream ("u"/"U" utf8 or "z"/"Z" binary) into lines.
Status read_string_column(ArrowArrayStream& stream, std::vector<std::string>& rows) {
  ArrowSchema schema{};
  if (stream.get_schema(&stream, &schema) != 0) {
    const char* last = stream.get_last_error(&stream);
    return make_error(ErrorCode::kProtocol, "result schema: {}", last ? last : "unknown");
  }
  bool large = false;
  bool ok_shape = schema.n_children == 1;
  if (ok_shape) {
    std::string_view format = schema.children[0]->format;
    large = format == "U" || format == "Z";
    ok_shape = format == "u" || format == "z" || large;
  }
  std::string got = schema.n_children > 0 ? schema.children[0]->format : "none";
  schema.release(&schema);
  if (!ok_shape) {
    return make_error(ErrorCode::kProtocol, "expected one string column, got format {}", got);
  }
  while (true) {
    ArrowArray batch{};
    if (stream.get_next(&stream, &batch) != 0) {
      const char* last = stream.get_last_error(&stream);
      return make_error(ErrorCode::kClickHouse, "reading result: {}", last ? last : "unknown");
    }
    if (batch.release == nullptr) break;
    const ArrowArray* column = batch.children[0];
    const int64_t base = column->offset;
    const auto* validity = static_cast<const uint8_t*>(column->buffers[0]);
    const char* data = static_cast<const char*>(column->buffers[2]);
    for (int64_t i = 0; i < column->length; ++i) {
      int64_t at = base + i;
      if (validity != nullptr && (validity[at / 8] & (1 << (at % 8))) == 0) {
        rows.emplace_back("null");
        continue;
      }
      int64_t begin, end;
      if (large) {
        const auto* offsets = static_cast<const int64_t*>(column->buffers[1]);
        begin = offsets[at];
        end = offsets[at + 1];
      } else {
        const auto* offsets = static_cast<const int32_t*>(column->buffers[1]);
        begin = offsets[at];
        end = offsets[at + 1];
      }
      rows.emplace_back(data + begin, static_cast<size_t>(end - begin));
    }
    batch.release(&batch);
  }
  return {};
}

class EmbeddedClient final : public Client {
 public:
  EmbeddedClient(Engine* engine, AdbcConnection connection)
      : engine_(engine), connection_(connection) {}
  ~EmbeddedClient() override {
    AdbcError error{};
    engine_->driver().ConnectionRelease(&connection_, &error);
    release_error(error);
  }

  Status execute(std::string_view sql, const QueryParams& params) override {
    if (fault_window("clickhouse_execute_unavailable")) {
      return make_error(ErrorCode::kUnavailable, "injected fault clickhouse_execute_unavailable");
    }
    TP_RETURN_IF_ERROR(set_params(params));
    return run(sql, nullptr);
  }

  Status insert(std::string_view table, std::string_view format, std::string_view data,
                const InsertOptions& options) override {
    if (fault_window("clickhouse_insert_unavailable")) {
      return make_error(ErrorCode::kUnavailable, "injected fault clickhouse_insert_unavailable");
    }
    // Measured (bench/ingest.sh, DESIGN.md §7): the engine parses data given inline after
    // FORMAT about five times slower than the same bytes read FROM INFILE, so a block goes
    // through a private scratch file in the data directory.
    std::string path = scratch_path(format);
    TP_RETURN_IF_ERROR(write_scratch(path, data));
    // Settings chosen by measurement (1M events, bench/ingest.sh data):
    //  * parallel_view_processing: the views of a table run side by side instead of one after
    //    another; for `events` (five views) the engine's own insert went from 6.9 to 5.0 s;
    //  * optimize_on_insert = 0: no merge pass over each new block. The consumer never puts
    //    two rows with one key in a block, and every reader of these tables either uses FINAL
    //    or aggregates with max/min/any/argMax, so the pass only cost time: 5.5-6.1 s -> 4.7-5.2 s.
    std::string sql = fmt::format(
        "INSERT INTO {} FROM INFILE {} SETTINGS parallel_view_processing = 1, "
        "optimize_on_insert = 0",
        table, quote_string(path));
    if (!options.deduplication_token.empty()) {
      sql += ", insert_deduplication_token = " + quote_string(options.deduplication_token);
    }
    sql += fmt::format(" FORMAT {}", format);
    Status status = run(sql, nullptr);
    std::remove(path.c_str());
    return status;
  }

  Result<std::vector<std::string>> query_json_rows(std::string_view sql,
                                                   const QueryParams& params) override {
    TP_RETURN_IF_ERROR(set_params(params));
    // The ADBC path returns Arrow; each row is turned into its JSONEachRow text inside the
    // engine, so both backends hand back the same JSON and one reader serves both.
    std::string wrapped = fmt::format(
        "SELECT formatRowNoNewline('JSONEachRow', *) FROM (\n{}\n) SETTINGS "
        "output_format_json_quote_64bit_integers = 0, output_format_json_quote_decimals = 0, "
        "output_format_json_named_tuples_as_objects = 1",
        trim_statement(sql));
    std::vector<std::string> rows;
    auto started = std::chrono::steady_clock::now();
    TP_RETURN_IF_ERROR(run(wrapped, &rows));
    stats_ = QueryStats{};
    stats_.elapsed_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    return rows;
  }

  std::string describe() const override { return "embedded chDB at " + engine_->data_dir(); }
  Result<std::vector<std::string>> query_json_rows_with_values(
      std::string_view sql, const QueryParams& params, std::string_view type,
      const std::vector<std::string_view>& values) override {
    // In-process the list goes through a scratch file, as inserts do: for 50,000 UUIDs the
    // engine reads the file in ~2 ms, where parsing them as a parameter took ~45 ms.
    std::string text;
    for (std::string_view value : values) {
      text += escape_parameter(value);  // TSV escaping: the file is one value per line
      text.push_back('\n');
    }
    std::string path = scratch_path("tsv");
    TP_RETURN_IF_ERROR(write_scratch(path, text));
    auto rows = query_json_rows(
        replace_all(std::string(sql), "{{values}}",
                    fmt::format("(SELECT value FROM file({}, 'TSV', {}))", quote_string(path),
                                quote_string(fmt::format("value {}", type)))),
        params);
    std::remove(path.c_str());
    return rows;
  }

  QueryStats last_stats() const override { return stats_; }

 private:
  // Query parameters are session settings (param_<name>) of this connection; values travel
  // as typed parameter text, never spliced into the statement.
  Status set_params(const QueryParams& params) {
    for (const auto& [name, value] : params) {
      std::string statement =
          fmt::format("SET param_{} = {}", name, quote_string(escape_parameter(value)));
      if (statement.size() >= kDefaultMaxQuerySize / 2 && !large_queries_) {
        // A big value (a batch's ids) is parsed as part of its SET statement: let it through.
        TP_RETURN_IF_ERROR(run("SET max_query_size = 1073741824", nullptr));
        large_queries_ = true;
      }
      TP_RETURN_IF_ERROR(run(statement, nullptr));
    }
    return {};
  }

  static constexpr size_t kDefaultMaxQuerySize = 262144;  // ClickHouse's max_query_size default
  bool large_queries_ = false;  // max_query_size raised on this connection

  Status run(std::string_view sql, std::vector<std::string>* rows) {
    AdbcDriver& driver = engine_->driver();
    AdbcStatement statement{};
    AdbcError error{};
    std::string text(sql);
    auto fail = [&](std::string_view what) -> Error {
      Error e = engine_error(error, what);
      release_error(error);
      if (statement.private_data != nullptr) driver.StatementRelease(&statement, &error);
      release_error(error);
      return e;
    };
    if (driver.StatementNew(&connection_, &statement, &error) != ADBC_STATUS_OK)
      return fail("statement");
    if (driver.StatementSetSqlQuery(&statement, text.c_str(), &error) != ADBC_STATUS_OK) {
      return fail("query");
    }
    ArrowArrayStream stream{};
    int64_t affected = -1;
    // No result wanted: the driver's update path (no Arrow stream) is the one that runs
    // INSERT ... FORMAT with inline data and DDL as written.
    if (driver.StatementExecuteQuery(&statement, rows != nullptr ? &stream : nullptr, &affected,
                                     &error) != ADBC_STATUS_OK) {
      return fail("ClickHouse");
    }
    Status status;
    if (rows != nullptr) {
      status = read_string_column(stream, *rows);
    }
    if (stream.release != nullptr) stream.release(&stream);
    driver.StatementRelease(&statement, &error);
    release_error(error);
    return status;
  }

  // Writes `data` to the scratch file `path`; on failure nothing is left behind.
  static Status write_scratch(const std::string& path, std::string_view data) {
    std::FILE* file = std::fopen(path.c_str(), "we");
    if (file == nullptr) {
      return make_error(ErrorCode::kIo, "cannot write {}: {}", path, std::strerror(errno));
    }
    size_t written = std::fwrite(data.data(), 1, data.size(), file);
    bool closed = std::fclose(file) == 0;
    if (written != data.size() || !closed) {
      std::remove(path.c_str());
      return make_error(ErrorCode::kIo, "cannot write {}: {}", path, std::strerror(errno));
    }
    return {};
  }

  // A file name no other connection or process uses: <data dir>/tmp/tablepulse-scratch-<id>.
  std::string scratch_path(std::string_view format) {
    if (scratch_prefix_.empty()) {
      std::error_code ec;
      auto dir = std::filesystem::path(engine_->data_dir()) / "tmp";
      std::filesystem::create_directories(dir, ec);
      scratch_prefix_ = (dir / fmt::format("tablepulse-scratch-{}-{}", ::getpid(),
                                           reinterpret_cast<uintptr_t>(this)))
                            .string();
    }
    return fmt::format("{}-{}.{}", scratch_prefix_, ++scratch_count_, format);
  }

  Engine* engine_;
  AdbcConnection connection_;
  QueryStats stats_;
  std::string scratch_prefix_;
  uint64_t scratch_count_ = 0;
};

class EmbeddedFactory final : public ClientFactory {
 public:
  explicit EmbeddedFactory(Engine* engine) : engine_(engine) {}
  Result<std::unique_ptr<Client>> connect() override {
    auto connection = engine_->new_connection();
    if (!connection.ok()) return connection.error();
    return std::unique_ptr<Client>(std::make_unique<EmbeddedClient>(engine_, connection.value()));
  }
  bool embedded() const override { return true; }
  std::string describe() const override { return "embedded chDB at " + engine_->data_dir(); }

 private:
  Engine* engine_;
};

}  // namespace

std::string resolve_chdb_library(const EmbeddedOptions& options) {
  if (!options.library_path.empty()) return options.library_path;
  if (const char* env = std::getenv("TABLEPULSE_CHDB_LIB"); env != nullptr && *env != '\0') {
    return env;
  }
  // Beside the binary first (an installed layout), then where scripts/deps.sh put it.
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto candidate = self.parent_path().parent_path() / ".deps/chdb/_chdb.abi3.so";
    if (std::filesystem::exists(candidate)) return candidate.string();
  }
  return TABLEPULSE_DEFAULT_CHDB_LIB;
}

Result<std::unique_ptr<ClientFactory>> open_embedded(const EmbeddedOptions& options) {
  auto engine = Engine::open(options);
  if (!engine.ok()) return engine.error();
  return std::unique_ptr<ClientFactory>(std::make_unique<EmbeddedFactory>(engine.value()));
}

}  // namespace tp::clickhouse
