#include "ingest/database_retries.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/time.h"

namespace tp::ingest {

Status DatabaseRetrier::run(std::string_view what,
                            const std::function<Status()>& attempt_once) const {
  bool retrying = false;  // this operation is counted in stats_.database_retrying
  auto on_failure = [&](const clickhouse::RetryNotice& notice) {
    stats_.insert_failures.fetch_add(1, std::memory_order_relaxed);
    const int64_t now = now_ms();
    std::lock_guard lock(stats_.mutex);
    stats_.last_database_error = std::string(error_code_name(notice.error.code));
    stats_.last_database_clickhouse_code = notice.error.clickhouse_code;
    stats_.last_database_error_ms = now;
    if (!notice.will_retry) return;
    stats_.database_retries.fetch_add(1, std::memory_order_relaxed);
    if (!retrying) {
      retrying = true;
      if (stats_.database_retrying++ == 0) {
        stats_.database_failing_since_ms = now - notice.failing_for_ms;
      }
    }
    spdlog::warn("{} failed ({}), retry {} in {} ms (failing for {:.1f} s)", what,
                 notice.error.to_string(), notice.attempt, notice.wait_ms,
                 static_cast<double>(notice.failing_for_ms) / 1000.0);
  };
  Status status = clickhouse::retry(policy_, attempt_once, &stop_, on_failure);
  if (retrying) {
    std::lock_guard lock(stats_.mutex);
    if (--stats_.database_retrying == 0) stats_.database_failing_since_ms = 0;
  }
  if (!status.ok() && stop_.load() && clickhouse::is_transient(status.error())) {
    Error stopped = status.error();
    stopped.message = fmt::format("{}: stopped while waiting for the database (not committed; the "
                                  "next run reads it again): {}",
                                  what, stopped.message);
    return stopped;
  }
  return status;
}

}  // namespace tp::ingest
