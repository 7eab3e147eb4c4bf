#pragma once
// Injected faults for tests of the failure paths no real input reaches (an exception inside a
// worker thread, say): TABLEPULSE_FAULTS=name[,name...] makes fault_point(name) throw. Unset
// (always, outside tests), a fault point costs one relaxed load.
#include <string_view>

namespace tp {

// Throws std::runtime_error("injected fault <name>") when TABLEPULSE_FAULTS names `name`.
void fault_point(std::string_view name);

}  // namespace tp
