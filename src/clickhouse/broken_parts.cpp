#include "clickhouse/broken_parts.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace tp::clickhouse {

Result<std::vector<BrokenPart>> find_broken_parts(Client& client) {
  std::string reasons;
  for (std::string_view reason : kBrokenPartReasons) {
    reasons += fmt::format("{}{}", reasons.empty() ? "" : ", ", quote_string(reason));
  }
  auto rows = client.query_json_rows(fmt::format(
      "SELECT table, name, reason FROM system.detached_parts "
      "WHERE database = currentDatabase() AND reason IN ({}) ORDER BY table, name",
      reasons));
  if (!rows.ok()) return rows.error();
  std::vector<BrokenPart> parts;
  for (const auto& row : rows.value()) {
    auto json = nlohmann::json::parse(row, nullptr, false);
    if (!json.is_object()) {
      return make_error(ErrorCode::kProtocol, "system.detached_parts row is not JSON: {}", row);
    }
    parts.push_back({json.value("table", ""), json.value("name", ""), json.value("reason", "")});
  }
  return parts;
}

std::string describe_broken_parts(const std::vector<BrokenPart>& parts) {
  std::string out;
  std::string_view table;
  for (const auto& part : parts) {
    if (part.table != table) {
      out += fmt::format("{}{}: ", out.empty() ? "" : "; ", part.table);
      table = part.table;
    } else {
      out += ", ";
    }
    out += part.name;
  }
  return out;
}

}  // namespace tp::clickhouse
