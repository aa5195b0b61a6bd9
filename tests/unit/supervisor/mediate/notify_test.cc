#include "supervisor/mediate/notify.h"

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"

namespace sandgate::supervisor {
namespace {

constexpr long kAnswer = 4242;

// `count` threads of this process, each blocked in getppid(2) under one seccomp listener: a
// starter thread loads a filter that notifies getppid (on itself alone), then starts them, and
// they inherit it. The rest of the test process is not filtered.
class BlockedThreads {
 public:
  explicit BlockedThreads(int count) : results_(static_cast<std::size_t>(count)) {
    std::promise<int> listener;
    auto listener_fd = listener.get_future();
    starter_ = std::thread([this, count, &listener] {
      static sock_filter program[] = {
          BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
          BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      };
      sock_fprog fprog{static_cast<unsigned short>(std::size(program)), program};
      long fd = -1;
      if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0) {
        fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                       &fprog);
      }
      load_error_ = fd < 0 ? errno : 0;
      listener.set_value(static_cast<int>(fd));
      if (fd < 0) return;
      std::vector<std::thread> workers;
      for (int i = 0; i < count; ++i) {
        workers.emplace_back([this, i] {
          {
            std::lock_guard lock(mutex_);
            tids_.push_back(static_cast<pid_t>(::gettid()));
          }
          results_[static_cast<std::size_t>(i)] = ::syscall(SYS_getppid);
        });
      }
      for (auto& worker : workers) worker.join();
    });
    listener_.Reset(listener_fd.get());
  }
  ~BlockedThreads() { Join(); }

  base::UniqueFd TakeListener() { return std::move(listener_); }
  [[nodiscard]] bool Loaded() const { return listener_.Get() >= 0; }
  [[nodiscard]] int LoadError() const { return load_error_; }

  // Waits until every thread is asleep in getppid, so its notification is queued.
  [[nodiscard]] bool WaitUntilAllBlocked(std::size_t count) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (BlockedCount() == count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  // Once every thread has been answered (or the listener is closed, which fails them).
  const std::vector<long>& Join() {
    if (starter_.joinable()) starter_.join();
    return results_;
  }

 private:
  std::size_t BlockedCount() const {
    std::lock_guard lock(mutex_);
    std::size_t blocked = 0;
    for (pid_t tid : tids_) {
      std::ifstream file("/proc/self/task/" + std::to_string(tid) + "/syscall");
      long nr = -1;
      if (file >> nr && nr == SYS_getppid) ++blocked;
    }
    return blocked;
  }

  mutable std::mutex mutex_;
  std::vector<pid_t> tids_;
  std::vector<long> results_;
  int load_error_ = 0;
  base::UniqueFd listener_;
  std::thread starter_;
};

class NotifyListenerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    listener_.reset();  // closing the listener fails whatever is still blocked
    threads_.reset();
    CloseAllHandles(&loop_);
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  // Blocks `count` threads and starts a listener whose handler notes MoreQueued() and answers.
  void Block(int count) {
    threads_.emplace(count);
    if (!threads_->Loaded()) {
      GTEST_SKIP() << "no seccomp listener here: " << std::strerror(threads_->LoadError());
    }
    listener_.emplace(&loop_, threads_->TakeListener(),
                      [this](const Notification& n) {
                        more_queued_.push_back(listener_->MoreQueued());
                        listener_->RespondValue(n.id, kAnswer);
                      },
                      NotifyWakeUps{false, nullptr});
    ASSERT_TRUE(listener_->Start().Ok());
    ASSERT_TRUE(threads_->WaitUntilAllBlocked(static_cast<std::size_t>(count)));
  }

  uv_loop_t loop_{};
  std::optional<BlockedThreads> threads_;
  std::optional<NotifyListener> listener_;
  std::vector<bool> more_queued_;
};

TEST_F(NotifyListenerTest, MoreQueuedSaysWhetherAnotherFollowsInTheSameReceive) {
  Block(3);
  if (IsSkipped() || HasFatalFailure()) return;
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(more_queued_, (std::vector<bool>{true, true, false}));
  EXPECT_FALSE(listener_->MoreQueued());  // only while a handler runs
  for (long result : threads_->Join()) EXPECT_EQ(result, kAnswer);
}

TEST_F(NotifyListenerTest, ALoneNotificationHasNothingQueuedBehindIt) {
  Block(1);
  if (IsSkipped() || HasFatalFailure()) return;
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(more_queued_, (std::vector<bool>{false}));
  for (long result : threads_->Join()) EXPECT_EQ(result, kAnswer);
}

TEST_F(NotifyListenerTest, AWakeUpReceivesAtMostSixteenAndTheLoopTakesTheRestNextRound) {
  Block(18);
  if (IsSkipped() || HasFatalFailure()) return;
  uv_run(&loop_, UV_RUN_NOWAIT);
  ASSERT_EQ(more_queued_.size(), 16u);
  // The sixteenth ends the wake-up's receive: nothing more is taken before the loop goes round.
  EXPECT_FALSE(more_queued_.back());
  uv_run(&loop_, UV_RUN_NOWAIT);
  ASSERT_EQ(more_queued_.size(), 18u);
  EXPECT_TRUE(more_queued_[16]);
  EXPECT_FALSE(more_queued_[17]);
  for (long result : threads_->Join()) EXPECT_EQ(result, kAnswer);
}

}  // namespace
}  // namespace sandgate::supervisor
