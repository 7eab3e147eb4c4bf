#include "server/events_intake.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <variant>

#include "clickhouse/schema.h"
#include "common/time.h"

namespace tp::server {
namespace {

bool is_blank(std::string_view text) {
  return text.find_first_not_of(" \t\r") == std::string_view::npos;
}

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

Error malformed(std::string message) {
  return Error{ErrorCode::kMalformedBody, std::move(message), 0};
}

// The elements of the array that starts at body[at] == '['.
Result<std::vector<BodyEvent>> split_array(std::string_view body, size_t at) {
  constexpr size_t kMaxDepth = 1024;
  std::vector<BodyEvent> events;
  size_t pos = at + 1;
  auto skip_space = [&] {
    while (pos < body.size() && is_json_space(body[pos])) ++pos;
  };
  skip_space();
  if (pos < body.size() && body[pos] == ']') {
    ++pos;
    skip_space();
    if (pos != body.size()) return malformed("bytes after the array's closing bracket");
    return events;
  }
  std::string stack;  // the open brackets inside the current element
  for (uint64_t number = 1;; ++number) {
    skip_space();
    BodyEvent event;
    event.number = number;
    bool in_string = false;
    bool ended = false;
    while (pos < body.size()) {
      char c = body[pos];
      if (in_string) {
        if (c == '\n' || c == '\r') {
          return malformed(fmt::format("element {}: a line break inside a string", number));
        }
        if (c == '\\' && pos + 1 < body.size()) {
          event.text += c;
          event.text += body[pos + 1];
          pos += 2;
          continue;
        }
        if (c == '"') in_string = false;
        event.text += c;
        ++pos;
        continue;
      }
      if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        if (stack.size() >= kMaxDepth) {
          return malformed(fmt::format("element {}: nested deeper than {}", number, kMaxDepth));
        }
        stack += c;
      } else if (c == '}' || c == ']') {
        if (stack.empty()) {
          if (c == '}') return malformed(fmt::format("element {}: unbalanced '}}'", number));
          ended = true;  // the array's own ']'
          break;
        }
        if ((c == '}') != (stack.back() == '{')) {
          return malformed(fmt::format("element {}: mismatched brackets", number));
        }
        stack.pop_back();
      } else if (c == ',' && stack.empty()) {
        break;
      } else if (c == '\n' || c == '\r') {
        c = ' ';  // a pretty-printed element becomes one line; its value is the same
      }
      event.text += c;
      ++pos;
    }
    if (in_string) return malformed(fmt::format("element {}: an unterminated string", number));
    if (pos >= body.size()) return malformed("the array has no closing bracket");
    while (!event.text.empty() && is_json_space(event.text.back())) event.text.pop_back();
    if (event.text.empty()) return malformed(fmt::format("element {} is empty", number));
    events.push_back(std::move(event));
    ++pos;  // the ',' or the closing ']'
    if (ended) break;
  }
  skip_space();
  if (pos != body.size()) return malformed("bytes after the array's closing bracket");
  return events;
}

// This thread's decoder for intake `owner` (one per thread: a Decoder reuses its buffers). The
// owner is an instance number, not an address: a new intake may get a freed one's address.
decode::Decoder& thread_decoder(uint64_t owner, const decode::DecoderOptions& options) {
  struct Slot {
    uint64_t owner = 0;
    std::unique_ptr<decode::Decoder> decoder;
  };
  thread_local Slot slot;
  if (slot.owner != owner || !slot.decoder) {
    slot.decoder = std::make_unique<decode::Decoder>(options);
    slot.owner = owner;
  }
  return *slot.decoder;
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorCode::kIo, "cannot append to the events log: {}",
                        std::strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

double ms_since(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
      .count();
}

}  // namespace

Result<std::vector<BodyEvent>> split_events_body(std::string_view body) {
  if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);
  size_t first = 0;
  while (first < body.size() && is_json_space(body[first])) ++first;
  if (first < body.size() && body[first] == '[') return split_array(body, first);
  std::vector<BodyEvent> events;
  uint64_t number = 0;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(pos, end - pos);
    ++number;
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (is_blank(line)) continue;
    events.push_back(BodyEvent{std::string(line), number});
  }
  return events;
}

Result<std::string> inflate_body(std::string_view compressed, uint64_t max_bytes) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 32) != Z_OK) {  // 15 + 32: a gzip or a zlib header
    return make_error(ErrorCode::kInternal, "zlib: inflateInit2 failed");
  }
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buffer[64 * 1024];
  Result<std::string> result = std::string();
  for (;;) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    int ret = inflate(&stream, Z_NO_FLUSH);
    size_t got = sizeof buffer - stream.avail_out;
    if (out.size() + got > max_bytes) {
      result = make_error(ErrorCode::kPayloadTooLarge,
                          "the body inflates to more than --max-body-bytes ({} bytes)", max_bytes);
      break;
    }
    out.append(buffer, got);
    if (ret == Z_STREAM_END) {
      if (stream.avail_in == 0) {
        result = std::move(out);
        break;
      }
      inflateReset(&stream);  // another gzip member follows (concatenated files)
      continue;
    }
    if (ret == Z_OK) continue;
    if (ret == Z_BUF_ERROR && stream.avail_in == 0) {
      result = malformed("the gzip stream ends early (truncated)");
    } else {
      result = malformed(fmt::format("not a valid gzip or deflate stream: {}",
                                     stream.msg != nullptr ? stream.msg : "corrupt data"));
    }
    break;
  }
  inflateEnd(&stream);
  return result;
}

TokenBucket::TokenBucket(double rate, Clock::time_point now)
    : rate_(rate), tokens_(rate), last_(now) {}

double TokenBucket::take(double n, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  double elapsed = std::chrono::duration<double>(now - last_).count();
  if (elapsed > 0) {
    tokens_ = std::min(rate_, tokens_ + elapsed * rate_);
    last_ = now;
  }
  double needed = std::min(n, rate_);  // more than the burst: a full bucket lets it through
  if (tokens_ >= needed) {
    tokens_ -= n;
    return 0;
  }
  return (needed - tokens_) / rate_;
}

void EventsMetrics::count_request(int status) {
  std::lock_guard lock(mutex_);
  ++requests_by_status_[status];
}

void EventsMetrics::count_events(uint64_t accepted, uint64_t duplicate, uint64_t refused) {
  accepted_ += accepted;
  duplicate_ += duplicate;
  refused_ += refused;
}

std::string EventsMetrics::render() const {
  std::string out;
  auto header = [&](std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  header("tablepulse_http_events_requests_total", "counter",
         "POST /api/v1/events requests answered, by HTTP status.");
  {
    std::lock_guard lock(mutex_);
    if (requests_by_status_.empty()) out += "tablepulse_http_events_requests_total 0\n";
    for (const auto& [status, count] : requests_by_status_) {
      out +=
          fmt::format("tablepulse_http_events_requests_total{{status=\"{}\"}} {}\n", status, count);
    }
  }
  auto counter = [&](std::string_view name, std::string_view help, uint64_t value) {
    header(name, "counter", help);
    out += fmt::format("{} {}\n", name, value);
  };
  counter("tablepulse_http_events_accepted_total",
          "Events of 200 replies made durable in the events log (new to this process).",
          accepted_.load());
  counter("tablepulse_http_events_duplicate_total",
          "Events of 200 replies whose id the request or this process had already.",
          duplicate_.load());
  counter("tablepulse_http_events_refused_total",
          "Events of 200 replies refused with a reason code (as the consumer refuses them).",
          refused_.load());
  counter("tablepulse_http_events_received_bytes_total",
          "Request bodies read by the events endpoint, as sent (compressed or not).",
          bytes_received_.load());
  counter("tablepulse_http_events_logged_bytes_total",
          "Bytes appended to the events log (the consumer follows it).", bytes_logged_.load());
  header("tablepulse_http_events_fsync_latency_ms", "histogram",
         "Time of one fdatasync of the events log (shared by the requests waiting for it), in "
         "milliseconds.");
  auto h = fsync_ms_.snapshot();
  for (const auto& [bound, count] : h.buckets) {
    out += fmt::format("tablepulse_http_events_fsync_latency_ms_bucket{{le=\"{}\"}} {}\n",
                       std::isinf(bound) ? std::string("+Inf") : fmt::format("{}", bound), count);
  }
  out += fmt::format("tablepulse_http_events_fsync_latency_ms_sum {}\n", h.sum);
  out += fmt::format("tablepulse_http_events_fsync_latency_ms_count {}\n", h.count);
  return out;
}

nlohmann::ordered_json IntakeReply::to_json() const {
  nlohmann::ordered_json lines = nlohmann::ordered_json::array();
  for (const Refusal& r : refused_lines) {
    lines.push_back({{"line", r.line}, {"reason", r.reason}, {"detail", r.detail}});
  }
  return {{"accepted", accepted},
          {"duplicate", duplicate},
          {"refused", refused},
          {"refused_lines", std::move(lines)},
          {"refused_lines_truncated", refused_lines_truncated}};
}

Result<std::unique_ptr<EventsIntake>> EventsIntake::open(EventsIntakeOptions options) {
  const std::string& path = options.log_path;
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  const bool existed = std::filesystem::exists(path, ec);
  int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return make_error(ErrorCode::kIo, "cannot open the events log {}: {}", path,
                      std::strerror(errno));
  }
  struct stat info {};
  if (::fstat(fd, &info) == 0 && info.st_size > 0) {
    char last = '\n';
    if (::pread(fd, &last, 1, info.st_size - 1) == 1 && last != '\n') {
      // A write cut by a crash: that request was never answered; end its line so it is
      // refused on its own instead of swallowing the next append.
      auto status = write_all(fd, "\n");
      if (!status.ok()) {
        ::close(fd);
        return status.error();
      }
    }
  }
  if (::fdatasync(fd) != 0) {
    ::close(fd);
    return make_error(ErrorCode::kIo, "cannot sync the events log {}: {}", path,
                      std::strerror(errno));
  }
  if (!existed) {  // the new file's directory entry must be durable too
    int dir = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  return std::unique_ptr<EventsIntake>(new EventsIntake(std::move(options), fd));
}

EventsIntake::EventsIntake(EventsIntakeOptions options, int fd)
    : options_(std::move(options)), fd_(fd), recent_(options_.recent_ids) {
  static std::atomic<uint64_t> instances{0};
  instance_ = ++instances;
  if (options_.events_per_second > 0) bucket_.emplace(options_.events_per_second);
}

EventsIntake::~EventsIntake() {
  {
    std::lock_guard lock(rotation_mutex_);
    stop_rotation_ = true;
  }
  rotation_cv_.notify_all();
  if (rotation_thread_.joinable()) rotation_thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

Result<bool> EventsIntake::rotate_if_committed(uint64_t rotate_bytes,
                                               const CheckpointProbe& probe) {
  struct stat info {};
  if (::fstat(fd_, &info) != 0 || static_cast<uint64_t>(info.st_size) < rotate_bytes) {
    return false;
  }
  auto checkpoint = probe();
  if (!checkpoint.ok()) return checkpoint.error();
  if (!checkpoint->has_value()) return false;
  const ingest::FileCheckpoint& last = **checkpoint;
  std::lock_guard lock(append_mutex_);
  if (failed_) return false;
  const int fd = fd_;
  if (::fstat(fd, &info) != 0 || static_cast<uint64_t>(info.st_size) != last.end_offset) {
    return false;  // not all committed yet, or appended since the probe
  }
  // The same size could be another content (the previous log): the tail bytes tell.
  if (!last.end_tail.empty()) {
    std::string tail(last.end_tail.size(), '\0');
    ssize_t got = ::pread(fd, tail.data(), tail.size(),
                          static_cast<off_t>(last.end_offset - last.end_tail.size()));
    if (got != static_cast<ssize_t>(tail.size()) || tail != last.end_tail) return false;
  }
  const std::string& path = options_.log_path;
  if (::fdatasync(fd) != 0) return make_error(ErrorCode::kIo, "cannot sync {}", path);
  // The path always names a file (the follow reader and a restart never find it missing):
  // the old log gets its second name first, then a new file replaces it in one rename.
  const std::string rotated = path + ".1", fresh_path = path + ".new";
  ::unlink(rotated.c_str());
  if (::link(path.c_str(), rotated.c_str()) != 0) {
    return make_error(ErrorCode::kIo, "cannot rotate {}: {}", path, std::strerror(errno));
  }
  int fresh = ::open(fresh_path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fresh < 0 || ::fdatasync(fresh) != 0 || ::rename(fresh_path.c_str(), path.c_str()) != 0) {
    // The old log stays in place and in use: nothing is lost, the next check tries again.
    if (fresh >= 0) ::close(fresh);
    ::unlink(fresh_path.c_str());
    return make_error(ErrorCode::kIo, "cannot start a new {}: {}", path, std::strerror(errno));
  }
  auto parent = std::filesystem::path(path).parent_path();
  int dir = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  {
    // A sync in progress on the old log finishes first (all of it is synced above); the next
    // one syncs the new log.
    std::unique_lock sync_lock(sync_mutex_);
    synced_cv_.wait(sync_lock, [this] { return !syncing_; });
    fd_ = fresh;
  }
  ::close(fd);
  return true;
}

void EventsIntake::start_rotation(uint64_t rotate_bytes, CheckpointProbe probe,
                                  std::chrono::milliseconds every) {
  rotation_thread_ = std::thread([this, rotate_bytes, probe = std::move(probe), every] {
    std::unique_lock lock(rotation_mutex_);
    while (!rotation_cv_.wait_for(lock, every, [this] { return stop_rotation_; })) {
      lock.unlock();
      try {  // this thread's exception boundary: a failed check is retried next time
        auto rotated = rotate_if_committed(rotate_bytes, probe);
        if (!rotated.ok()) {
          spdlog::warn("events log rotation: {}", rotated.error().to_string());
        } else if (rotated.value()) {
          spdlog::info("events log {} rotated to {}.1 (all of it committed)", options_.log_path,
                       options_.log_path);
        }
      } catch (const std::exception& e) {
        spdlog::warn("events log rotation: {}", e.what());
      }
      lock.lock();
    }
  });
}

Result<IntakeReply> EventsIntake::submit(std::string_view body, int* retry_after_s) {
  auto split = split_events_body(body);
  if (!split.ok()) return split.error();
  std::vector<BodyEvent>& events = split.value();
  const bool is_array = [&] {
    size_t first = body.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
    return first != std::string_view::npos && body[first] == '[';
  }();
  if (events.empty() && !is_array) return malformed("the body holds no event");

  // Decode everything first: a body that is not JSON lines stores nothing.
  struct Verdict {
    std::optional<decode::Rejection> rejection;
    ingest::IdKey id;
    uint64_t content_hash = 0;
  };
  std::vector<Verdict> verdicts(events.size());
  decode::Decoder& decoder = thread_decoder(instance_, options_.decoder);
  const int64_t now = now_ms();
  size_t not_json = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    auto result = decoder.decode(events[i].text);
    if (auto* rejection = std::get_if<decode::Rejection>(&result)) {
      if (rejection->reason == decode::Reason::kNotJson) ++not_json;
      verdicts[i].rejection = std::move(*rejection);
      continue;
    }
    auto& decoded = std::get<decode::Decoded>(result);
    if (options_.ttl_days &&
        clickhouse::expired_by_ttl(decoded.event.ts_ms, *options_.ttl_days, now)) {
      verdicts[i].rejection =
          decode::Rejection{decode::Reason::kExpired,
                            fmt::format("timestamp {} is older than the retention of {} days",
                                        format_iso_ms(decoded.event.ts_ms), *options_.ttl_days)};
      continue;
    }
    verdicts[i].id = ingest::id_key(decoded.event.event_id);
    verdicts[i].content_hash = decoded.content_hash;
  }
  if (!is_array && not_json == events.size()) {
    return malformed(fmt::format("not JSON lines: none of the body's {} lines is JSON ({})",
                                 events.size(), verdicts.front().rejection->detail));
  }
  if (bucket_) {
    double wait = bucket_->take(static_cast<double>(events.size()));
    if (wait > 0) {
      if (retry_after_s != nullptr) *retry_after_s = std::max(1, static_cast<int>(std::ceil(wait)));
      return make_error(ErrorCode::kRateLimited,
                        "{} events would exceed --events-rate {} events/s; retry in {:.1f} s",
                        events.size(), options_.events_per_second, wait);
    }
  }

  IntakeReply reply;
  std::string append;
  uint64_t target = 0;
  {
    std::lock_guard lock(append_mutex_);
    if (failed_) {
      return make_error(ErrorCode::kIo,
                        "the events log could not be written earlier; restart serve");
    }
    absl::flat_hash_map<ingest::IdKey, uint64_t, ingest::IdKeyHash> in_request;
    for (size_t i = 0; i < events.size(); ++i) {
      const Verdict& verdict = verdicts[i];
      if (verdict.rejection) {
        // Refused lines go to the log as well: the consumer refuses them the same way, so they
        // are counted in data-quality and dead-lettered by the one writer of the --dlq file.
        ++reply.refused;
        if (reply.refused_lines.size() < options_.max_listed_refusals) {
          reply.refused_lines.push_back(
              Refusal{events[i].number, std::string(decode::reason_code(verdict.rejection->reason)),
                      verdict.rejection->detail});
        } else {
          reply.refused_lines_truncated = true;
        }
      } else {
        std::optional<uint64_t> seen;
        if (auto it = in_request.find(verdict.id); it != in_request.end()) seen = it->second;
        if (!seen) seen = recent_.find(verdict.id);
        if (seen) {
          ++reply.duplicate;
          // An exact redelivery is not appended; one whose content differs is, so that the
          // consumer counts the conflict (conflicting_duplicates) and keeps the first.
          if (*seen == verdict.content_hash) continue;
        } else {
          ++reply.accepted;
          in_request.emplace(verdict.id, verdict.content_hash);
          recent_.insert(verdict.id, verdict.content_hash);
        }
      }
      append += events[i].text;
      append += '\n';
    }
    if (!append.empty()) {
      auto written = write_all(fd_, append);
      if (!written.ok()) {
        failed_ = true;
        return written.error();
      }
      metrics_.count_logged(append.size());
      appended_.fetch_add(1);
    }
    // Even a request of duplicates only waits: their first copies may still be syncing.
    target = appended_.load();
  }
  TP_RETURN_IF_ERROR(wait_durable(target));
  metrics_.count_events(reply.accepted, reply.duplicate, reply.refused);
  return reply;
}

Status EventsIntake::wait_durable(uint64_t target) {
  std::unique_lock lock(sync_mutex_);
  while (synced_ < target) {
    if (sync_failed_) break;
    if (syncing_) {
      synced_cv_.wait(lock);
      continue;
    }
    syncing_ = true;
    const uint64_t upto = appended_.load();  // every append counted here is in the file
    const int fd = fd_;                      // a rotation waits for this sync to end
    lock.unlock();
    auto started = std::chrono::steady_clock::now();
    int rc = ::fdatasync(fd);
    int error = errno;
    metrics_.observe_fsync(ms_since(started));
    lock.lock();
    syncing_ = false;
    if (rc != 0) {
      sync_failed_ = true;
      synced_cv_.notify_all();
      lock.unlock();
      std::lock_guard append_lock(append_mutex_);
      failed_ = true;
      return make_error(ErrorCode::kIo, "cannot sync the events log: {}", std::strerror(error));
    }
    synced_ = std::max(synced_, upto);
    synced_cv_.notify_all();
  }
  if (sync_failed_ && synced_ < target) {
    return make_error(ErrorCode::kIo, "cannot sync the events log (an earlier fdatasync failed)");
  }
  return {};
}

}  // namespace tp::server
