#include "clickhouse/retry.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <random>
#include <thread>

#include "clickhouse/error_codes.h"

namespace tp::clickhouse {
namespace {

using Clock = std::chrono::steady_clock;

// How often a wait looks at the stop flag: stop() must end a run promptly, and a signal
// handler can only set a flag, not wake a condition variable.
constexpr std::chrono::milliseconds kStopPoll{50};

// A number in [0, 1) for the jitter; each thread its own generator.
double uniform01() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

// Waits `ms`, returning early (false) when `stop` is set.
bool wait_unless_stopped(int64_t ms, const std::atomic<bool>* stop) {
  auto until = Clock::now() + std::chrono::milliseconds(ms);
  while (true) {
    if (stop != nullptr && stop->load()) return false;
    auto now = Clock::now();
    if (now >= until) return true;
    std::this_thread::sleep_for(std::min<Clock::duration>(until - now, kStopPoll));
  }
}

}  // namespace

int64_t RetryPolicy::backoff_ms(int retry, double random) const {
  double wait = static_cast<double>(first_backoff_ms);
  for (int i = 0; i < retry && wait < static_cast<double>(max_backoff_ms); ++i) wait *= multiplier;
  wait = std::min(wait, static_cast<double>(max_backoff_ms));
  return static_cast<int64_t>(std::llround(wait * (1.0 - jitter * random)));
}

bool is_transient(const Error& error) {
  if (error.code == ErrorCode::kUnavailable || error.code == ErrorCode::kTimeout) return true;
  if (error.code != ErrorCode::kClickHouse) return false;
  using namespace error_codes;
  switch (error.clickhouse_code) {
    case TIMEOUT_EXCEEDED:               // the server's own time limit: it is busy
    case TOO_MANY_SIMULTANEOUS_QUERIES:  // max_concurrent_queries reached
    case NO_FREE_CONNECTION:             // a Distributed table's pool to a shard is full
    case SOCKET_TIMEOUT:                 // between the server and a shard or replica
    case NETWORK_ERROR:
    case ALL_CONNECTION_TRIES_FAILED:
    case NO_ZOOKEEPER:                   // Keeper away: replicated tables refuse inserts
    case KEEPER_EXCEPTION:
    case TABLE_IS_READ_ONLY:             // a replica until its Keeper session is back
    case TOO_FEW_LIVE_REPLICAS:          // a quorum insert while replicas restart
    case UNKNOWN_STATUS_OF_INSERT:       // our inserts are safe to repeat (token, lookup)
    case MEMORY_LIMIT_EXCEEDED:          // usually other queries' memory; see DESIGN §2
    case TOO_MANY_PARTS:                 // merges are behind: ClickHouse asks to slow down
      return true;
    default:
      return false;
  }
}

Status retry(const RetryPolicy& policy, const std::function<Status()>& attempt,
             const std::atomic<bool>* stop,
             const std::function<void(const RetryNotice&)>& notice) {
  std::optional<Clock::time_point> first_failure;
  for (int attempts = 1;; ++attempts) {
    Status status = attempt();
    if (status.ok()) return status;
    auto now = Clock::now();
    if (!first_failure) first_failure = now;
    int64_t failing_for_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - *first_failure).count();
    RetryNotice report{status.error()};
    report.attempt = attempts;
    report.failing_for_ms = failing_for_ms;
    report.wait_ms = policy.backoff_ms(attempts - 1, policy.jitter > 0 ? uniform01() : 0.0);
    bool out_of_time = policy.give_up_after_ms >= 0 &&
                       failing_for_ms + report.wait_ms > policy.give_up_after_ms;
    if (out_of_time && policy.give_up_after_ms > failing_for_ms) {
      // The last retry starts at the deadline rather than not at all.
      report.wait_ms = policy.give_up_after_ms - failing_for_ms;
      out_of_time = false;
    }
    report.will_retry = is_transient(status.error()) && !out_of_time &&
                        (policy.max_attempts == 0 || attempts < policy.max_attempts) &&
                        !(stop != nullptr && stop->load());
    if (notice) notice(report);
    if (!report.will_retry || !wait_unless_stopped(report.wait_ms, stop)) return status;
  }
}

}  // namespace tp::clickhouse
