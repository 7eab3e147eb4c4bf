// `tablepulse sql`: queries print their rows without a flag; other statements print nothing.
// (Engine*: the binary opens the embedded engine, which the sanitizer build cannot load.)
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test_support.h"

namespace tp {
namespace {

TEST(EngineSqlCommand, PrintsTheRowsOfQueriesAndRunsOtherStatementsQuietly) {
  test::TempDir dir;
  auto result = test::run_command(
      fmt::format("{} sql --db {}/db 'CREATE TABLE t (a UInt8) ENGINE = Memory' "
                  "'INSERT INTO t VALUES (1), (2)' 'SELECT sum(a) AS total FROM t' "
                  "'  -- a comment first\n  with 3 AS x SELECT x' 'select count() AS n from t'",
                  test::tablepulse_binary(), dir.str()));
  EXPECT_EQ(result.status, 0);
  EXPECT_EQ(result.out, "{\"total\":3}\n{\"x\":3}\n{\"n\":2}\n");
}

}  // namespace
}  // namespace tp
