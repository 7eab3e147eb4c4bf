#pragma once
// The consumer's database operations under the one retry policy (clickhouse/retry.h), with the
// outage in progress and every failed attempt visible in the live stats (/metrics, the page).
#include <atomic>
#include <functional>
#include <string_view>

#include "clickhouse/retry.h"
#include "common/result.h"
#include "ingest/stats.h"

namespace tp::ingest {

class DatabaseRetrier {
 public:
  // `stop` ends a wait at once: the operation then fails with its last error.
  DatabaseRetrier(clickhouse::RetryPolicy policy, IngestStats& stats,
                  const std::atomic<bool>& stop)
      : policy_(policy), stats_(stats), stop_(stop) {}

  // Runs `attempt_once` until it succeeds, fails for good, the policy gives up or stop is set;
  // `what` names the operation in logs and errors. Safe from several threads at once.
  Status run(std::string_view what, const std::function<Status()>& attempt_once) const;

 private:
  const clickhouse::RetryPolicy policy_;
  IngestStats& stats_;
  const std::atomic<bool>& stop_;
};

}  // namespace tp::ingest
