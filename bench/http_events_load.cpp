// Loopback load generator for POST /api/v1/events (bench/http_events.sh runs it): CLIENTS
// connections post batches of BATCH lines of FILE (from line SKIP on, each line once) until
// REQUESTS requests are done, while one more connection asks the dashboard's metric endpoints
// in a loop. Prints one JSON line: events/s, the reply time percentiles of the posts, and of the
// dashboard's answers meanwhile. Bounded in count and time (stops after 120 s whatever happens).
#include <fmt/core.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

double ms_since(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 9) {
    fmt::print(stderr, "usage: {} PORT WRITE_TOKEN READ_TOKEN FILE SKIP BATCH REQUESTS CLIENTS\n",
               argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const std::string write_token = argv[2], read_token = argv[3];
  const size_t skip = std::strtoull(argv[5], nullptr, 10);
  const size_t batch = std::strtoull(argv[6], nullptr, 10);
  const size_t requests = std::strtoull(argv[7], nullptr, 10);
  const int clients = std::atoi(argv[8]);

  std::vector<std::string> lines;
  {
    std::ifstream in(argv[4]);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  if (lines.size() < skip + batch * requests) {
    fmt::print(stderr, "{} holds {} lines, {} needed\n", argv[4], lines.size(),
               skip + batch * requests);
    return 2;
  }
  std::vector<std::string> bodies(requests);
  for (size_t r = 0; r < requests; ++r) {
    for (size_t i = 0; i < batch; ++i) bodies[r] += lines[skip + r * batch + i] + "\n";
  }

  const auto deadline = Clock::now() + std::chrono::seconds(120);
  std::atomic<size_t> next{0};
  std::atomic<bool> posting{true};
  std::atomic<size_t> failed{0}, accepted{0};
  std::mutex mutex;
  std::vector<double> post_ms, dashboard_ms;

  std::thread dashboard([&] {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(30, 0);
    const httplib::Headers auth = {{"Authorization", "Bearer " + read_token}};
    const char* paths[] = {"/api/v1/revenue",    "/api/v1/funnel",   "/api/v1/top-items",
                           "/api/v1/wait-times", "/api/v1/turnover", "/api/v1/data-quality"};
    for (size_t i = 0; posting && Clock::now() < deadline; ++i) {
      auto started = Clock::now();
      auto res = client.Get(paths[i % 6], auth);
      double ms = ms_since(started);
      if (res && res->status == 200) {
        std::lock_guard lock(mutex);
        dashboard_ms.push_back(ms);
      }
    }
  });

  auto started = Clock::now();
  std::vector<std::thread> posters;
  for (int c = 0; c < clients; ++c) {
    posters.emplace_back([&] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(60, 0);
      const httplib::Headers auth = {{"Authorization", "Bearer " + write_token}};
      std::vector<double> mine;
      for (size_t r; (r = next++) < requests && Clock::now() < deadline;) {
        auto sent = Clock::now();
        auto res = client.Post("/api/v1/events", auth, bodies[r], "application/x-ndjson");
        mine.push_back(ms_since(sent));
        if (!res || res->status != 200) {
          ++failed;
          continue;
        }
        accepted += nlohmann::json::parse(res->body)["accepted"].get<size_t>();
      }
      std::lock_guard lock(mutex);
      post_ms.insert(post_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& thread : posters) thread.join();
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  posting = false;
  dashboard.join();

  nlohmann::ordered_json out = {{"batch", batch},
                                {"clients", clients},
                                {"requests", post_ms.size()},
                                {"failed", failed.load()},
                                {"accepted", accepted.load()},
                                {"seconds", seconds},
                                {"events_per_s", static_cast<double>(accepted.load()) / seconds},
                                {"post_p50_ms", percentile(post_ms, 0.50)},
                                {"post_p99_ms", percentile(post_ms, 0.99)},
                                {"dashboard_queries", dashboard_ms.size()},
                                {"dashboard_p50_ms", percentile(dashboard_ms, 0.50)},
                                {"dashboard_p99_ms", percentile(dashboard_ms, 0.99)}};
  fmt::print("{}\n", out.dump());
  return failed.load() == 0 ? 0 : 1;
}
