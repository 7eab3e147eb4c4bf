#pragma once
// Validation of the HTTP API's query parameters and of the bearer token, kept apart from
// httplib so every 400/401 rule is testable without a socket.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "query/metrics.h"

namespace tp::server {

// Query parameters as the server sees them (first value of each name).
using Params = std::map<std::string, std::string>;

// One metric endpoint: its URL name and the query::Metric it runs.
struct MetricEndpoint {
  std::string_view name;  // "revenue", … as in /api/v1/<name> and the snapshot's panels
  query::Metric metric;
};

// The six metric endpoints, in dashboard order; the server's own table, so the URL
// vocabulary is fixed here and does not change with the CLI.
const std::vector<MetricEndpoint>& metric_endpoints();

// The endpoint named `name`, if any.
std::optional<MetricEndpoint> find_metric_endpoint(std::string_view name);

// Builds the request for /api/v1/<metric>: as_of (RFC 3339, default `now_ms`), window
// (e.g. 5m, 1h), limit (1..1000), restaurant_id (1..64 bytes). kInvalidArgument otherwise.
Result<query::MetricRequest> parse_metric_params(query::Metric metric, const Params& params,
                                                 int64_t now_ms);

// as_of for /api/v1/restaurants (default `now_ms`).
Result<int64_t> parse_as_of(const Params& params, int64_t now_ms);

// restaurant_id when present and valid; nullopt when absent or empty.
Result<std::optional<std::string>> parse_restaurant_id(const Params& params);

// Where a request may carry the token: the Authorization header, a `token` query parameter,
// the `tp_token` cookie (the page and EventSource cannot set headers).
struct Credentials {
  std::string authorization;  // the Authorization header, as sent
  std::string query_token;    // the `token` query parameter
  std::string cookie_header;  // the Cookie header, as sent
};

// True when no token is configured or one of the credentials carries exactly `token`
// (compared in constant time).
bool token_accepted(std::string_view token, const Credentials& credentials);

// The value of cookie `name` in a Cookie header, if present.
std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name);

}  // namespace tp::server
