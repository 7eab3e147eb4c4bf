#include "source/line_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace tp::source {
namespace {
constexpr size_t kChunk = 1 << 20;

// A file saved by some Windows tools starts with a UTF-8 byte-order mark: not part of the
// first line's JSON.
std::string_view skip_byte_order_mark(std::string_view text, uint64_t offset) {
  if (offset == 0 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return text;
}
}  // namespace

std::string file_source_id(const std::string& path) {
  std::error_code ec;
  return "file:" + std::filesystem::absolute(path, ec).lexically_normal().string();
}

std::string generation_source_id(const std::string& file_id, uint32_t generation) {
  return generation <= 1 ? file_id : fmt::format("{}#{}", file_id, generation);
}

Status LineReader::open_file() {
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::kIo, "cannot open {}: {}", path_, std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || S_ISDIR(info.st_mode)) {
    ::close(fd);
    return make_error(ErrorCode::kIo, "{} is not a readable file", path_);
  }
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
  fd_ = fd;
  owns_fd_ = true;
  seekable_ = S_ISREG(info.st_mode);
  device_ = info.st_dev;
  inode_ = info.st_ino;
  file_identity_ = seekable_ ? fmt::format("{}:{}", device_, inode_) : std::string();
  return {};
}

void LineReader::start_generation(uint32_t generation) {
  generation_ = generation;
  source_id_ = generation_source_id(file_id_, generation);
  begin_ = end_ = 0;
  buffer_offset_ = 0;
  line_number_ = 0;
  discarding_ = false;
  carry_.clear();
}

Result<std::unique_ptr<LineReader>> LineReader::open(const std::string& path,
                                                     const ResumePoint& resume,
                                                     size_t max_line_bytes) {
  std::unique_ptr<LineReader> reader(new LineReader());
  reader->max_line_bytes_ = max_line_bytes;
  reader->path_ = path;
  reader->buffer_.resize(kChunk);
  if (path == "-") {
    reader->fd_ = STDIN_FILENO;
    std::random_device random;
    reader->source_id_ = fmt::format("stdin:{:08x}{:08x}", random(), random());
    return reader;
  }
  TP_RETURN_IF_ERROR(reader->open_file());
  reader->file_id_ = file_source_id(path);
  reader->start_generation(resume.generation);
  if (resume.offset == 0 || !reader->seekable_) return reader;
  // Resume only where the file still holds what the checkpoint saw: a file truncated, or
  // replaced by another (log rotation), is a new generation, read from its start.
  struct stat info {};
  ::fstat(reader->fd_, &info);
  std::string tail(resume.tail.size(), '\0');
  const bool same =
      static_cast<uint64_t>(info.st_size) >= resume.offset &&
      resume.offset >= tail.size() &&
      ::pread(reader->fd_, tail.data(), tail.size(),
              static_cast<off_t>(resume.offset - tail.size())) ==
          static_cast<ssize_t>(tail.size()) &&
      tail == resume.tail;
  if (!same) {
    spdlog::warn(
        "{}: the file changed since its checkpoint at byte {} ({} bytes now, {}): reading it "
        "from the start as generation {}; if it was rotated, ingest the rotated file too for "
        "lines written after that checkpoint",
        path, resume.offset, info.st_size,
        static_cast<uint64_t>(info.st_size) < resume.offset ? "truncated" : "other content",
        resume.generation + 1);
    reader->start_generation(resume.generation + 1);
    return reader;
  }
  if (::lseek(reader->fd_, static_cast<off_t>(resume.offset), SEEK_SET) < 0) {
    return make_error(ErrorCode::kIo, "cannot seek {}: {}", path, std::strerror(errno));
  }
  reader->buffer_offset_ = resume.offset;
  reader->line_number_ = resume.lines_before;
  reader->carry_ = resume.tail;
  reader->resumed_ = true;
  return reader;
}

LineReader::Change LineReader::detect_change() {
  if (!seekable_ || path_ == "-") return Change::kNone;
  struct stat named {}, open_now {};
  if (::stat(path_.c_str(), &named) == 0 &&
      (static_cast<uint64_t>(named.st_dev) != device_ ||
       static_cast<uint64_t>(named.st_ino) != inode_)) {
    return Change::kReplaced;
  }
  // (A path that names no file yet, mid-rotation, is waited for on the old file.)
  const uint64_t position = buffer_offset_ + end_;
  if (::fstat(fd_, &open_now) != 0) return Change::kNone;
  if (static_cast<uint64_t>(open_now.st_size) < position) return Change::kTruncated;
  // Truncated and written again past our position between two polls (copytruncate of a busy
  // log): the bytes before the position are not the ones read.
  std::string_view seen = tail_before(end_);
  std::string now(seen.size(), '\0');
  if (::pread(fd_, now.data(), now.size(), static_cast<off_t>(position - seen.size())) ==
          static_cast<ssize_t>(now.size()) &&
      now != seen) {
    return Change::kTruncated;
  }
  return Change::kNone;
}

Status LineReader::apply_change(Change change) {
  const uint64_t position = buffer_offset_ + end_;
  if (change == Change::kReplaced) {
    spdlog::info("{}: the path names a new file (rotated): the old one is finished at byte {}, "
                 "the new one is read from its start",
                 path_, position);
    TP_RETURN_IF_ERROR(open_file());
  } else {
    spdlog::info("{}: truncated (or rewritten) after byte {}: read again from its start", path_,
                 position);
    if (::lseek(fd_, 0, SEEK_SET) < 0) {
      return make_error(ErrorCode::kIo, "cannot seek {}: {}", path_, std::strerror(errno));
    }
  }
  start_generation(generation_ + 1);
  return {};
}

std::string_view LineReader::tail_before(size_t end) {
  if (end >= kTailBytes) return std::string_view(buffer_.data() + end - kTailBytes, kTailBytes);
  size_t from_carry = std::min(carry_.size(), kTailBytes - end);
  tail_.assign(carry_, carry_.size() - from_carry, from_carry);
  tail_.append(buffer_.data(), end);
  return tail_;
}

LineReader::~LineReader() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

Result<size_t> LineReader::fill() {
  // Keep unread bytes, compacting to the front; grow only up to one max-length line.
  if (begin_ > 0) {
    // The consumed bytes' last ones stay known: a line ending early in the buffer has a tail.
    if (begin_ >= kTailBytes) {
      carry_.assign(buffer_.data() + begin_ - kTailBytes, kTailBytes);
    } else {
      carry_.append(buffer_.data(), begin_);
      if (carry_.size() > kTailBytes) carry_.erase(0, carry_.size() - kTailBytes);
    }
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    buffer_offset_ += begin_;
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
  while (true) {
    ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(ErrorCode::kIo, "reading {}: {}", path_, std::strerror(errno));
    end_ += static_cast<size_t>(n);
    return static_cast<size_t>(n);
  }
}

Result<std::optional<Line>> LineReader::next(bool follow, const std::atomic<bool>& stop,
                                             const std::function<void()>& idle, int poll_ms) {
  while (true) {
    const char* start = buffer_.data() + begin_;
    const void* newline = std::memchr(start, '\n', end_ - begin_);
    if (newline != nullptr) {
      size_t length = static_cast<size_t>(static_cast<const char*>(newline) - start);
      Line line;
      line.offset = buffer_offset_ + begin_;
      line.end_offset = line.offset + length + 1;
      line.number = ++line_number_;
      begin_ += length + 1;
      line.tail = tail_before(begin_);
      if (discarding_) {
        // The end of an over-long line: report it once, by its prefix, from its start.
        discarding_ = false;
        line.offset = discard_start_;
        line.bytes = line.end_offset - 1 - discard_start_;
        line.text = long_prefix_;
        line.too_long = true;
        return std::optional<Line>(line);
      }
      std::string_view text(start, length);
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      line.bytes = text.size();
      line.text = skip_byte_order_mark(text, line.offset);
      line.too_long = text.size() > max_line_bytes_;
      return std::optional<Line>(line);
    }
    if (!discarding_ && end_ - begin_ > max_line_bytes_) {
      // Memory stays bounded: keep a prefix of the over-long line and drop the rest as it comes.
      discarding_ = true;
      discard_start_ = buffer_offset_ + begin_;
      long_prefix_.assign(start, std::min<size_t>(end_ - begin_, kKeptLineBytes));
    }
    if (discarding_) begin_ = end_;
    if (pending_change_ != Change::kNone) {
      // The old generation is finished (its partial last line was returned): the new one.
      TP_RETURN_IF_ERROR(apply_change(pending_change_));
      pending_change_ = Change::kNone;
      continue;
    }
    auto read = fill();
    if (!read.ok()) return read.error();
    if (read.value() > 0) {
      draining_ = false;
      continue;
    }
    if (follow && !stop.load()) {
      // A growing file: wait for the rest (a partial last line is not a line yet), then see
      // whether the file is still the one being read before reading on.
      if (idle) idle();
      std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
      Change change = detect_change();
      if (change == Change::kNone) continue;
      if (change == Change::kReplaced && !draining_) {
        // Bytes written to the old file just before it moved are read first: one more read
        // after the change was seen, and the change is made once that returns nothing.
        draining_ = true;
        continue;
      }
      draining_ = false;
      pending_change_ = change;  // after the partial last line, if any, is returned
    }
    if (end_ > begin_ || discarding_) {
      // A last line without a newline is still a line.
      Line line;
      line.offset = discarding_ ? discard_start_ : buffer_offset_ + begin_;
      line.end_offset = buffer_offset_ + end_;
      line.bytes = line.end_offset - line.offset;
      line.number = ++line_number_;
      line.too_long = discarding_ || end_ - begin_ > max_line_bytes_;
      line.text = discarding_ ? std::string_view(long_prefix_)
                              : skip_byte_order_mark(
                                    std::string_view(buffer_.data() + begin_, end_ - begin_),
                                    line.offset);
      discarding_ = false;
      begin_ = end_;
      line.tail = tail_before(end_);
      return std::optional<Line>(line);
    }
    if (pending_change_ != Change::kNone) continue;
    return std::optional<Line>();
  }
}

}  // namespace tp::source
