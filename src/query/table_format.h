#pragma once
// Renders metric results for people: an aligned text table.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace tp::query {

// An aligned table of a JSON array of flat objects (nested objects are shown inline as JSON);
// numbers right-aligned, null as "—", "(no rows)" when empty.
std::string format_table(const nlohmann::ordered_json& rows);

// "5m", "1h", "1h30m", "90s".
std::string format_duration(int64_t ms);

}  // namespace tp::query
