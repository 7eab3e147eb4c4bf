#pragma once
// Injected faults for tests of the failure paths no real input reaches (an exception inside a
// worker thread, a database that goes away for a while). TABLEPULSE_FAULTS lists them, comma
// separated: `name` makes fault_point(name) throw; `name=[SKIP:]N` or `name=[SKIP:]Ns` makes
// fault_window(name) true for N calls, or for N seconds from the first call it is true for,
// after the first SKIP calls. Unset (always, outside tests), a fault check costs one load.
#include <string_view>

namespace tp {

// Throws std::runtime_error("injected fault <name>") when TABLEPULSE_FAULTS names `name`.
void fault_point(std::string_view name);

// True when this call falls in the window TABLEPULSE_FAULTS gives `name` (name=[SKIP:]N calls
// or name=[SKIP:]Ns seconds); the caller then fails the way the fault's name says.
bool fault_window(std::string_view name);

}  // namespace tp
