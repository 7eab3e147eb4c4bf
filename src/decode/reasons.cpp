#include "decode/reasons.h"

namespace tp::decode {

std::string_view reason_code(Reason reason) {
  switch (reason) {
#define TP_REASON_CODE(name, code, what) \
  case Reason::name:                     \
    return code;
    TP_REJECT_REASONS(TP_REASON_CODE)
#undef TP_REASON_CODE
  }
  return "unknown";
}

std::string_view reason_description(Reason reason) {
  switch (reason) {
#define TP_REASON_WHAT(name, code, what) \
  case Reason::name:                     \
    return what;
    TP_REJECT_REASONS(TP_REASON_WHAT)
#undef TP_REASON_WHAT
  }
  return "unknown";
}

}  // namespace tp::decode
