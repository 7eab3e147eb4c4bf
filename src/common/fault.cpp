#include "common/fault.h"

#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

namespace tp {
namespace {

// TABLEPULSE_FAULTS as ",a,b=3,", read once: the set of faults is fixed for the process.
const std::string& faults() {
  static const std::string value = [] {
    const char* env = std::getenv("TABLEPULSE_FAULTS");
    return env != nullptr ? "," + std::string(env) + "," : std::string();
  }();
  return value;
}

// One `name=[SKIP:]N[s]` entry and how far the process has got through it.
struct Window {
  long skip = 0;          // calls that pass before the window opens
  long length = 0;        // calls, or seconds when `seconds`
  bool seconds = false;
  long calls = 0;         // calls so far
  std::optional<std::chrono::steady_clock::time_point> opened;  // first call inside it
};

// The window of `name` in TABLEPULSE_FAULTS, if it has one ("x=2:10s", "x=5").
std::optional<Window> parse_window(std::string_view name) {
  const std::string& all = faults();
  const std::string key = "," + std::string(name) + "=";
  size_t at = all.find(key);
  if (at == std::string::npos) return std::nullopt;
  std::string spec = all.substr(at + key.size(), all.find(',', at + 1) - at - key.size());
  Window window;
  size_t colon = spec.find(':');
  if (colon != std::string::npos) {
    window.skip = std::strtol(spec.c_str(), nullptr, 10);
    spec = spec.substr(colon + 1);
  }
  window.seconds = !spec.empty() && spec.back() == 's';
  window.length = std::strtol(spec.c_str(), nullptr, 10);
  return window;
}

}  // namespace

void fault_point(std::string_view name) {
  const std::string& all = faults();
  if (all.empty()) return;
  if (all.find("," + std::string(name) + ",") != std::string::npos) {
    throw std::runtime_error("injected fault " + std::string(name));
  }
}

bool fault_window(std::string_view name) {
  if (faults().empty()) return false;
  static std::mutex mutex;
  static std::map<std::string, std::optional<Window>, std::less<>> windows;
  std::lock_guard lock(mutex);
  auto it = windows.find(name);
  if (it == windows.end()) it = windows.emplace(std::string(name), parse_window(name)).first;
  if (!it->second) return false;
  Window& window = *it->second;
  if (++window.calls <= window.skip) return false;
  if (!window.seconds) return window.calls - window.skip <= window.length;
  auto now = std::chrono::steady_clock::now();
  if (!window.opened) window.opened = now;
  return now - *window.opened < std::chrono::seconds(window.length);
}

}  // namespace tp
