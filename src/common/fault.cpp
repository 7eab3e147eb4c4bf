#include "common/fault.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace tp {

void fault_point(std::string_view name) {
  // Read once: the set of faults is fixed for the life of the process.
  static const std::string faults = [] {
    const char* env = std::getenv("TABLEPULSE_FAULTS");
    return env != nullptr ? "," + std::string(env) + "," : std::string();
  }();
  if (faults.empty()) return;
  if (faults.find("," + std::string(name) + ",") != std::string::npos) {
    throw std::runtime_error("injected fault " + std::string(name));
  }
}

}  // namespace tp
