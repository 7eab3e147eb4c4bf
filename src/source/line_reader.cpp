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

Result<std::unique_ptr<LineReader>> LineReader::open(const std::string& path, uint64_t offset,
                                                     uint64_t lines_before,
                                                     size_t max_line_bytes) {
  std::unique_ptr<LineReader> reader(new LineReader());
  reader->max_line_bytes_ = max_line_bytes;
  reader->line_number_ = lines_before;
  reader->path_ = path;
  if (path == "-") {
    reader->fd_ = STDIN_FILENO;
    std::random_device random;
    reader->source_id_ = fmt::format("stdin:{:08x}{:08x}", random(), random());
  } else {
    reader->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (reader->fd_ < 0) {
      return make_error(ErrorCode::kIo, "cannot open {}: {}", path, std::strerror(errno));
    }
    reader->owns_fd_ = true;
    struct stat info {};
    if (::fstat(reader->fd_, &info) != 0 || S_ISDIR(info.st_mode)) {
      return make_error(ErrorCode::kIo, "{} is not a readable file", path);
    }
    reader->seekable_ = S_ISREG(info.st_mode);
    reader->source_id_ = file_source_id(path);
    if (offset > 0 && reader->seekable_) {
      if (static_cast<uint64_t>(info.st_size) < offset) {
        return make_error(ErrorCode::kInvalidArgument,
                          "{} is shorter ({} bytes) than its checkpoint ({}): it was truncated or "
                          "replaced; use --no-resume to read it from the start",
                          path, info.st_size, offset);
      }
      if (::lseek(reader->fd_, static_cast<off_t>(offset), SEEK_SET) < 0) {
        return make_error(ErrorCode::kIo, "cannot seek {}: {}", path, std::strerror(errno));
      }
      reader->buffer_offset_ = offset;
    }
  }
  reader->buffer_.resize(kChunk);
  return reader;
}

LineReader::~LineReader() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

Result<size_t> LineReader::fill() {
  // Keep unread bytes, compacting to the front; grow only up to one max-length line.
  if (begin_ > 0) {
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
    auto read = fill();
    if (!read.ok()) return read.error();
    if (read.value() > 0) continue;
    if (follow && !stop.load()) {
      // A growing file: wait for the rest (a partial last line is not a line yet).
      if (idle) idle();
      std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
      continue;
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
      return std::optional<Line>(line);
    }
    return std::optional<Line>();
  }
}

}  // namespace tp::source
