// The consumer's in-memory dedup window: what it remembers, and that it forgets oldest first.
#include "ingest/recent_ids.h"

#include <gtest/gtest.h>

namespace tp::ingest {
namespace {

IdKey key(uint64_t n) { return {n, ~n}; }

TEST(RecentIds, ParsesBothHalvesOfAUuid) {
  IdKey parsed = id_key("0176dfb0-0d86-43aa-bd60-614ab51bc501");
  EXPECT_EQ(parsed.high, 0x0176dfb00d8643aaULL);
  EXPECT_EQ(parsed.low, 0xbd60614ab51bc501ULL);
}

TEST(RecentIds, RemembersTheFirstContentHashOfAnId) {
  RecentIds ids(10);
  EXPECT_FALSE(ids.find(key(1)));
  ids.insert(key(1), 111);
  ids.insert(key(1), 222);  // a repeat does not replace the first copy's hash
  ASSERT_TRUE(ids.find(key(1)));
  EXPECT_EQ(*ids.find(key(1)), 111u);
  EXPECT_EQ(ids.size(), 1u);
}

TEST(RecentIds, ForgetsTheOldestWhenFullAcrossManyWrapArounds) {
  constexpr uint64_t kCapacity = 1000;
  RecentIds ids(kCapacity);
  for (uint64_t n = 0; n < 10 * kCapacity + 7; ++n) {
    ids.insert(key(n), n);
    ASSERT_LE(ids.size(), kCapacity);
  }
  const uint64_t newest = 10 * kCapacity + 6;
  for (uint64_t n = 0; n <= newest; ++n) {
    bool remembered = n + kCapacity > newest;  // exactly the last kCapacity ids
    ASSERT_EQ(ids.find(key(n)).has_value(), remembered) << n;
    if (remembered) {
      EXPECT_EQ(*ids.find(key(n)), n);
    }
  }
}

TEST(RecentIds, ARepeatDoesNotTakeASlotInTheWindow) {
  RecentIds ids(3);
  ids.insert(key(1), 1);
  ids.insert(key(2), 2);
  ids.insert(key(1), 1);  // already known: the window still holds 1 and 2 only
  ids.insert(key(3), 3);
  EXPECT_TRUE(ids.find(key(1)));
  ids.insert(key(4), 4);  // full: 1 goes, as the oldest
  EXPECT_FALSE(ids.find(key(1)));
  EXPECT_TRUE(ids.find(key(2)));
  EXPECT_TRUE(ids.find(key(4)));
}

TEST(RecentIds, ZeroCapacityRemembersNothing) {
  RecentIds ids(0);
  ids.insert(key(1), 1);
  EXPECT_FALSE(ids.find(key(1)));
  EXPECT_EQ(ids.size(), 0u);
}

}  // namespace
}  // namespace tp::ingest
