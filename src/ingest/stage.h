#pragma once
// One stage of the consumer's pipeline: a worker thread with a bounded queue, its own database
// connection and its own exception boundary.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "clickhouse/client.h"
#include "common/error.h"
#include "common/result.h"

namespace tp::ingest {

// A thread that handles items from a bounded queue on a ClickHouse connection of its own
// (chDB binds a connection to the thread that opened it), all the items waiting at once: a
// stage that falls behind catches up in larger steps. With a `linger`, it waits up to that long
// after the first item for more (until `capacity` wait), so that a step with a fixed cost runs
// at most about once per linger on a trickle of small items. The bound is the backpressure:
// submit() waits while `capacity` items wait. The first failure stops the stage; later
// submit() calls and finish() return it.
template <typename Item>
class Stage {
 public:
  using Handler = std::function<Status(clickhouse::Client&, std::vector<Item>&)>;

  Stage(clickhouse::ClientFactory& factory, size_t capacity, std::chrono::milliseconds linger,
        Handler handle)
      : factory_(factory), capacity_(capacity), linger_(linger), handle_(std::move(handle)) {}
  ~Stage() { (void)finish(); }  // a failure was returned by the finish() that came first

  void start() {
    done_ = false;
    status_ = Status();
    thread_ = std::thread([this] { loop(); });
  }

  Status submit(Item&& item) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return queued_.size() < capacity_ || !status_.ok(); });
    if (!status_.ok()) return status_;
    queued_.push_back(std::move(item));
    cv_.notify_all();
    return {};
  }

  // submit() that waits at most `wait` for room: false (and `item` untouched) if there was
  // none, so a caller can keep serving its source (Kafka's rebalances) while the stage is full.
  Result<bool> offer(Item& item, std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, wait, [this] { return queued_.size() < capacity_ || !status_.ok(); })) {
      return false;
    }
    if (!status_.ok()) return status_.error();
    queued_.push_back(std::move(item));
    cv_.notify_all();
    return true;
  }

  // Handles what is queued, then stops the thread; returns the stage's first failure.
  Status finish() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    queued_.clear();
    return status_;
  }

 private:
  void loop() {
    auto client = factory_.connect();
    std::unique_lock lock(mutex_);
    if (!client.ok()) {
      status_ = client.error();
      cv_.notify_all();
      return;
    }
    while (true) {
      cv_.wait(lock, [this] { return !queued_.empty() || done_; });
      if (queued_.empty()) return;
      cv_.wait_for(lock, linger_, [this] { return queued_.size() >= capacity_ || done_; });
      std::vector<Item> items;
      items.swap(queued_);
      cv_.notify_all();  // room again: the producer may queue more
      lock.unlock();
      Status status = handle_guarded(*client.value(), items);
      lock.lock();
      if (!status.ok()) {
        status_ = status;
        cv_.notify_all();
        return;
      }
    }
  }

  // The handler, with this thread's exception boundary: a bug or an unexpected answer (a JSON
  // parse of an engine reply, say) ends the stage with an error instead of the process.
  Status handle_guarded(clickhouse::Client& client, std::vector<Item>& items) {
    try {
      return handle_(client, items);
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kInternal, "consumer stage failed: {}", e.what());
    } catch (...) {
      return make_error(ErrorCode::kInternal, "consumer stage failed: unknown exception");
    }
  }

  clickhouse::ClientFactory& factory_;
  const size_t capacity_;
  const std::chrono::milliseconds linger_;
  Handler handle_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Item> queued_;
  bool done_ = false;
  Status status_;
};

}  // namespace tp::ingest
