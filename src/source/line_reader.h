#pragma once
// Reads lines from a file or stdin with their byte offsets, so a consumer can resume exactly
// where its last committed batch ended; follows a growing file when asked.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tp::source {

// What is kept of a line too long to hold, and of any refused line in the dead-letter file.
inline constexpr size_t kKeptLineBytes = 4096;

// One line, without its newline; `offset` is where it starts, `end_offset` after its newline.
struct Line {
  std::string_view text;  // valid until the next call to next()
  uint64_t offset = 0;
  uint64_t end_offset = 0;
  uint64_t number = 0;     // 1-based line number in the source
  bool too_long = false;   // text is truncated: the line exceeded max_line_bytes
  uint64_t bytes = 0;      // the whole line's length without its line ending (text may be less)
};

// The checkpoint identity of file `path`: "file:<absolute, normalised path>".
std::string file_source_id(const std::string& path);

// Buffered reader over a file descriptor; not thread-safe.
class LineReader {
 public:
  // Opens `path` ("-" is stdin) positioned at `offset` (line `line_number` + 1 starts there).
  static Result<std::unique_ptr<LineReader>> open(const std::string& path, uint64_t offset,
                                                  uint64_t lines_before, size_t max_line_bytes);
  ~LineReader();

  // The next complete line; nullopt at end of input. With follow, waits for more data until
  // `stop` is set, polling every `poll_ms` (and calling `idle` so callers can flush).
  Result<std::optional<Line>> next(bool follow, const std::atomic<bool>& stop,
                                   const std::function<void()>& idle = {}, int poll_ms = 50);

  // A stable identity for checkpoints: "file:<absolute path>", or "stdin:<run id>".
  const std::string& source_id() const { return source_id_; }
  bool seekable() const { return seekable_; }

 private:
  LineReader() = default;
  Result<size_t> fill();

  int fd_ = -1;
  bool owns_fd_ = false;
  bool seekable_ = false;
  std::string source_id_;
  std::string path_;
  std::string buffer_;
  size_t begin_ = 0;  // unread data is buffer_[begin_, end_)
  size_t end_ = 0;
  uint64_t buffer_offset_ = 0;  // file offset of buffer_[0]
  uint64_t line_number_ = 0;
  size_t max_line_bytes_ = 1 << 20;
  bool discarding_ = false;    // inside a line longer than max_line_bytes_
  uint64_t discard_start_ = 0;  // offset where that line starts
  std::string long_prefix_;   // its first bytes, kept for the dead-letter file
};

}  // namespace tp::source
