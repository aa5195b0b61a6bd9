#include "supervisor/child/output_pump.h"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cerrno>
#include <exception>
#include <string_view>
#include <utility>

#include "approvals/utf8.h"

namespace sandgate::supervisor {
namespace {

constexpr std::size_t kReadChunk = std::size_t{64} << 10;

std::string_view StreamName(approvals::OutputStream which) {
  return which == approvals::OutputStream::kStdout ? "stdout" : "stderr";
}

}  // namespace

OutputPump::OutputPump(uv_loop_t* loop, base::UniqueFd stdout_read, base::UniqueFd stderr_read,
                       Sink sink, Done done)
    : loop_(loop), sink_(std::move(sink)), done_(std::move(done)) {
  streams_[0].which = approvals::OutputStream::kStdout;
  streams_[0].fd = std::move(stdout_read);
  streams_[1].which = approvals::OutputStream::kStderr;
  streams_[1].fd = std::move(stderr_read);
  for (Stream& stream : streams_) stream.pump = this;
}

OutputPump::~OutputPump() { Close(); }

base::Status OutputPump::Start() {
  if (started_ || closed_) return base::Error{EALREADY, "OutputPump::Start"};
  started_ = true;
  for (Stream& stream : streams_) {
    if (!stream.fd.Valid()) {
      stream.ended = true;
      continue;
    }
    if (auto status = StartStream(stream); !status) return status;
  }
  MaybeFinish();
  return base::Ok{};
}

base::Status OutputPump::StartStream(Stream& stream) {
  stream.buffer.resize(kReadChunk);
  stream.pipe = UvHandle<uv_pipe_t>::Create();
  if (const int rc = uv_pipe_init(loop_, stream.pipe->Get(), 0); rc != 0) {
    stream.pipe->Close();
    stream.pipe = nullptr;
    return base::Error{-rc, "uv_pipe_init"};
  }
  stream.pipe->Bind(&stream);
  const std::string what = "uv_pipe_open(command " + std::string(StreamName(stream.which)) +
                           " fd=" + std::to_string(stream.fd.Get()) + ")";
  if (const int rc = uv_pipe_open(stream.pipe->Get(), stream.fd.Get()); rc != 0) {
    return base::Error{-rc, what};  // the fd stays ours; Close() closes both
  }
  // From here the handle owns the fd: uv_close closes it.
  (void)stream.fd.Release();
  const int rc = uv_read_start(
      reinterpret_cast<uv_stream_t*>(stream.pipe->Get()),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
        auto* s = static_cast<Stream*>(
            UvHandle<uv_pipe_t>::From(reinterpret_cast<uv_pipe_t*>(h))->Owner());
        *buf = uv_buf_init(s->buffer.data(), static_cast<unsigned int>(s->buffer.size()));
      },
      [](uv_stream_t* h, ssize_t nread, const uv_buf_t*) noexcept {
        auto* s = static_cast<Stream*>(
            UvHandle<uv_pipe_t>::From(reinterpret_cast<uv_pipe_t*>(h))->Owner());
        if (nread > 0) {
          (void)s->pump->OnData(*s, s->buffer.data(), static_cast<std::size_t>(nread));
          return;
        }
        if (nread == 0) return;  // EAGAIN
        if (nread != UV_EOF) {
          spdlog::warn("reading the command's {}: {}", StreamName(s->which),
                       uv_strerror(static_cast<int>(nread)));
        }
        s->pump->OnEnd(*s);
      });
  if (rc != 0) return base::Error{-rc, "uv_read_start(command output)"};
  return base::Ok{};
}

void OutputPump::Close() noexcept {
  if (closed_) return;
  closed_ = true;
  for (Stream& stream : streams_) {
    if (stream.pipe != nullptr) stream.pipe->Close();
    stream.pipe = nullptr;
    stream.fd.Reset();
    stream.held.clear();
  }
}

bool OutputPump::OnData(Stream& stream, const char* data, std::size_t size) noexcept {
  if (closed_ || stream.ended) return false;
  try {
    std::string chunk;
    chunk.reserve(stream.held.size() + size);
    chunk.append(stream.held).append(data, size);
    const std::size_t tail = approvals::IncompleteUtf8Tail(chunk);
    stream.held.assign(chunk, chunk.size() - tail, tail);
    chunk.resize(chunk.size() - tail);
    if (chunk.empty()) return true;
    return Emit(stream, std::move(chunk));
  } catch (const std::exception& e) {
    spdlog::error("command {}: {}", StreamName(stream.which), e.what());
    return !closed_;
  }
}

void OutputPump::Inject(approvals::OutputStream which, std::string text) noexcept {
  if (!started_ || closed_) return;
  for (Stream& stream : streams_) {
    if (!Drain(stream)) return;
  }
  Stream& target = streams_[which == approvals::OutputStream::kStdout ? 0 : 1];
  if (target.ended) return;
  // An unfinished character the command wrote stays before the line, as it was written.
  if (!target.held.empty() && !Emit(target, std::exchange(target.held, std::string()))) return;
  (void)Emit(target, std::move(text));
}

bool OutputPump::Drain(Stream& stream) noexcept {
  if (stream.ended || stream.pipe == nullptr) return !closed_;
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(stream.pipe->Get()), &fd) != 0) return true;
  // The pipe is non-blocking (libuv made it so); libuv's own next read finds what is left. At
  // most a few chunks: a command that writes without pause cannot hold the loop here.
  for (int chunk = 0; chunk < 16; ++chunk) {
    const ssize_t n = ::read(fd, stream.buffer.data(), stream.buffer.size());
    if (n <= 0) break;  // empty (EAGAIN), or EOF and errors, which libuv reports itself
    if (!OnData(stream, stream.buffer.data(), static_cast<std::size_t>(n))) return false;
  }
  return true;
}

bool OutputPump::Emit(Stream& stream, std::string data) noexcept {
  static const std::string kMethod(approvals::kMethodProcessOutput);
  const std::weak_ptr<int> alive = alive_;
  try {
    sink_(kMethod, approvals::ProcessOutputParams({stream.which, std::move(data)}));
  } catch (const std::exception& e) {
    spdlog::error("process/output sink: {}", e.what());
  }
  return !alive.expired() && !closed_;
}

void OutputPump::OnEnd(Stream& stream) noexcept {
  if (closed_ || stream.ended) return;
  stream.ended = true;
  if (stream.pipe != nullptr) stream.pipe->Close();
  stream.pipe = nullptr;
  if (!stream.held.empty()) {
    // The stream ended inside a character: these bytes are not UTF-8, send them as they are.
    if (!Emit(stream, std::exchange(stream.held, std::string()))) return;
  }
  MaybeFinish();
}

void OutputPump::MaybeFinish() noexcept {
  if (finished_ || closed_) return;
  for (const Stream& stream : streams_) {
    if (!stream.ended) return;
  }
  finished_ = true;
  if (!done_) return;
  try {
    done_();
  } catch (const std::exception& e) {
    spdlog::error("output pump done callback: {}", e.what());
  }
}

}  // namespace sandgate::supervisor
