#pragma once
// Shared test helpers: temporary directories, the embedded engine on a fresh directory, running
// the tablepulse binary.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "clickhouse/client.h"
#include "clickhouse/embedded.h"
#include "ingest/counters.h"

extern char** environ;

namespace tp::test {

// A ClickHouse client that succeeds at everything and holds nothing: fakes derive from it and
// override only what their test is about.
class NullClient : public clickhouse::Client {
 public:
  Status execute(std::string_view, const clickhouse::QueryParams&) override { return {}; }
  Status insert(std::string_view, std::string_view, std::string_view,
                const clickhouse::InsertOptions&) override {
    return {};
  }
  Result<std::vector<std::string>> query_json_rows(std::string_view,
                                                   const clickhouse::QueryParams&) override {
    return std::vector<std::string>{};
  }
  std::string describe() const override { return "null"; }
};

// A free loopback port: bind port 0, read the port back, release it (nothing listens on it
// then: also a port to fail to connect to).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

// A directory under /tmp, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("tablepulse-test-" + std::to_string(random()) + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// The embedded engine of this test process, on a directory of its own (one per process).
inline clickhouse::ClientFactory& embedded_engine() {
  static TempDir dir;
  static std::unique_ptr<clickhouse::ClientFactory> factory = [] {
    auto opened = clickhouse::open_embedded({dir.str() + "/db", ""});
    if (!opened.ok()) {
      ADD_FAILURE() << opened.error().to_string();
      std::abort();
    }
    return std::move(opened.value());
  }();
  return *factory;
}

// A new connection to the embedded engine.
inline std::unique_ptr<clickhouse::Client> embedded_client() {
  auto client = embedded_engine().connect();
  EXPECT_TRUE(client.ok()) << client.error().to_string();
  return std::move(client.value());
}

// Output and exit status of a shell command.
struct CommandResult {
  int status = -1;
  std::string out;
};

// Runs `command` through the shell, capturing stdout (stderr goes to the test log).
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.out.append(buffer, n);
  int raw = pclose(pipe);
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return result;
}

// Starts `args` (no shell) with stdout/stderr to /dev/null; returns its pid (a test kills it).
inline pid_t spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// Path of the tablepulse binary under test: the one built with these tests, or
// $TABLEPULSE_TEST_BINARY (to run a test against another build, e.g. the code before a fix).
inline std::string tablepulse_binary() {
  const char* other = std::getenv("TABLEPULSE_TEST_BINARY");
  return other != nullptr && *other != '\0' ? other : TABLEPULSE_BINARY;
}

// `tablepulse generate --events N --seed S -o PATH`, the generator's default noise included:
// the inputs of the tests that need a realistic stream of a given size.
inline CommandResult generate_events(const std::string& path, int events, int seed) {
  return run_command(fmt::format("{} generate --events {} --seed {} -o {} 2>&1",
                                 tablepulse_binary(), events, seed, path));
}

// Every data-quality total (the counter registry's select list, ingest/counters.h): a resumed
// or retried run must report each as a clean run does.
inline std::string data_quality_fields() {
  std::string fields = ingest::data_quality_select_list();
  for (char& c : fields) {
    if (c == '\n') c = ' ';
  }
  return fields;
}

// What a database holds, in numbers that any lost or doubled event (or missed match) would
// change: {"events", "order_items", "batches", "matches"}, to compare two runs. Read by a
// tablepulse process: a test process may open only one engine, and such tests need several.
inline nlohmann::json stored(const std::string& db) {
  auto result = run_command(fmt::format(
      "{} sql --rows --db {} "
      "\"SELECT count() AS rows, uniqExact(event_id) AS ids, "
      "sum(cityHash64(toString(event_id), content_hash)) AS hash, sum(total_amount) AS money "
      "FROM events FINAL\" "
      "\"SELECT count() AS n FROM order_items FINAL\" "
      "\"SELECT sum(lines) AS lines, sum(blank) AS blank, {} FROM ingest_batches FINAL\" "
      "\"SELECT count() AS rows, sum(cityHash64(toString(event_id), seat_ts, placed_ts, "
      "completed_ts, first_placement)) AS hash FROM event_matches FINAL\"",
      tablepulse_binary(), db, data_quality_fields()));
  EXPECT_EQ(result.status, 0) << result.out;
  std::vector<nlohmann::json> rows;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
  EXPECT_EQ(rows.size(), 4u) << result.out;
  if (rows.size() != 4) return nlohmann::json();
  return {{"events", rows[0]},
          {"order_items", rows[1]},
          {"batches", rows[2]},
          {"matches", rows[3]}};
}

// The value of an unlabelled sample `name` in a /metrics text; -1 if it is absent.
inline double sample(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::atof(text.c_str() + at + name.size() + 2);
}

// A `tablepulse serve` started in the background: its pid and the port it printed.
struct ServeProcess {
  FILE* pipe = nullptr;
  int pid = 0;
  int port = 0;
  std::string first_line;  // what it printed first ("TablePulse serving on …", or an error)
  ServeProcess() = default;
  ServeProcess(ServeProcess&& other) noexcept
      : pipe(std::exchange(other.pipe, nullptr)),
        pid(other.pid),
        port(other.port),
        first_line(std::move(other.first_line)) {}
  ServeProcess(const ServeProcess&) = delete;
  // A test that stops early (a failed ASSERT) must not leave serve running.
  ~ServeProcess() {
    if (pipe == nullptr) return;
    if (pid > 0) ::kill(pid, SIGKILL);
    pclose(pipe);
  }
};

// An environment variable for a started process (values without a single quote).
struct EnvVar {
  std::string name;
  std::string value;
};

// Starts `tablepulse serve ARGS` with `env` added to its environment (stderr joins stdout)
// and waits for the line with its URL. A TABLEPULSE_TOKEN of the caller's environment is not
// passed on (the tests' requests carry none).
inline ServeProcess start_serve(const std::string& args, const std::vector<EnvVar>& env = {}) {
  std::string assignments = "unset TABLEPULSE_TOKEN; ";
  for (const EnvVar& var : env) assignments += fmt::format("{}=\"{}\" ", var.name, var.value);
  ServeProcess serve;
  serve.pipe = popen(fmt::format("sh -c 'echo $$; {}exec {} serve --listen 127.0.0.1:0 {} 2>&1'",
                                 assignments, tablepulse_binary(), args)
                         .c_str(),
                     "r");
  if (serve.pipe == nullptr) return serve;
  char line[4096];
  if (fgets(line, sizeof line, serve.pipe) == nullptr) return serve;
  serve.pid = std::atoi(line);
  // Log lines may come first; the URL line ends the wait (or EOF when serve refused to start).
  while (fgets(line, sizeof line, serve.pipe) != nullptr) {
    serve.first_line += line;
    std::string text(line);
    if (size_t at = text.find("serving on http://"); at != std::string::npos) {
      serve.port = std::atoi(text.c_str() + text.rfind(':') + 1);
      break;
    }
  }
  return serve;
}

// Exit status of a started serve after SIGTERM (or after it ended by itself).
inline int stop_serve(ServeProcess& serve) {
  if (serve.pid > 0) ::kill(serve.pid, SIGTERM);
  char drain[4096];
  while (fgets(drain, sizeof drain, serve.pipe) != nullptr) serve.first_line += drain;
  int raw = pclose(serve.pipe);
  serve.pipe = nullptr;
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

}  // namespace tp::test
