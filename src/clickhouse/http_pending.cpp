// Replaced by clickhouse/http.cpp (libcurl backend).
#include "clickhouse/http.h"
namespace tp::clickhouse {
Result<std::unique_ptr<ClientFactory>> open_http(const HttpOptions&) {
  return make_error(ErrorCode::kInternal, "HTTP backend not built yet");
}
}  // namespace tp::clickhouse
