// The line reader follows a file the way `tail -F` does: a truncated or rotated file is
// finished, its successor read from its start as a new generation, and a resumed run continues
// only where the file still holds what its checkpoint saw.
#include "source/line_reader.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <vector>

#include "test_support.h"

namespace tp::source {
namespace {

// A line as the consumer sees it: its text, where it is, and which source it belongs to.
struct Seen {
  std::string text;
  uint64_t offset;
  std::string source;
  bool operator==(const Seen&) const = default;
};

void write_file(const std::string& path, const std::string& text, bool append = false) {
  std::ofstream out(path, append ? std::ios::app | std::ios::binary : std::ios::binary);
  out << text;
}

// Reads `reader` in follow mode; each time it waits at the end of the data the next step runs
// (changing the file), and after the last step it is stopped.
std::vector<Seen> follow(LineReader& reader, std::vector<std::function<void()>> steps) {
  std::atomic<bool> stop{false};
  size_t step = 0;
  int idle_polls = 0;
  std::vector<Seen> seen;
  auto idle = [&] {
    // Two quiet polls in a row: everything written so far has been read.
    if (++idle_polls < 2) return;
    idle_polls = 0;
    if (step < steps.size()) {
      steps[step++]();
    } else {
      stop = true;
    }
  };
  while (true) {
    auto line = reader.next(true, stop, idle, 1);
    EXPECT_TRUE(line.ok()) << line.error().to_string();
    if (!line.ok() || !line->has_value()) break;
    idle_polls = 0;
    seen.push_back({std::string((*line)->text), (*line)->offset, reader.source_id()});
  }
  return seen;
}

TEST(LineReaderFollow, TruncationAndRotationStartNewGenerations) {
  test::TempDir dir;
  const std::string path = dir.str() + "/events.jsonl";
  const std::string id = file_source_id(path);
  write_file(path, "a1\na2\n");
  auto reader = LineReader::open(path, {}, 1 << 20);
  ASSERT_TRUE(reader.ok());
  auto seen = follow(
      *reader.value(),
      {
          // Truncated to less than was read: the stale offset would land mid-line.
          [&] { write_file(path, "b1\n"); },
          // Truncated and written again past the read position before the next poll
          // (copytruncate of a busy log): only the bytes before the position tell.
          [&] { write_file(path, "c1-longer-than-before\nc2\n"); },
          // Rotated (mv + a new file), with a last line written to the old one after the move
          // and a partial line at its end: both are read before the new file.
          [&] {
            std::filesystem::rename(path, path + ".1");
            write_file(path + ".1", "c3\npartial", true);
            write_file(path, "d1\n");
          },
          [&] { write_file(path, "d2\n", true); },
      });
  const std::vector<Seen> expected = {
      {"a1", 0, id},           {"a2", 3, id},
      {"b1", 0, id + "#2"},    {"c1-longer-than-before", 0, id + "#3"},
      {"c2", 22, id + "#3"},   {"c3", 25, id + "#3"},
      {"partial", 28, id + "#3"}, {"d1", 0, id + "#4"},
      {"d2", 3, id + "#4"},
  };
  ASSERT_EQ(seen.size(), expected.size());
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].text, expected[i].text) << i;
    EXPECT_EQ(seen[i].offset, expected[i].offset) << i;
    EXPECT_EQ(seen[i].source, expected[i].source) << i;
  }
}

TEST(LineReaderFollow, NoChangeKeepsOneGeneration) {
  test::TempDir dir;
  const std::string path = dir.str() + "/events.jsonl";
  write_file(path, "a1\n");
  auto reader = LineReader::open(path, {}, 1 << 20);
  ASSERT_TRUE(reader.ok());
  auto seen = follow(*reader.value(), {[&] { write_file(path, "a2\n", true); },
                                       [&] { write_file(path, "a3\n", true); }});
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& line : seen) EXPECT_EQ(line.source, file_source_id(path));
  EXPECT_EQ(seen[2].offset, 6u);
}

// A line's tail is the source's last bytes up to its end, also when they span buffer refills.
TEST(LineReaderResume, TailsAreTheBytesBeforeEachLinesEnd) {
  test::TempDir dir;
  const std::string path = dir.str() + "/lines.txt";
  std::string text;
  for (int i = 0; i < 200000; ++i) text += fmt::format("line {}\n", i * 7919 % 100003);
  write_file(path, text);
  auto reader = LineReader::open(path, {}, 1 << 20);
  ASSERT_TRUE(reader.ok());
  std::atomic<bool> stop{false};
  size_t lines = 0;
  while (true) {
    auto line = reader.value()->next(false, stop);
    ASSERT_TRUE(line.ok());
    if (!line->has_value()) break;
    const uint64_t end = (*line)->end_offset;
    const size_t size = std::min<uint64_t>(end, kTailBytes);
    ASSERT_EQ((*line)->tail, std::string_view(text).substr(end - size, size)) << end;
    ++lines;
  }
  EXPECT_EQ(lines, 200000u);
}

TEST(LineReaderResume, ResumesOnlyWhereTheFileStillHoldsWhatWasRead) {
  test::TempDir dir;
  const std::string path = dir.str() + "/events.jsonl";
  write_file(path, "first line\nsecond line\n");
  ResumePoint point{1, 11, 1, "first line\n"};
  std::atomic<bool> stop{false};
  {
    write_file(path, "third line\n", true);  // grown: resumed
    auto reader = LineReader::open(path, point, 1 << 20);
    ASSERT_TRUE(reader.ok());
    EXPECT_TRUE(reader.value()->resumed());
    auto line = reader.value()->next(false, stop);
    ASSERT_TRUE(line.ok() && line->has_value());
    EXPECT_EQ((*line)->text, "second line");
    EXPECT_EQ((*line)->number, 2u);
    EXPECT_EQ(reader.value()->source_id(), file_source_id(path));
  }
  for (const std::string& replacement :
       {std::string("short\n"), std::string("other text, longer than the checkpoint\n")}) {
    // Truncated, or replaced by another file (rotation while no consumer ran): generation 2
    // from its start, never a stale offset into different bytes.
    std::filesystem::remove(path);
    write_file(path, replacement);
    auto reader = LineReader::open(path, point, 1 << 20);
    ASSERT_TRUE(reader.ok());
    EXPECT_FALSE(reader.value()->resumed());
    EXPECT_EQ(reader.value()->source_id(), file_source_id(path) + "#2");
    auto line = reader.value()->next(false, stop);
    ASSERT_TRUE(line.ok() && line->has_value());
    EXPECT_EQ((*line)->offset, 0u);
    EXPECT_EQ((*line)->number, 1u);
    EXPECT_EQ(std::string((*line)->text) + "\n", replacement);
  }
}

}  // namespace
}  // namespace tp::source
