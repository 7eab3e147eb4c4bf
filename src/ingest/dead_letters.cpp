#include "ingest/dead_letters.h"

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "ingest/row_encoder.h"
#include "source/kafka.h"
#include "source/line_reader.h"

namespace tp::ingest {
namespace {

// Replaces each byte that is not part of valid UTF-8 with U+FFFD.
std::string sanitize_utf8(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xE  ? 3
                    : (c >> 3) == 0x1E ? 4
                                       : 0;
    if (length > 0 && i + length <= text.size() &&
        simdjson::validate_utf8(text.data() + i, length)) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// Standard base64 with padding: the exact bytes of a line JSON cannot carry.
std::string base64(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(data[i]) << 16) | (static_cast<uint8_t>(data[i + 1]) << 8) |
                 static_cast<uint8_t>(data[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(n >> shift) & 63]);
  }
  if (i < data.size()) {
    uint32_t n = static_cast<uint8_t>(data[i]) << 16;
    if (i + 1 < data.size()) n |= static_cast<uint8_t>(data[i + 1]) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace

std::string_view kept_prefix(std::string_view line) {
  if (line.size() <= source::kKeptLineBytes) return line;
  size_t cut = source::kKeptLineBytes;
  for (int back = 0; back < 3 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80; ++back) {
    --cut;  // line[cut] continues a sequence: end the prefix before its lead byte
  }
  return line.substr(0, cut);
}

std::string dead_letter_record(const PendingReject& reject, std::string_view source_id) {
  std::string record = "{\"line\":";
  if (simdjson::validate_utf8(reject.line.data(), reject.line.size())) {
    append_json_string(record, reject.line);
  } else {
    // JSON cannot carry these bytes: a readable copy, and the exact bytes in base64.
    append_json_string(record, sanitize_utf8(reject.line));
    record += ",\"line_base64\":";
    append_json_string(record, base64(reject.line));
  }
  if (reject.line_bytes > reject.line.size()) {
    record += fmt::format(",\"truncated\":true,\"line_bytes\":{}", reject.line_bytes);
  }
  record += ",\"reason\":";
  append_json_string(record, reject.reason);
  record += ",\"detail\":";
  append_json_string(record, reject.detail);
  record += ",\"source\":";
  append_json_string(record, source_id);
  record += fmt::format(",\"line_number\":{}", reject.line_number);
  if (auto kafka = source::parse_kafka_source_id(source_id)) {
    // Line n of a partition is its message at offset n - 1.
    record += ",\"topic\":";
    append_json_string(record, kafka->first);
    record += fmt::format(",\"partition\":{},\"offset\":{}", kafka->second, reject.line_number - 1);
  }
  record += "}\n";
  return record;
}

Result<std::unique_ptr<DeadLetterFile>> DeadLetterFile::open(const std::string& path,
                                                             uint64_t max_bytes) {
  std::FILE* file = std::fopen(path.c_str(), "ae");
  if (file == nullptr) {
    return make_error(ErrorCode::kIo, "cannot open dead-letter file {}: {}", path,
                      std::strerror(errno));
  }
  return std::unique_ptr<DeadLetterFile>(new DeadLetterFile(path, max_bytes, file));
}

DeadLetterFile::~DeadLetterFile() {
  if (file_ != nullptr) std::fclose(file_);
}

Status DeadLetterFile::remember_written_beyond(const std::string& source_id, uint64_t after_line) {
  return remember_written_beyond(std::map<std::string, uint64_t>{{source_id, after_line}});
}

Status DeadLetterFile::remember_written_beyond(
    const std::map<std::string, uint64_t>& after_line_by_source) {
  for (const auto& [source_id, after_line] : after_line_by_source) written_[source_id].clear();
  std::ifstream in(path_, std::ios::binary);
  simdjson::ondemand::parser parser;
  uint64_t complete_bytes = 0;  // up to the end of the last line that has its newline
  for (std::string text; std::getline(in, text);) {
    if (in.eof()) {
      // A line without its newline: a killed run's unfinished write. Its batch was not
      // checkpointed, so the replay writes the whole line again; the fragment goes.
      spdlog::warn("dead-letter file {}: dropping an unfinished last line ({} bytes)", path_,
                   text.size());
      if (::truncate(path_.c_str(), static_cast<off_t>(complete_bytes)) != 0) {
        return make_error(ErrorCode::kIo, "truncating dead-letter file {}: {}", path_,
                          std::strerror(errno));
      }
      break;
    }
    complete_bytes += text.size() + 1;
    simdjson::padded_string padded(text);
    auto doc = parser.iterate(padded);
    std::string_view source;
    uint64_t line_number = 0;
    if (doc["source"].get_string().get(source) != simdjson::SUCCESS ||
        doc["line_number"].get_uint64().get(line_number) != simdjson::SUCCESS) {
      continue;  // not one of ours: nothing to skip for it
    }
    auto checkpoint = after_line_by_source.find(std::string(source));
    if (checkpoint != after_line_by_source.end() && line_number > checkpoint->second) {
      written_[checkpoint->first].insert(line_number);
    }
  }
  if (in.bad()) {
    return make_error(ErrorCode::kIo, "reading dead-letter file {}: {}", path_,
                      std::strerror(errno));
  }
  return {};
}

Result<uint64_t> DeadLetterFile::write(std::string_view source_id,
                                       const std::vector<PendingReject>& rejects) {
  if (rejects.empty()) return uint64_t{0};
  // The cap is on the file, earlier runs' records included (it is appended to, run after run).
  struct stat info {};
  if (::fstat(::fileno(file_), &info) != 0) {
    return make_error(ErrorCode::kIo, "reading the size of dead-letter file {}: {}", path_,
                      std::strerror(errno));
  }
  const uint64_t size = static_cast<uint64_t>(info.st_size);
  uint64_t dropped = 0;
  std::string out;
  auto written = written_.find(std::string(source_id));
  for (const auto& reject : rejects) {
    if (written != written_.end() && written->second.count(reject.line_number) != 0) {
      continue;  // a killed run wrote it
    }
    std::string record = dead_letter_record(reject, source_id);
    if (max_bytes_ != 0 && size + out.size() + record.size() > max_bytes_) {
      ++dropped;  // still counted as rejected with its reason; only its copy is not kept
      continue;
    }
    out += record;
  }
  if (std::fwrite(out.data(), 1, out.size(), file_) != out.size() || std::fflush(file_) != 0) {
    return make_error(ErrorCode::kIo, "writing dead-letter file {}: {}", path_,
                      std::strerror(errno));
  }
  if (dropped > 0 && !full_) {
    spdlog::warn("dead-letter file {} is at --dlq-max-bytes ({}): further refused lines are "
                 "counted (dead_letters_dropped), not written",
                 path_, max_bytes_);
    full_ = true;
  }
  return dropped;
}

}  // namespace tp::ingest
