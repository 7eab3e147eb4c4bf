#pragma once
// The dead-letter file: one JSON record per refused line (what is kept of it, its reason, its
// source and line number), appended run after run, bounded in size, and never written twice
// for one line when a killed run's batch is read again.
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/result.h"
#include "ingest/batch.h"

namespace tp::ingest {

// What the dead-letter file keeps of a refused line: its first source::kKeptLineBytes, cut
// before a UTF-8 sequence the limit would split (a valid line stays valid). Memory and the
// file stay bounded whatever a producer sends (binary garbage, one huge line).
std::string_view kept_prefix(std::string_view line);

// The record of one refused line of `source_id`, with its newline. Bytes that are not UTF-8
// are replaced in "line" and kept exactly in "line_base64"; a cut line says so
// ("truncated", "line_bytes"); a Kafka message's adds its "topic", "partition" and "offset".
std::string dead_letter_record(const PendingReject& reject, std::string_view source_id);

// An open dead-letter file (appended to; created if missing).
class DeadLetterFile {
 public:
  // Opens `path` for appending; `max_bytes` caps the file (0: no cap).
  static Result<std::unique_ptr<DeadLetterFile>> open(const std::string& path, uint64_t max_bytes);
  ~DeadLetterFile();
  DeadLetterFile(const DeadLetterFile&) = delete;
  DeadLetterFile& operator=(const DeadLetterFile&) = delete;

  // Reads the file for lines of `source_id` past `after_line`: a run killed after writing a
  // batch's dead letters but before its checkpoint wrote them, and the replay must not write
  // them again. An unfinished last record (the killed write) is cut off. Call before writing.
  Status remember_written_beyond(const std::string& source_id, uint64_t after_line);
  // The same for several sources in one read of the file (a Kafka assignment's partitions).
  Status remember_written_beyond(const std::map<std::string, uint64_t>& after_line_by_source);

  // Forgets what remember_written_beyond() found: the next source is read from its start.
  void forget_written() { written_.clear(); }

  // Appends the records of `rejects` (of `source_id`), except those already written (above)
  // and those past the cap; returns how many the cap dropped (they stay counted as rejected).
  Result<uint64_t> write(std::string_view source_id, const std::vector<PendingReject>& rejects);

  const std::string& path() const { return path_; }

 private:
  DeadLetterFile(std::string path, uint64_t max_bytes, std::FILE* file)
      : path_(std::move(path)), max_bytes_(max_bytes), file_(file) {}

  std::string path_;
  uint64_t max_bytes_ = 0;
  std::FILE* file_ = nullptr;
  bool full_ = false;  // the cap was reached (warned once)
  // By source, its lines past its checkpoint the file already holds (several sources at once:
  // the partitions of a Kafka topic).
  std::unordered_map<std::string, std::unordered_set<uint64_t>> written_;
};

}  // namespace tp::ingest
