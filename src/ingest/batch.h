#pragma once
// What the consumer's pipeline passes along: a batch of lines read from one source, committed as
// a whole or not at all, and, once inserted, on its way to its match step and checkpoint.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "decode/decoder.h"
#include "ingest/counters.h"
#include "ingest/matcher.h"
#include "ingest/recent_ids.h"

namespace tp::ingest {

using BatchClock = std::chrono::steady_clock;

// A valid, new-to-this-run event waiting in a batch.
struct PendingEvent {
  decode::Decoded decoded;
  IdKey key;
  uint64_t offset = 0;  // where its line starts in the source
};

// A refused line waiting to be written to the dead-letter file.
struct PendingReject {
  std::string line;  // its first source::kKeptLineBytes at most (see kept_prefix)
  std::string reason;
  std::string detail;
  uint64_t line_number = 0;
  uint64_t line_bytes = 0;  // the whole line's length: more than line.size() if it was cut
};

// Rows already in the database for some of a batch's ids, by id.
using StoredRows = std::unordered_map<IdKey, nlohmann::json, IdKeyHash>;

// Where in a source a batch is: what its checkpoint records.
struct SourcePosition {
  std::string source_id;       // the source (file generation) its lines come from
  std::string file_identity;   // the file's "device:inode" when it was read (checkpoint record)
  uint64_t committed_end = 0;  // that source's checkpoint when the run began: rows of ours
                               // beyond it are replays of a killed run, before it re-reads
  uint64_t end_offset = 0;     // first byte after the batch's last line
  uint64_t end_line = 0;       // the batch's last line number
  std::string end_tail;        // the source's last bytes up to end_offset (resume check)
  int32_t kafka_partition = -1;  // a Kafka partition's batch: its offset is committed to Kafka
                                 // after the checkpoint; -1: a file or stream
};

// What one batch read; committed as a whole or not at all.
struct Batch {
  SourcePosition position;
  uint64_t start_offset = 0;
  BatchClock::time_point first_line_at{};
  int64_t first_read_wall_ms = 0;
  std::vector<PendingEvent> events;
  std::vector<PendingReject> rejects;
  // What reading counted: lines, blank, rejected (by reason), and duplicates (with conflicting
  // ones) recognised in memory before the database lookup; the commit adds the rest.
  BatchCounters read;
  const std::string& source_id() const { return position.source_id; }
  bool empty() const { return read.lines == 0 && read.blank == 0; }
  // An empty batch that continues where this one ends.
  Batch successor() const {
    Batch next;
    next.position = position;
    next.start_offset = position.end_offset;
    return next;
  }
};

// Batches committed together: one lookup and one insert for all, then one match step and one
// insert of their checkpoint rows. A file's batch goes alone; a Kafka consumer's partitions'
// open batches go together, so that a step covers the stretch of event time a file's batch
// covers (per partition, a batch of the same size spans as many times more as there are
// partitions, and so would its lookup and match step).
struct BatchGroup {
  std::vector<Batch> batches;
  // The lookup the reader ran while the previous group was being inserted (first attempt).
  std::optional<StoredRows> prefetched;

  BatchGroup() = default;
  explicit BatchGroup(Batch&& batch) { batches.push_back(std::move(batch)); }
};

// A batch whose events are stored, on its way to its match step and checkpoint.
struct InsertedBatch {
  Batch batch;             // its events already dropped: only counters and rejects left
  BatchCounters counters;  // the batch's, complete: the checkpoint row's
  std::vector<TimeRange> ranges;  // event time of its events, for the match step
  int64_t min_ts = INT64_MAX;     // of the rows it inserted
  int64_t max_ts = 0;
  std::string token;            // source:start:end, the checkpoint's deduplication token
  BatchClock::time_point started{};  // when its commit began (lookup, insert)
  BatchClock::time_point lookup_done{};
  BatchClock::time_point insert_done{};
};

}  // namespace tp::ingest
