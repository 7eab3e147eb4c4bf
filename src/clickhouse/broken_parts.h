#pragma once
// Parts the engine set aside because it could not read them. ClickHouse checks every part of a
// MergeTree table when it loads the table (at engine start): a part whose files do not match
// its checksums.txt (a truncated or missing column file, say) is moved to the table's
// detached/ directory as `broken-on-start_<part>`, and the table is served without its rows.
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "clickhouse/client.h"
#include "common/result.h"

namespace tp::clickhouse {

// One detached part whose rows are missing from its table.
struct BrokenPart {
  std::string table;
  std::string name;    // its directory under detached/ (broken-on-start_202611_1_1_0)
  std::string reason;  // system.detached_parts.reason, one of kBrokenPartReasons
};

// Detach reasons (ClickHouse's DetachedPartInfo::DETACH_REASONS) that mean lost rows: the
// part could not be read (broken, broken-on-start), is covered by such a part, or is not the
// table's (unexpected, noquorum: replicated tables). The others are transient (attaching,
// deleting, tmp-fetch, clone) or harmless (ignored: covered by a part that is there); an
// empty reason is a part an operator detached on purpose.
inline constexpr std::array<std::string_view, 5> kBrokenPartReasons = {
    "broken", "broken-on-start", "covered-by-broken", "unexpected", "noquorum"};

// The broken parts of the current database, by table and name. Reads the table directories'
// detached/ listings (no data): milliseconds whatever the size of the tables.
Result<std::vector<BrokenPart>> find_broken_parts(Client& client);

// "events: broken-on-start_202611_1_1_0, …" for messages and logs.
std::string describe_broken_parts(const std::vector<BrokenPart>& parts);

}  // namespace tp::clickhouse
