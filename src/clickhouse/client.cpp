#include "clickhouse/client.h"

#include <fmt/format.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "clickhouse/error_codes.h"

namespace tp::clickhouse {

Error statement_error(std::string message, int clickhouse_code) {
  const bool corrupted = clickhouse_code == error_codes::CHECKSUM_DOESNT_MATCH ||
                         clickhouse_code == error_codes::CORRUPTED_DATA ||
                         clickhouse_code == error_codes::CANNOT_DECOMPRESS;
  return Error{corrupted ? ErrorCode::kDataCorrupted : ErrorCode::kClickHouse, std::move(message),
               clickhouse_code};
}

std::string quote_string(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('\'');
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\'':
        out += "\\'";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\0':
        out += "\\0";
        break;
      default:
        out.push_back(c);
    }
  }
  out.push_back('\'');
  return out;
}

std::string_view trim_statement(std::string_view sql) {
  while (!sql.empty() &&
         (sql.back() == ';' || std::isspace(static_cast<unsigned char>(sql.back())))) {
    sql.remove_suffix(1);
  }
  return sql;
}

std::string escape_parameter(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\0':
        out += "\\0";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string replace_all(std::string sql, std::string_view placeholder, std::string_view text) {
  for (size_t at = sql.find(placeholder); at != std::string::npos;
       at = sql.find(placeholder, at + text.size())) {
    sql.replace(at, placeholder.size(), text);
  }
  return sql;
}

Result<std::vector<std::string>> Client::query_json_rows_with_values(
    std::string_view sql, const QueryParams& params, std::string_view type,
    const std::vector<std::string_view>& values) {
  // Over HTTP the list travels as one String parameter holding a JSON array (a server parses
  // it on many cores, and a request has no file to point at). JSON, not an Array parameter:
  // an Array's text form does not survive the parameter escaping for every string.
  nlohmann::json array = nlohmann::json::array();
  for (std::string_view value : values) array.push_back(value);
  QueryParams with_values = params;
  with_values.emplace_back("values",
                           array.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return query_json_rows(
      replace_all(std::string(sql), "{{values}}",
                  fmt::format("(SELECT CAST(arrayJoin(JSONExtract({{values:String}}, "
                              "'Array(String)')) AS {}) AS value)",
                              type)),
      with_values);
}

}  // namespace tp::clickhouse
