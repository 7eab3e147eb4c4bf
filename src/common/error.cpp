#include "common/error.h"

namespace tp {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
#define TP_NAME(name, str, exit_status, what) \
  case ErrorCode::name:                       \
    return str;
    TP_ERROR_CODES(TP_NAME)
#undef TP_NAME
  }
  return "unknown";
}

int error_exit_status(ErrorCode code) {
  switch (code) {
#define TP_EXIT(name, str, exit_status, what) \
  case ErrorCode::name:                       \
    return exit_status;
    TP_ERROR_CODES(TP_EXIT)
#undef TP_EXIT
  }
  return 70;
}

std::string Error::to_string() const {
  if (clickhouse_code != 0) {
    return fmt::format("{} (ClickHouse code {}): {}", error_code_name(code), clickhouse_code,
                       message);
  }
  return fmt::format("{}: {}", error_code_name(code), message);
}

}  // namespace tp
