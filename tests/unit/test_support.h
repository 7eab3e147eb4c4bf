#pragma once
// Shared test helpers: temporary directories, the embedded engine on a fresh directory, running
// the tablepulse binary.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "clickhouse/client.h"
#include "clickhouse/embedded.h"

namespace tp::test {

// A directory under /tmp, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("tablepulse-test-" + std::to_string(random()) + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// The embedded engine of this test process, on a directory of its own (one per process).
inline clickhouse::ClientFactory& embedded_engine() {
  static TempDir dir;
  static std::unique_ptr<clickhouse::ClientFactory> factory = [] {
    auto opened = clickhouse::open_embedded({dir.str() + "/db", ""});
    if (!opened.ok()) {
      ADD_FAILURE() << opened.error().to_string();
      std::abort();
    }
    return std::move(opened.value());
  }();
  return *factory;
}

// A new connection to the embedded engine.
inline std::unique_ptr<clickhouse::Client> embedded_client() {
  auto client = embedded_engine().connect();
  EXPECT_TRUE(client.ok()) << client.error().to_string();
  return std::move(client.value());
}

// Output and exit status of a shell command.
struct CommandResult {
  int status = -1;
  std::string out;
};

// Runs `command` through the shell, capturing stdout (stderr goes to the test log).
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.out.append(buffer, n);
  int raw = pclose(pipe);
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return result;
}

// Path of the tablepulse binary under test: the one built with these tests, or
// $TABLEPULSE_TEST_BINARY (to run a test against another build, e.g. the code before a fix).
inline std::string tablepulse_binary() {
  const char* other = std::getenv("TABLEPULSE_TEST_BINARY");
  return other != nullptr && *other != '\0' ? other : TABLEPULSE_BINARY;
}

}  // namespace tp::test
