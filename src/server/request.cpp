#include "server/request.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/time.h"

namespace tp::server {
namespace {

constexpr int kMaxLimit = 1000;
constexpr size_t kMaxRestaurantIdBytes = 64;
constexpr int64_t kMaxWindowMs = 3660LL * 24 * 3600 * 1000;  // ten years: beyond any TTL

const std::string* find(const Params& params, const std::string& name) {
  auto it = params.find(name);
  return it == params.end() ? nullptr : &it->second;
}

// Text for an error message: bounded and printable, whatever the client sent.
std::string shown(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 80)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  if (text.size() > 80) out += "…";
  return out;
}

}  // namespace

const std::vector<MetricEndpoint>& metric_endpoints() {
  static const std::vector<MetricEndpoint> kEndpoints = {
      {"revenue", query::Metric::kRevenue},    {"funnel", query::Metric::kFunnel},
      {"top-items", query::Metric::kTopItems}, {"wait-times", query::Metric::kWaitTimes},
      {"turnover", query::Metric::kTurnover},  {"data-quality", query::Metric::kDataQuality},
  };
  return kEndpoints;
}

std::optional<MetricEndpoint> find_metric_endpoint(std::string_view name) {
  for (const auto& endpoint : metric_endpoints()) {
    if (endpoint.name == name) return endpoint;
  }
  return std::nullopt;
}

Result<int64_t> parse_as_of(const Params& params, int64_t now_ms) {
  const std::string* text = find(params, "as_of");
  if (text == nullptr || text->empty()) return now_ms;
  // An unencoded "+02:00" arrives as " 02:00" (form decoding turns '+' into a space).
  std::string fixed = *text;
  std::replace(fixed.begin(), fixed.end(), ' ', '+');
  auto parsed = parse_rfc3339_ms(fixed);
  if (!parsed) {
    return make_error(ErrorCode::kInvalidArgument,
                      "as_of '{}' is not an RFC 3339 timestamp with a zone "
                      "(e.g. 2026-11-24T18:05:00Z)",
                      shown(*text));
  }
  return *parsed;
}

Result<std::optional<std::string>> parse_restaurant_id(const Params& params) {
  const std::string* text = find(params, "restaurant_id");
  if (text == nullptr || text->empty()) return std::optional<std::string>();
  if (text->size() > kMaxRestaurantIdBytes) {
    return make_error(ErrorCode::kInvalidArgument, "restaurant_id is longer than {} bytes",
                      kMaxRestaurantIdBytes);
  }
  return std::optional<std::string>(*text);
}

Result<query::MetricRequest> parse_metric_params(query::Metric metric, const Params& params,
                                                 int64_t now_ms) {
  query::MetricRequest request;
  request.metric = metric;
  auto as_of = parse_as_of(params, now_ms);
  if (!as_of.ok()) return as_of.error();
  request.as_of_ms = as_of.value();

  if (const std::string* text = find(params, "window"); text != nullptr && !text->empty()) {
    auto window = parse_duration_ms(*text);
    if (!window || *window <= 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "window '{}' is not a duration such as 5m, 1h, 90s or 1h30m", shown(*text));
    }
    if (*window > kMaxWindowMs) {
      return make_error(ErrorCode::kInvalidArgument, "window '{}' is longer than ten years",
                        shown(*text));
    }
    request.window_ms = *window;
  }

  if (const std::string* text = find(params, "limit"); text != nullptr && !text->empty()) {
    int limit = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (ec != std::errc() || end != text->data() + text->size() || limit < 1 || limit > kMaxLimit) {
      return make_error(ErrorCode::kInvalidArgument, "limit '{}' is not an integer from 1 to {}",
                        shown(*text), kMaxLimit);
    }
    request.limit = limit;
  }

  auto restaurant = parse_restaurant_id(params);
  if (!restaurant.ok()) return restaurant.error();
  request.restaurant_id = restaurant.value();
  return request;
}

std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name) {
  size_t pos = 0;
  while (pos < cookie_header.size()) {
    size_t end = cookie_header.find(';', pos);
    if (end == std::string_view::npos) end = cookie_header.size();
    std::string_view pair = cookie_header.substr(pos, end - pos);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      std::string_view value = pair.substr(eq + 1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      // The page stores the token with encodeURIComponent: undo %XX escapes.
      std::string decoded;
      for (size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '%' && i + 2 < value.size()) {
          int byte = 0;
          auto [p, ec] = std::from_chars(value.data() + i + 1, value.data() + i + 3, byte, 16);
          if (ec == std::errc() && p == value.data() + i + 3) {
            decoded += static_cast<char>(byte);
            i += 2;
            continue;
          }
        }
        decoded += value[i];
      }
      return decoded;
    }
    pos = end + 1;
  }
  return std::nullopt;
}

namespace {

// Equal strings in time that depends only on their lengths, so the token cannot be guessed
// byte by byte from response times.
bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

bool token_accepted(std::string_view token, const Credentials& credentials) {
  if (token.empty()) return true;
  constexpr std::string_view kBearer = "Bearer ";
  std::string_view header = credentials.authorization;
  if (header.size() > kBearer.size() &&
      std::equal(kBearer.begin(), kBearer.end(), header.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
      })) {
    if (constant_time_equal(header.substr(kBearer.size()), token)) return true;
  }
  if (!credentials.query_token.empty() && constant_time_equal(credentials.query_token, token)) {
    return true;
  }
  if (auto cookie = cookie_value(credentials.cookie_header, "tp_token");
      cookie && constant_time_equal(*cookie, token)) {
    return true;
  }
  return false;
}

}  // namespace tp::server
