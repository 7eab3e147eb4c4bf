// Defects a reliability probe found (issue "Hardening the consumer and the server"), each
// pinned by the case that showed it.
#include <sys/stat.h>

#include <httplib.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "query/table_format.h"
#include "test_support.h"

namespace tp {
namespace {

using nlohmann::json;

// Restaurant and item names come from producers: printed raw, an escape sequence in one
// could rewrite the operator's terminal.
TEST(TableFormat, ControlCharactersAreEscaped) {
  auto rows = nlohmann::ordered_json::parse(
      R"([{"restaurant_name":"Evil\u001b]0;pwned\u0007\u001b[2J","n":1}])");
  std::string table = query::format_table(rows);
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  EXPECT_EQ(table.find('\x07'), std::string::npos) << table;
  EXPECT_NE(table.find("Evil\\x1b]0;pwned\\x07\\x1b[2J"), std::string::npos) << table;
  EXPECT_NE(query::format_table(nlohmann::ordered_json::parse(R"([{"name":"Café ☕"}])"))
                .find("Café ☕"),
            std::string::npos);
}

// An empty token used to switch authentication off without a word.
TEST(CliFlags, EmptyTokenIsRefused) {
  test::TempDir dir;
  for (const std::string& how : {std::string("--token ''"), std::string("")}) {
    auto run = test::run_command(fmt::format(
        "{} timeout 30 {} serve --db {} --listen 127.0.0.1:0 {} 2>&1",
        how.empty() ? "TABLEPULSE_TOKEN=" : "", test::tablepulse_binary(), dir.str(), how));
    EXPECT_EQ(run.status, 2) << how << "\n" << run.out;  // invalid_argument, before serving
    EXPECT_NE(run.out.find("invalid_argument"), std::string::npos) << run.out;
  }
}

// A dedup window smaller than a batch lets two copies of one id into one insert block.
TEST(CliFlags, DedupMemoryBelowBatchRowsIsRefused) {
  test::TempDir dir;
  auto run = test::run_command(fmt::format(
      "{} ingest --db {} --dedup-memory 10 --batch-rows 100 -q /dev/null 2>&1",
      test::tablepulse_binary(), dir.str()));
  EXPECT_EQ(run.status, 2) << run.out;
  EXPECT_NE(run.out.find("--dedup-memory"), std::string::npos) << run.out;
}

// A named pipe cannot be resumed by byte offset: each run reads what the pipe delivers, with
// line numbers from 1 (a second run once "resumed" after the first run's checkpoint, shifting
// the dead-letter line numbers and counting lines it never skipped).
TEST(EngineFifo, NamedPipeIsNeverResumedFromACheckpoint) {
  test::TempDir dir;
  const std::string fifo = dir.str() + "/pipe";
  const std::string dlq = dir.str() + "/dlq.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (int run = 0; run < 2; ++run) {
    std::thread writer([&] {
      std::ofstream out(fifo);
      for (int i = 0; i < 3; ++i) {
        out << fmt::format(
            R"({{"event_id":"00000000-0000-4000-8000-0000000000{}{}","event_type":"table_seated","timestamp":"2026-11-24T18:0{}:00Z",)"
            R"("restaurant_id":"r-1","restaurant_name":"One","table_id":"T1","party_size":2,"server_id":"s"}})",
            run, i, i)
            << "\n";
        if (i == 0) out << "{broken\n";  // line 2
      }
    });
    auto result = test::run_command(fmt::format("{} ingest -q --db {} --dlq {} {}",
                                                test::tablepulse_binary(), dir.str() + "/db", dlq,
                                                fifo));
    writer.join();
    ASSERT_EQ(result.status, 0) << result.out;
    json summary = json::parse(result.out.substr(result.out.rfind("\n{") + 1));
    EXPECT_EQ(summary["inserted"], 3) << summary.dump();
    EXPECT_EQ(summary["rejected"], 1) << summary.dump();
    EXPECT_EQ(summary["resumed_from_checkpoint"], 0) << summary.dump();
  }
  std::ifstream in(dlq);
  int letters = 0;
  for (std::string line; std::getline(in, line); ++letters) {
    EXPECT_EQ(json::parse(line)["line_number"], 2) << line;
  }
  EXPECT_EQ(letters, 2);
}

// An exception inside a worker (the reading thread, the committer, the matcher) used to end
// the process; now it ends the run with an error the caller sees (faults injected: no input
// reaches these paths).
TEST(EngineWorkers, AnExceptionInsideAWorkerEndsTheRunWithAnError) {
  test::TempDir dir;
  const std::string input = dir.str() + "/events.jsonl";
  auto made = test::run_command(fmt::format("{} generate --events 2000 --seed 3 -o {} 2>&1",
                                            test::tablepulse_binary(), input));
  ASSERT_EQ(made.status, 0) << made.out;
  for (const char* fault : {"reader", "committer", "matcher"}) {
    auto run = test::run_command(fmt::format("TABLEPULSE_FAULTS={} {} ingest -q --db {} {} 2>&1",
                                             fault, test::tablepulse_binary(),
                                             dir.str() + "/db-" + fault, input));
    EXPECT_EQ(run.status, 70) << fault << "\n" << run.out;  // internal, not a crash
    EXPECT_NE(run.out.find(fmt::format("injected fault {}", fault)), std::string::npos) << run.out;
  }
}

// serve keeps answering when its consumer dies, and says so on /healthz instead of serving
// stale numbers as healthy.
TEST(EngineWorkers, ServeReportsAStoppedConsumerOnHealthz) {
  test::TempDir dir;
  const std::string input = dir.str() + "/events.jsonl";
  ASSERT_EQ(test::run_command(fmt::format("{} generate --events 500 --seed 3 -o {} 2>&1",
                                          test::tablepulse_binary(), input))
                .status,
            0);
  FILE* serve = popen(fmt::format("sh -c 'echo $$; TABLEPULSE_FAULTS=committer exec {} serve "
                                  "--db {} --listen 127.0.0.1:0 --source {} 2>/dev/null'",
                                  test::tablepulse_binary(), dir.str() + "/db", input)
                          .c_str(),
                      "r");
  ASSERT_NE(serve, nullptr);
  char line[512];
  ASSERT_NE(fgets(line, sizeof line, serve), nullptr);
  const int pid = std::atoi(line);
  ASSERT_NE(fgets(line, sizeof line, serve), nullptr);  // "TablePulse serving on http://…/"
  std::string url(line);
  const size_t port_at = url.rfind(':');
  const int port = std::atoi(url.c_str() + port_at + 1);
  httplib::Client client("127.0.0.1", port);
  json health;
  int status = 0;
  for (int attempt = 0; attempt < 100 && status != 503; ++attempt) {
    auto res = client.Get("/healthz");
    if (res) {
      status = res->status;
      health = json::parse(res->body, nullptr, false);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 503) << health.dump();
  EXPECT_EQ(health.value("status", ""), "consumer_stopped") << health.dump();
  auto page_data = client.Get("/api/v1/data-quality");
  EXPECT_TRUE(page_data && page_data->status == 200);  // the API still answers
  ::kill(pid, SIGTERM);
  EXPECT_EQ(WEXITSTATUS(pclose(serve)), 0);
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

// Starts `tablepulse serve ARGS` (stderr to the test log) and waits for its first line.
ServeProcess start_serve(const std::string& args) {
  ServeProcess serve;
  serve.pipe = popen(fmt::format("sh -c 'echo $$; exec {} serve --listen 127.0.0.1:0 {} 2>&1'",
                                 test::tablepulse_binary(), args)
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
int stop_serve(ServeProcess& serve) {
  if (serve.pid > 0) ::kill(serve.pid, SIGTERM);
  char drain[4096];
  while (fgets(drain, sizeof drain, serve.pipe) != nullptr) serve.first_line += drain;
  int raw = pclose(serve.pipe);
  serve.pipe = nullptr;
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

// A truncated column file of an events part made the engine set the part aside on start
// ("broken-on-start") and serve answered as if nothing happened: /healthz ok, the rows gone.
// Every command that works on the data now refuses such a directory unless
// --allow-broken-parts, and serve then reports the parts on /healthz, /metrics and the page.
// A database of 3000 generated events in `db` (three inserts of 1000), and the largest column
// file of its first events part; `part_name` is that part's name.
std::filesystem::path events_column_file(const test::TempDir& dir, const std::string& db,
                                         std::string& part_name) {
  const std::string input = dir.str() + "/events.jsonl";
  EXPECT_EQ(test::run_command(fmt::format("{} generate --events 3000 --seed 5 -o {} 2>&1",
                                          test::tablepulse_binary(), input))
                .status,
            0);
  auto ingested = test::run_command(fmt::format("{} ingest -q --batch-rows 1000 --db {} {} 2>&1",
                                                test::tablepulse_binary(), db, input));
  EXPECT_EQ(ingested.status, 0) << ingested.out;
  auto parts = test::run_command(fmt::format(
      "{} sql --db {} \"SELECT name, path FROM system.parts WHERE database = currentDatabase() "
      "AND table = 'events' AND active ORDER BY name\" 2>/dev/null",
      test::tablepulse_binary(), db));
  EXPECT_EQ(parts.status, 0) << parts.out;
  json part = json::parse(parts.out.substr(0, parts.out.find('\n')), nullptr, false);
  if (!part.is_object()) {
    ADD_FAILURE() << "no events part: " << parts.out;
    return {};
  }
  part_name = part["name"];
  std::filesystem::path column_file;
  for (const auto& entry : std::filesystem::directory_iterator(part["path"].get<std::string>())) {
    if (entry.path().extension() == ".bin" &&
        (column_file.empty() || entry.file_size() > std::filesystem::file_size(column_file))) {
      column_file = entry.path();
    }
  }
  EXPECT_FALSE(column_file.empty()) << part.dump();
  return column_file;
}

TEST(EngineBrokenParts, TruncatedEventsPartIsRefusedOrReported) {
  test::TempDir dir;
  const std::string input = dir.str() + "/events.jsonl";
  const std::string db = dir.str() + "/db";
  std::string part_name;
  const std::filesystem::path column_file = events_column_file(dir, db, part_name);
  ASSERT_FALSE(column_file.empty());
  std::filesystem::resize_file(column_file, std::filesystem::file_size(column_file) / 2);

  const int corrupted_exit = error_exit_status(ErrorCode::kDataCorrupted);
  for (const std::string& command :
       {fmt::format("serve --db {} --listen 127.0.0.1:0", db),
        fmt::format("ingest -q --db {} /dev/null", db),
        fmt::format("query revenue --db {} --format json", db)}) {
    auto refused = test::run_command(
        fmt::format("timeout 60 {} {} 2>&1", test::tablepulse_binary(), command));
    EXPECT_EQ(refused.status, corrupted_exit) << command << "\n" << refused.out;
    EXPECT_NE(refused.out.find("data_corrupted"), std::string::npos) << refused.out;
    EXPECT_NE(refused.out.find(part_name), std::string::npos) << refused.out;
  }

  auto allowed = test::run_command(fmt::format("{} ingest -q --allow-broken-parts --db {} {} 2>&1",
                                               test::tablepulse_binary(), db, input));
  EXPECT_EQ(allowed.status, 0) << allowed.out;

  ServeProcess serve = start_serve(fmt::format("--db {} --allow-broken-parts", db));
  ASSERT_GT(serve.port, 0) << serve.first_line;
  httplib::Client client("127.0.0.1", serve.port);
  client.set_read_timeout(30, 0);
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);  // still routed to: the data that is left is served
  json body = json::parse(health->body, nullptr, false);
  EXPECT_EQ(body.value("status", ""), "degraded") << health->body;
  ASSERT_TRUE(body.contains("broken_parts") && body["broken_parts"].is_array()) << health->body;
  ASSERT_EQ(body["broken_parts"].size(), 1u) << health->body;
  EXPECT_EQ(body["broken_parts"][0].value("table", ""), "events") << health->body;
  EXPECT_NE(body["broken_parts"][0].value("name", "").find(part_name), std::string::npos)
      << health->body;
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("\ntablepulse_broken_parts 1\n"), std::string::npos)
      << metrics->body;
  std::string stream;
  client.Get("/api/v1/stream", [&](const char* data, size_t length) {
    stream.append(data, length);
    return stream.find("event: snapshot") == std::string::npos ||
           stream.find("\n\n", stream.find("event: snapshot")) == std::string::npos;
  });
  size_t data_at = stream.find("data: ", stream.find("event: snapshot"));
  ASSERT_NE(data_at, std::string::npos) << stream;
  json snapshot = json::parse(stream.substr(data_at + 6, stream.find("\n\n", data_at) - data_at - 6),
                              nullptr, false);
  ASSERT_TRUE(snapshot.is_object()) << stream;
  EXPECT_EQ(snapshot["broken_parts"].size(), 1u) << snapshot.dump();
  EXPECT_EQ(stop_serve(serve), 0) << serve.first_line;
}


// Bytes changed in place (file sizes intact) pass the engine's check on opening the directory;
// the queries that read the part fail. They fail as data_corrupted (not a generic ClickHouse
// error), and serve's /healthz says degraded from then on instead of ok.
TEST(EngineBrokenParts, PartChangedInPlaceFailsItsQueriesAsDataCorrupted) {
  test::TempDir dir;
  const std::string db = dir.str() + "/db";
  std::string part_name;
  const std::filesystem::path column_file = events_column_file(dir, db, part_name);
  ASSERT_FALSE(column_file.empty());
  {
    std::fstream file(column_file, std::ios::in | std::ios::out | std::ios::binary);
    const auto size = static_cast<std::streamoff>(std::filesystem::file_size(column_file));
    for (std::streamoff at = 0; at < size; at += 16) {  // every compressed block is hit
      file.seekg(at);
      char byte = static_cast<char>(file.get());
      file.seekp(at);
      file.put(static_cast<char>(byte ^ 0x5a));
    }
  }
  const std::string as_of = "2026-11-25T00:00:00Z";  // the generated day, 24 h back
  auto queried = test::run_command(
      fmt::format("timeout 60 {} query funnel --db {} --as-of {} --window 24h --format json 2>&1",
                  test::tablepulse_binary(), db, as_of));
  EXPECT_EQ(queried.status, error_exit_status(ErrorCode::kDataCorrupted)) << queried.out;
  EXPECT_NE(queried.out.find("data_corrupted"), std::string::npos) << queried.out;

  ServeProcess serve = start_serve(fmt::format("--db {}", db));
  ASSERT_GT(serve.port, 0) << serve.first_line;
  httplib::Client client("127.0.0.1", serve.port);
  client.set_read_timeout(30, 0);
  auto before = client.Get("/healthz");
  ASSERT_TRUE(before);
  EXPECT_EQ(json::parse(before->body, nullptr, false).value("status", ""), "ok") << before->body;
  auto funnel = client.Get(fmt::format("/api/v1/funnel?as_of={}&window=24h", as_of));
  ASSERT_TRUE(funnel);
  EXPECT_EQ(funnel->status, 503) << funnel->body;
  json error = json::parse(funnel->body, nullptr, false);
  EXPECT_EQ(error["error"].value("code", ""), "data_corrupted") << funnel->body;
  auto after = client.Get("/healthz");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
  json health = json::parse(after->body, nullptr, false);
  EXPECT_EQ(health.value("status", ""), "degraded") << after->body;
  EXPECT_EQ(health["error"].value("code", ""), "data_corrupted") << after->body;
  EXPECT_EQ(stop_serve(serve), 0) << serve.first_line;
}

}  // namespace
}  // namespace tp
