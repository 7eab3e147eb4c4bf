#pragma once
// Reads lines from a file or stdin with their byte offsets, so a consumer can resume exactly
// where its last committed batch ended; follows a growing file when asked, across truncation
// and rotation (tail -F): each content a path holds in turn is a generation of its own.
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
  std::string_view tail;   // the source's last bytes up to end_offset (at most kTailBytes)
};

// How many bytes before a checkpoint's end a resumed run compares: they tell the file that
// was read from one that replaced it or was truncated and written again since.
inline constexpr size_t kTailBytes = 32;

// Where a file's reading continues: what the last committed batch of its newest generation
// recorded. The default starts generation 1 at the beginning.
struct ResumePoint {
  uint32_t generation = 1;  // which content of the path the checkpoint belongs to
  uint64_t offset = 0;      // the checkpoint's end: first byte not yet committed
  uint64_t lines_before = 0;
  std::string tail;         // the kTailBytes before `offset` as read then (empty: not recorded)
};

// The checkpoint identity of file `path`: "file:<absolute, normalised path>".
std::string file_source_id(const std::string& path);

// The source id of a path's `generation`: the file id for the first, "<file id>#N" after it.
std::string generation_source_id(const std::string& file_id, uint32_t generation);

// Buffered reader over a file descriptor; not thread-safe.
class LineReader {
 public:
  // Opens `path` ("-" is stdin) at `resume`, if the file still holds what was read there (same
  // size or more, same tail bytes); otherwise, logged, at the start of the next generation.
  static Result<std::unique_ptr<LineReader>> open(const std::string& path,
                                                  const ResumePoint& resume,
                                                  size_t max_line_bytes);
  ~LineReader();

  // The next complete line; nullopt at end of input. With follow, waits for more data until
  // `stop` is set, polling every `poll_ms` (and calling `idle` so callers can flush); a file
  // that shrinks or whose path now names another file is finished and its successor read
  // from its start, as the next generation (source_id() changes before its first line).
  Result<std::optional<Line>> next(bool follow, const std::atomic<bool>& stop,
                                   const std::function<void()>& idle = {}, int poll_ms = 50);

  // A stable identity for checkpoints: "file:<absolute path>[#generation]", or "stdin:<run id>".
  const std::string& source_id() const { return source_id_; }
  bool seekable() const { return seekable_; }
  // Whether open() continued at its resume point (false: from the start).
  bool resumed() const { return resumed_; }
  // The file being read, as "device:inode" (empty for stdin), recorded with checkpoints.
  const std::string& file_identity() const { return file_identity_; }

 private:
  LineReader() = default;
  Result<size_t> fill();
  // Opens path_ for reading (the first time or after a rotation); records its identity.
  Status open_file();
  // What happened to a followed file found at the end of its data.
  enum class Change { kNone, kReplaced, kTruncated };
  // kReplaced: the path names another file now (rotation); kTruncated: the file shrank, or its
  // bytes before the read position are not the ones read (truncated and written again).
  Change detect_change();
  // Continues with the next generation: the new file, or the truncated one from its start.
  Status apply_change(Change change);
  // Starts the next generation: offsets and line numbers from 0, a new source id.
  void start_generation(uint32_t generation);
  // Keeps the last kTailBytes of the data up to buffer_[end) for `line.tail`.
  std::string_view tail_before(size_t end);

  int fd_ = -1;
  bool owns_fd_ = false;
  bool seekable_ = false;
  bool resumed_ = false;
  uint32_t generation_ = 1;
  std::string file_id_;  // the path's id, without the generation
  std::string source_id_;
  std::string file_identity_;
  uint64_t device_ = 0, inode_ = 0;
  std::string path_;
  std::string tail_;   // line.tail when the buffer does not hold kTailBytes before a line's end
  std::string carry_;  // the last kTailBytes consumed before buffer_[0]
  bool draining_ = false;                  // a change was seen: one more read of the old file
  Change pending_change_ = Change::kNone;  // made once the old generation's last line is out
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
