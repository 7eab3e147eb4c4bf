#include "ingest/progress.h"

#include <fmt/format.h>

#include <cstdio>

namespace tp::ingest {

void ProgressLine::update(bool final_line) {
  auto now = Clock::now();
  if (!final_line && now - last_ < std::chrono::seconds(1)) return;
  last_ = now;
  const double seconds = std::chrono::duration<double>(now - started_).count();
  const uint64_t lines = stats_.lines_read.load();
  fmt::print(stderr, "\r\x1b[2K{} lines  {:.0f}/s  inserted {}  duplicates {}  rejected {}{}",
             lines, seconds > 0 ? static_cast<double>(lines) / seconds : 0.0,
             stats_.inserted.load(), stats_.duplicates.load(), stats_.rejected.load(),
             final_line ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace tp::ingest
