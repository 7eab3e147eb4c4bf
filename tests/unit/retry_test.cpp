// The one retry policy (src/clickhouse/retry.h): its backoff sequence, which failures it
// retries (by ClickHouse's codes), its limits and stop; and how /metrics shows an outage.
#include "clickhouse/retry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "clickhouse/error_codes.h"
#include "server/prometheus.h"

namespace tp {
namespace {

using clickhouse::RetryPolicy;
namespace codes = clickhouse::error_codes;

// A ClickHouse refusal with `code`.
Error clickhouse_error(int code) { return Error{ErrorCode::kClickHouse, "refused", code}; }

// A policy with the given waits and limits (the defaults otherwise).
RetryPolicy policy_of(int64_t first_ms, int64_t cap_ms, double jitter, int max_attempts = 0,
                      int64_t give_up_after_ms = -1) {
  RetryPolicy policy;
  policy.first_backoff_ms = first_ms;
  policy.max_backoff_ms = cap_ms;
  policy.jitter = jitter;
  policy.max_attempts = max_attempts;
  policy.give_up_after_ms = give_up_after_ms;
  return policy;
}

// Milliseconds since `start`.
int64_t ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

TEST(RetryPolicy, BackoffDoublesFromTheFirstWaitUpToTheCap) {
  RetryPolicy policy;  // the defaults: 200 ms, x2, capped at 10 s
  std::vector<int64_t> waits;
  for (int retry = 0; retry < 9; ++retry) waits.push_back(policy.backoff_ms(retry, 0.0));
  EXPECT_EQ(waits,
            (std::vector<int64_t>{200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000}));
  EXPECT_EQ(policy.backoff_ms(1000, 0.0), 10000);  // no overflow far out
  RetryPolicy slow = policy_of(1000, 5000, 0);
  slow.multiplier = 3;
  EXPECT_EQ(slow.backoff_ms(0, 0.0), 1000);
  EXPECT_EQ(slow.backoff_ms(1, 0.0), 3000);
  EXPECT_EQ(slow.backoff_ms(2, 0.0), 5000);
}

TEST(RetryPolicy, JitterShortensAWaitByAtMostItsShare) {
  RetryPolicy policy;  // jitter 0.2
  EXPECT_EQ(policy.backoff_ms(0, 0.0), 200);
  EXPECT_EQ(policy.backoff_ms(0, 0.5), 180);
  EXPECT_EQ(policy.backoff_ms(10, 0.999), 8002);  // never above the cap, never below 80 % of it
  policy.jitter = 0;
  EXPECT_EQ(policy.backoff_ms(10, 0.999), 10000);
}

TEST(RetryPolicy, TransientFailuresByCode) {
  EXPECT_TRUE(clickhouse::is_transient({ErrorCode::kUnavailable, "connection refused", 0}));
  EXPECT_TRUE(clickhouse::is_transient({ErrorCode::kTimeout, "no answer in time", 0}));
  for (int code : {codes::TOO_MANY_PARTS, codes::TOO_MANY_SIMULTANEOUS_QUERIES,
                   codes::MEMORY_LIMIT_EXCEEDED, codes::TIMEOUT_EXCEEDED, codes::NETWORK_ERROR,
                   codes::SOCKET_TIMEOUT, codes::NO_FREE_CONNECTION,
                   codes::ALL_CONNECTION_TRIES_FAILED, codes::NO_ZOOKEEPER,
                   codes::KEEPER_EXCEPTION, codes::TABLE_IS_READ_ONLY,
                   codes::TOO_FEW_LIVE_REPLICAS, codes::UNKNOWN_STATUS_OF_INSERT}) {
    EXPECT_TRUE(clickhouse::is_transient(clickhouse_error(code))) << code;
  }
  for (int code : {0, codes::UNKNOWN_TABLE, codes::SYNTAX_ERROR, codes::UNKNOWN_DATABASE,
                   codes::UNKNOWN_SETTING, codes::AUTHENTICATION_FAILED, codes::WRONG_PASSWORD,
                   codes::FUNCTION_THROW_IF_VALUE_IS_NON_ZERO}) {
    EXPECT_FALSE(clickhouse::is_transient(clickhouse_error(code))) << code;
  }
  for (ErrorCode code : {ErrorCode::kAuth, ErrorCode::kInvalidArgument, ErrorCode::kProtocol,
                         ErrorCode::kIo, ErrorCode::kInternal}) {
    // A transient-looking ClickHouse code on another kind of error does not make it transient.
    EXPECT_FALSE(clickhouse::is_transient({code, "x", codes::TOO_MANY_PARTS}))
        << error_code_name(code);
  }
}

TEST(Retry, TriesExactlyAsOftenAsThePolicySays) {
  RetryPolicy policy = policy_of(1, 4, 0, /*max_attempts=*/4);
  int calls = 0;
  std::vector<bool> will_retry;
  std::vector<int64_t> waits;
  Status status = clickhouse::retry(
      policy,
      [&] {
        ++calls;
        return Status(make_error(ErrorCode::kUnavailable, "away"));
      },
      nullptr,
      [&](const clickhouse::RetryNotice& notice) {
        EXPECT_EQ(notice.attempt, calls);
        will_retry.push_back(notice.will_retry);
        if (notice.will_retry) waits.push_back(notice.wait_ms);
      });
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(will_retry, (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(waits, (std::vector<int64_t>{1, 2, 4}));
}

TEST(Retry, SucceedsOnceTheDatabaseIsBack) {
  RetryPolicy policy = policy_of(1, 2, 0.2);  // no attempt limit, no deadline
  int calls = 0;
  Status status = clickhouse::retry(policy, [&] {
    return ++calls < 5 ? Status(clickhouse_error(codes::TOO_MANY_PARTS)) : Status();
  });
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(calls, 5);
}

TEST(Retry, PermanentFailuresAreNotRetried) {
  RetryPolicy policy = policy_of(1, 1, 0);
  int calls = 0;
  Status status = clickhouse::retry(policy, [&] {
    ++calls;
    return Status(clickhouse_error(codes::UNKNOWN_TABLE));
  });
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().clickhouse_code, codes::UNKNOWN_TABLE);
  EXPECT_EQ(calls, 1);
}

TEST(Retry, GivesUpAtTheDeadlineWithALastAttemptThere) {
  RetryPolicy policy = policy_of(40, 40, 0, 0, /*give_up_after_ms=*/100);
  int calls = 0;
  auto started = std::chrono::steady_clock::now();
  Status status = clickhouse::retry(policy, [&] {
    ++calls;
    return Status(make_error(ErrorCode::kTimeout, "slow"));
  });
  int64_t elapsed = ms_since(started);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(calls, 4);  // at 0, 40, 80 and (the wait cut to the deadline) 100 ms
  EXPECT_GE(elapsed, 100);
  EXPECT_LT(elapsed, 1000);

  policy.give_up_after_ms = 0;  // --retry-for 0: fail at the first failure
  calls = 0;
  EXPECT_FALSE(clickhouse::retry(policy, [&] {
                 ++calls;
                 return Status(make_error(ErrorCode::kUnavailable, "away"));
               }).ok());
  EXPECT_EQ(calls, 1);
}

TEST(Retry, StopEndsTheWaitPromptly) {
  RetryPolicy policy = policy_of(10'000, 10'000, 0);
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  int calls = 0;
  auto started = std::chrono::steady_clock::now();
  Status status = clickhouse::retry(
      policy,
      [&] {
        ++calls;
        return Status(make_error(ErrorCode::kUnavailable, "away"));
      },
      &stop);
  int64_t elapsed = ms_since(started);
  stopper.join();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(calls, 1);  // no attempt after the stop
  EXPECT_LT(elapsed, 1000);
}

TEST(ServerPrometheus, ShowsTheDatabaseOutageAndTheLastError) {
  ingest::IngestStats stats;
  server::QueryLatencies latencies;
  std::string calm = server::render_prometheus(stats, latencies, 0, 0);
  EXPECT_NE(calm.find("\ntablepulse_database_retries_total 0\n"), std::string::npos) << calm;
  EXPECT_NE(calm.find("\ntablepulse_database_retrying 0\n"), std::string::npos) << calm;
  EXPECT_NE(calm.find("\ntablepulse_database_unavailable_since_timestamp_seconds 0\n"),
            std::string::npos);
  EXPECT_EQ(calm.find("\ntablepulse_database_last_error_timestamp_seconds{"), std::string::npos);

  stats.database_retries = 7;
  stats.database_retrying = 2;
  stats.database_failing_since_ms = 1764630000500;
  stats.last_database_error = "clickhouse_error";
  stats.last_database_clickhouse_code = codes::TOO_MANY_PARTS;
  stats.last_database_error_ms = 1764630009000;
  std::string outage = server::render_prometheus(stats, latencies, 0, 0);
  EXPECT_NE(outage.find("\ntablepulse_database_retries_total 7\n"), std::string::npos) << outage;
  EXPECT_NE(outage.find("\ntablepulse_database_retrying 2\n"), std::string::npos);
  EXPECT_NE(outage.find("\ntablepulse_database_unavailable_since_timestamp_seconds 1764630000.5\n"),
            std::string::npos)
      << outage;
  EXPECT_NE(outage.find("\ntablepulse_database_last_error_timestamp_seconds{code=\"clickhouse_"
                        "error\",clickhouse_code=\"252\"} 1764630009\n"),
            std::string::npos)
      << outage;
}

}  // namespace
}  // namespace tp
