// The match step's choice of event-time ranges for a batch (the SQL itself is checked against
// the reference in metrics_compare_test.cpp).
#include "ingest/matcher.h"

#include <gtest/gtest.h>

namespace tp::ingest {
namespace {

constexpr int64_t kMin = 60'000;

TEST(MatchRanges, NoInstantsNoRanges) { EXPECT_TRUE(cover_instants({}, 10 * kMin, 8).empty()); }

TEST(MatchRanges, CloseInstantsShareARangeInAnyOrder) {
  auto ranges = cover_instants({5 * kMin, 0, 9 * kMin, 3 * kMin}, 10 * kMin, 8);
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].first_ms, 0);
  EXPECT_EQ(ranges[0].last_ms, 9 * kMin);
}

TEST(MatchRanges, AVeryLateEventGetsItsOwnNarrowRange) {
  const int64_t day = 24 * 60 * kMin;
  auto ranges = cover_instants({day, day + kMin, day + 2 * kMin, 7}, 10 * kMin, 8);
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0].first_ms, 7);
  EXPECT_EQ(ranges[0].last_ms, 7);
  EXPECT_EQ(ranges[1].first_ms, day);
  EXPECT_EQ(ranges[1].last_ms, day + 2 * kMin);
}

TEST(MatchRanges, TooManyRangesMergeTheClosestFirst) {
  // Gaps: 100, 20, 50 minutes -> with 2 ranges allowed, the 20 and then the 50 go.
  std::vector<int64_t> instants = {0, 100 * kMin, 120 * kMin, 170 * kMin};
  auto three = cover_instants(instants, 10 * kMin, 3);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[1].first_ms, 100 * kMin);
  EXPECT_EQ(three[1].last_ms, 120 * kMin);
  auto two = cover_instants(instants, 10 * kMin, 2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].last_ms, 0);
  EXPECT_EQ(two[1].first_ms, 100 * kMin);
  EXPECT_EQ(two[1].last_ms, 170 * kMin);
  EXPECT_EQ(cover_instants(instants, 10 * kMin, 1).size(), 1u);
}

TEST(MatchRanges, SeveralBatchesRangesMergeIntoTheirUnion) {
  auto ranges =
      merge_ranges({{50 * kMin, 60 * kMin}, {0, 20 * kMin}, {15 * kMin, 30 * kMin}}, 10 * kMin, 8);
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0].first_ms, 0);
  EXPECT_EQ(ranges[0].last_ms, 30 * kMin);
  EXPECT_EQ(ranges[1].first_ms, 50 * kMin);
  // A range inside another one changes nothing.
  EXPECT_EQ(merge_ranges({{0, 30 * kMin}, {5 * kMin, 6 * kMin}}, 10 * kMin, 8).back().last_ms,
            30 * kMin);
}

}  // namespace
}  // namespace tp::ingest
