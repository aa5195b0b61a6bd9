#include "supervisor/loop/direct_wait.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "base/unique_fd.h"

namespace sandgate::supervisor {
namespace {

// A pipe; the loop watches its read end through libuv as well, as DirectWait advises.
class DirectWaitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    read_end_.Reset(fds[0]);
    write_end_.Reset(fds[1]);
    wait_.emplace(&loop_);
    ASSERT_TRUE(wait_->Start().Ok());
    if (!DirectWait::Checked()) {
      GTEST_SKIP() << "DirectWait is not checked against libuv " << uv_version_string()
                   << ": it never sleeps there";
    }
  }
  void TearDown() override {
    wait_.reset();
    CloseAllHandles(&loop_);
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  // A libuv watcher on the read end that reads one byte and ends the loop.
  void WatchReadEndThroughLibuv() {
    poll_ = UvHandle<uv_poll_t>::Create();
    ASSERT_EQ(uv_poll_init(&loop_, poll_->Get(), read_end_.Get()), 0);
    poll_->Bind(this);
    uv_poll_start(poll_->Get(), UV_READABLE, [](uv_poll_t* h, int, int) {
      auto* self = static_cast<DirectWaitTest*>(UvHandle<uv_poll_t>::From(h)->Owner());
      char byte = 0;
      if (::read(self->read_end_.Get(), &byte, 1) == 1) self->received_ = byte;
      self->EndLoop();
    });
  }
  // A timer that ends the loop after `ms`, noting that it fired.
  void EndAfter(std::uint64_t ms) {
    timer_ = UvHandle<uv_timer_t>::Create();
    ASSERT_EQ(uv_timer_init(&loop_, timer_->Get()), 0);
    timer_->Bind(this);
    uv_timer_start(
        timer_->Get(),
        [](uv_timer_t* h) {
          auto* self = static_cast<DirectWaitTest*>(UvHandle<uv_timer_t>::From(h)->Owner());
          self->timer_fired_ = true;
          self->EndLoop();
        },
        ms, 0);
  }
  // Runs the loop while another thread writes `byte` to the pipe 20 ms from now.
  void RunWhileWritingSoon(char byte) {
    std::thread writer([fd = write_end_.Get(), byte] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      EXPECT_EQ(::write(fd, &byte, 1), 1);
    });
    uv_run(&loop_, UV_RUN_DEFAULT);
    writer.join();
  }
  // Until libuv has added a started watcher to its epoll set it does not sleep, nor does this:
  // one round without waiting adds it.
  void AddWatchersToEpoll() { uv_run(&loop_, UV_RUN_NOWAIT); }
  void EndLoop() {
    if (poll_ != nullptr) poll_->Close();
    if (timer_ != nullptr) timer_->Close();
    poll_ = nullptr;
    timer_ = nullptr;
  }

  uv_loop_t loop_{};
  base::UniqueFd read_end_, write_end_;
  std::optional<DirectWait> wait_;
  UvHandle<uv_poll_t>* poll_ = nullptr;
  UvHandle<uv_timer_t>* timer_ = nullptr;
  char received_ = 0;
  bool timer_fired_ = false;
};

TEST_F(DirectWaitTest, TimersFireWhileTheLoopSleepsOnAWatchedFd) {
  WatchReadEndThroughLibuv();
  wait_->Watch(read_end_.Get());
  EndAfter(20);
  AddWatchersToEpoll();
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_TRUE(timer_fired_);
  EXPECT_EQ(received_, 0);
  EXPECT_GE(wait_->Sleeps(), 1u);  // the loop slept here, and woke for libuv's timer
}

TEST_F(DirectWaitTest, AWatchedFdWakesTheLoopAndLibuvsWatcherRuns) {
  WatchReadEndThroughLibuv();
  wait_->Watch(read_end_.Get());
  EndAfter(30'000);  // a safety net only: the byte must end the loop long before
  AddWatchersToEpoll();
  RunWhileWritingSoon('x');
  EXPECT_EQ(received_, 'x');
  EXPECT_FALSE(timer_fired_);
  EXPECT_GE(wait_->Sleeps(), 1u);
}

TEST_F(DirectWaitTest, AFdOnlyLibuvWatchesStillWakesTheLoop) {
  // The read end is not watched directly: libuv's epoll fd, slept on too, reports it.
  WatchReadEndThroughLibuv();
  base::UniqueFd other_read, other_write;
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  other_read.Reset(fds[0]);
  other_write.Reset(fds[1]);
  wait_->Watch(other_read.Get());  // never readable
  EndAfter(30'000);
  AddWatchersToEpoll();
  RunWhileWritingSoon('y');
  EXPECT_EQ(received_, 'y');
  EXPECT_FALSE(timer_fired_);
}

TEST_F(DirectWaitTest, AReadyFdNobodyTakesDoesNotMakeTheLoopSpin) {
  // The write end closed, the read end reports POLLHUP in every poll. It is watched directly
  // but (against the advice) not by libuv, so nothing ever takes it: each sleep here ends at
  // once, and libuv's own sleep must then last until the timer.
  write_end_.Reset();
  wait_->Watch(read_end_.Get());
  auto* check = UvHandle<uv_check_t>::Create();
  ASSERT_EQ(uv_check_init(&loop_, check->Get()), 0);
  int rounds = 0;
  check->Bind(&rounds);
  uv_check_start(check->Get(), [](uv_check_t* h) {
    ++*static_cast<int*>(UvHandle<uv_check_t>::From(h)->Owner());
  });
  uv_unref(check->Base());
  EndAfter(50);
  AddWatchersToEpoll();
  rounds = 0;
  uv_run(&loop_, UV_RUN_DEFAULT);
  check->Close();
  EXPECT_TRUE(timer_fired_);
  EXPECT_LE(rounds, 3);  // one that slept until the timer, one that ran it, at most one more
  EXPECT_GE(wait_->Sleeps(), 1u);
}

TEST_F(DirectWaitTest, ItNeverSleepsWhileLibuvHasWorkQueued) {
  // An active idle handle means libuv polls without sleeping; so must this.
  wait_->Watch(read_end_.Get());
  auto* idle = UvHandle<uv_idle_t>::Create();
  ASSERT_EQ(uv_idle_init(&loop_, idle->Get()), 0);
  int rounds = 0;
  idle->Bind(&rounds);
  uv_idle_start(idle->Get(), [](uv_idle_t* h) {
    auto* handle = UvHandle<uv_idle_t>::From(h);
    if (++*static_cast<int*>(handle->Owner()) == 100) handle->Close();
  });
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(rounds, 100);
  EXPECT_EQ(wait_->Sleeps(), 0u);
}

TEST_F(DirectWaitTest, APrepareHandleStartedLaterHasRunBeforeItSleeps) {
  // The JSON-RPC approver writes what an iteration queued from a prepare handle. Were the
  // sleep to come first, a reply that only that write provokes would never wake it.
  WatchReadEndThroughLibuv();
  wait_->Watch(read_end_.Get());
  EndAfter(30'000);
  AddWatchersToEpoll();
  auto* later = UvHandle<uv_prepare_t>::Create();
  ASSERT_EQ(uv_prepare_init(&loop_, later->Get()), 0);
  int write_fd = write_end_.Get();
  later->Bind(&write_fd);
  uv_prepare_start(later->Get(), [](uv_prepare_t* h) {
    auto* handle = UvHandle<uv_prepare_t>::From(h);
    EXPECT_EQ(::write(*static_cast<int*>(handle->Owner()), "z", 1), 1);
    handle->Close();
  });
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(received_, 'z');
  EXPECT_FALSE(timer_fired_);
}

}  // namespace
}  // namespace sandgate::supervisor
