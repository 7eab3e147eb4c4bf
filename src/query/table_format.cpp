#include "query/table_format.h"

#include <fmt/format.h>

#include <vector>

namespace tp::query {
namespace {

// A name as a terminal shows it harmlessly: control characters (escape sequences could move
// the cursor, recolour or retitle the terminal) are written as \xNN.
std::string printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string cell(const nlohmann::ordered_json& value) {
  if (value.is_null()) return "—";
  if (value.is_string()) return printable(value.get<std::string>());
  if (value.is_number_float()) {
    std::string text = fmt::format("{:.4f}", value.get<double>());
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
    return text;
  }
  return value.dump();
}

// Display width of UTF-8 text: one column per code point (good enough for names and "—").
size_t width(const std::string& text) {
  size_t count = 0;
  for (unsigned char c : text) count += (c & 0xC0) != 0x80;
  return count;
}

}  // namespace

std::string format_table(const nlohmann::ordered_json& rows) {
  if (!rows.is_array() || rows.empty()) return "(no rows)\n";
  std::vector<std::string> keys, columns;  // the rows' keys, and their headings as shown
  for (const auto& [key, value] : rows.front().items()) {
    keys.push_back(key);
    columns.push_back(printable(key));
  }
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> widths;
  std::vector<bool> numeric(columns.size(), true);
  for (const auto& column : columns) widths.push_back(width(column));
  for (const auto& row : rows) {
    std::vector<std::string> line;
    for (size_t i = 0; i < columns.size(); ++i) {
      const auto& value = row.contains(keys[i]) ? row[keys[i]] : nlohmann::ordered_json();
      if (!value.is_number() && !value.is_null()) numeric[i] = false;
      line.push_back(cell(value));
      widths[i] = std::max(widths[i], width(line.back()));
    }
    cells.push_back(std::move(line));
  }
  std::string out;
  auto append_row = [&](const std::vector<std::string>& line) {
    for (size_t i = 0; i < line.size(); ++i) {
      std::string pad(widths[i] - width(line[i]), ' ');
      out += i ? "  " : "";
      out += numeric[i] ? pad + line[i] : line[i] + (i + 1 < line.size() ? pad : "");
    }
    out += "\n";
  };
  append_row(columns);
  std::vector<std::string> rule;
  for (size_t w : widths) rule.emplace_back(std::string(w, '-'));
  append_row(rule);
  for (const auto& line : cells) append_row(line);
  return out;
}

std::string format_duration(int64_t ms) {
  if (ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0) {
    return ms > 3'600'000 ? fmt::format("{}h{}m", ms / 3'600'000, ms / 60'000 % 60)
                          : fmt::format("{}m", ms / 60'000);
  }
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

}  // namespace tp::query
