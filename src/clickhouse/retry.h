#pragma once
// The one retry policy for ClickHouse operations (docs/DESIGN.md §2, "Who retries"). A client
// call is one attempt on every backend; the caller that owns a whole operation (the consumer,
// for a batch: lookup, insert, checkpoint) retries it through retry(), so no two loops nest.
#include <atomic>
#include <cstdint>
#include <functional>

#include "common/result.h"

namespace tp::clickhouse {

// How long and how often a failing operation is tried again. The defaults suit a consumer that
// should ride out any outage: waits of 0.2, 0.4, 0.8 … s up to 10 s, for as long as it lasts.
struct RetryPolicy {
  int64_t first_backoff_ms = 200;   // wait before the first retry
  double multiplier = 2.0;          // each wait is this many times the one before …
  int64_t max_backoff_ms = 10'000;  // … up to this cap: a database that is back is seen
                                    // within 10 s, and a down one gets six tries a minute
  double jitter = 0.2;              // each wait is shortened by up to this share, at random, so
                                    // consumers of one server do not all retry in step
  int max_attempts = 0;             // attempts in all, the first included; 0: no limit
  int64_t give_up_after_ms = -1;    // no retry starts later than this after the operation's
                                    // first failure; -1: never give up (0: never retry)

  // The wait before retry number `retry` (0 for the first), `random` in [0, 1) choosing how much
  // of the jitter is taken off.
  int64_t backoff_ms(int retry, double random) const;
};

// Failures worth trying again: ClickHouse unreachable, too slow, or momentarily overloaded
// (too many parts, queries or bytes of memory; a replica or Keeper away). Everything else —
// a refused statement, refused credentials, an unverifiable certificate — fails at once.
bool is_transient(const Error& error);

// What retry() reports after each failed attempt, for logs and metrics.
struct RetryNotice {
  const Error& error;
  int attempt = 1;          // the attempt that failed, from 1
  bool will_retry = false;  // false: retry() returns this failure
  int64_t wait_ms = 0;      // the wait before the next attempt (when will_retry)
  int64_t failing_for_ms = 0;  // since the operation's first failure
};

// Runs `attempt` until it succeeds, fails with a permanent error, the policy gives up, or
// `*stop` is set (checked between attempts and every 50 ms while waiting); returns the last
// status. `notice`, if given, is called after every failed attempt. The caller makes the
// attempt safe to repeat (an insert token, a fresh lookup).
Status retry(const RetryPolicy& policy, const std::function<Status()>& attempt,
             const std::atomic<bool>* stop = nullptr,
             const std::function<void(const RetryNotice&)>& notice = {});

}  // namespace tp::clickhouse
