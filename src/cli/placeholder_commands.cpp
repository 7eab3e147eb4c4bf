// Commands not built yet in this tree; each is replaced by its own file as it lands.
#include "cli/commands.h"
namespace tp::cli {
}  // namespace tp::cli
