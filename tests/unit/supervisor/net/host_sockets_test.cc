#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "supervisor/net/host_socket.h"

namespace sandgate::supervisor {
namespace {

using base::UniqueFd;

UniqueFd Udp() { return UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)); }

TEST(HostSocketsTest, RecognizesTheSocketNotTheFdNumber) {
  HostSockets sockets;
  UniqueFd a = Udp();
  UniqueFd other = Udp();
  EXPECT_FALSE(sockets.Contains(a.Get()));
  sockets.Remember(a.Get());
  EXPECT_TRUE(sockets.Contains(a.Get()));
  UniqueFd copy(::dup(a.Get()));  // what pidfd_getfd hands sandgate: the same socket
  EXPECT_TRUE(sockets.Contains(copy.Get()));
  EXPECT_FALSE(sockets.Contains(other.Get()));
}

TEST(HostSocketsTest, AFreshSocketIsNeverTakenForAClosedOne) {
  HostSockets sockets;
  for (int i = 0; i < 64; ++i) {
    UniqueFd a = Udp();
    sockets.Remember(a.Get());
  }
  // Same fd numbers, and inode numbers that may come round again: different cookies.
  for (int i = 0; i < 64; ++i) {
    UniqueFd fresh = Udp();
    EXPECT_FALSE(sockets.Contains(fresh.Get()));
  }
}

TEST(HostSocketsTest, KeptWhileAnyReferenceLives) {
  HostSockets sockets;
  UniqueFd a = Udp();
  sockets.Remember(a.Get());
  UniqueFd copy(::dup(a.Get()));
  a.Reset();
  sockets.Prune();
  EXPECT_EQ(sockets.size(), 1U);
  EXPECT_TRUE(sockets.Contains(copy.Get()));
  copy.Reset();
  sockets.Prune();
  EXPECT_EQ(sockets.size(), 0U);
}

TEST(HostSocketsTest, KeptWhileInFlightInAnScmRightsMessage) {
  HostSockets sockets;
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd left(pair[0]);
  UniqueFd right(pair[1]);
  UniqueFd a = Udp();
  sockets.Remember(a.Get());

  char byte = 'x';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  const int fd = a.Get();
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  ASSERT_EQ(::sendmsg(left.Get(), &msg, 0), 1);
  a.Reset();
  sockets.Prune();
  EXPECT_EQ(sockets.size(), 1U);

  msghdr in{};
  alignas(cmsghdr) char in_control[CMSG_SPACE(sizeof(int))] = {};
  in.msg_iov = &iov;
  in.msg_iovlen = 1;
  in.msg_control = in_control;
  in.msg_controllen = sizeof in_control;
  ASSERT_EQ(::recvmsg(right.Get(), &in, MSG_CMSG_CLOEXEC), 1);
  int received_fd = -1;
  std::memcpy(&received_fd, CMSG_DATA(CMSG_FIRSTHDR(&in)), sizeof received_fd);
  UniqueFd received(received_fd);
  EXPECT_TRUE(sockets.Contains(received.Get()));
}

TEST(HostSocketsTest, StaysBoundedAsSocketsComeAndGo) {
  HostSockets sockets;
  UniqueFd kept = Udp();
  sockets.Remember(kept.Get());
  for (int i = 0; i < 5000; ++i) {
    UniqueFd a = Udp();
    sockets.Remember(a.Get());
  }
  EXPECT_LE(sockets.size(), 1024U);
  EXPECT_TRUE(sockets.Contains(kept.Get()));
}

}  // namespace
}  // namespace sandgate::supervisor
