#pragma once

#include <uv.h>

#include <array>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "approvals/protocol.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "supervisor/loop/uv_handle.h"

namespace sandgate::supervisor {

// `--approvals stdio`: the command's stdout and stderr are pipes that sandgate reads; every chunk
// becomes a process/output notification {stream, data, encoding?} for the controller (through
// `sink`, which is JsonRpcApprover::Notify in practice). Chunks are forwarded as they arrive,
// except that an unfinished UTF-8 character at the end of a chunk (at most 3 bytes) waits for
// the next chunk, so text split mid-character is not sent as base64.
//
// `done` runs once, when both streams have reached EOF (or failed) and everything read has gone
// to the sink: after it, sandbox/exited may follow. Loop thread only; `sink` and `done` may
// destroy the pump.
class OutputPump {
 public:
  using Sink = std::function<void(const std::string& method, const nlohmann::json& params)>;
  using Done = std::function<void()>;

  // Takes the read ends of the command's stdout and stderr pipes. An invalid fd counts as a
  // stream that has already ended.
  OutputPump(uv_loop_t* loop, base::UniqueFd stdout_read, base::UniqueFd stderr_read, Sink sink,
             Done done);
  ~OutputPump();
  OutputPump(const OutputPump&) = delete;
  OutputPump& operator=(const OutputPump&) = delete;

  // Starts reading. If both fds are invalid, `done` runs before Start returns. Call once.
  base::Status Start();
  // Stops reading without flushing (held-back bytes are dropped) and closes the pipes; `done`
  // does not run afterwards. Idempotent.
  void Close() noexcept;

  [[nodiscard]] bool Finished() const noexcept { return finished_; }

  // Puts `text` on `which` as if the command had written it, after everything the command has
  // written so far: both pipes are read first, synchronously, up to what they hold. A line
  // sandgate writes about the command (a denial, while the command waits in its syscall) so
  // lands in order with the command's own output. Dropped after the stream ended or Close.
  void Inject(approvals::OutputStream which, std::string text) noexcept;

 private:
  struct Stream {
    OutputPump* pump = nullptr;
    approvals::OutputStream which = approvals::OutputStream::kStdout;
    base::UniqueFd fd;  // until Start hands it to `pipe`
    UvHandle<uv_pipe_t>* pipe = nullptr;
    std::vector<char> buffer;
    std::string held;  // an unfinished UTF-8 character from the previous chunk
    bool ended = false;
  };

  base::Status StartStream(Stream& stream);
  // Returns false when the pump was closed or destroyed by the sink.
  bool OnData(Stream& stream, const char* data, std::size_t size) noexcept;
  // Reads what the pipe holds now without waiting (Inject). False when the pump went away.
  bool Drain(Stream& stream) noexcept;
  void OnEnd(Stream& stream) noexcept;
  bool Emit(Stream& stream, std::string data) noexcept;
  void MaybeFinish() noexcept;

  uv_loop_t* loop_;
  Sink sink_;
  Done done_;
  std::array<Stream, 2> streams_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  bool started_ = false;
  bool closed_ = false;
  bool finished_ = false;
};

}  // namespace sandgate::supervisor
