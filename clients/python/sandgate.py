"""Control sandgate from Python: run a command in a sandbox and decide its network connections.

sandgate holds every connect the sandboxed command makes and asks its controller over JSON-RPC
(SPEC.md, "Protocol"; docs/protocol.schema.json). This module is such a controller, with the
standard library only, in one file (Debian installs it as ``import sandgate``).

With a plain callback::

    import sandgate

    def decide(request: sandgate.ApprovalRequest) -> sandgate.Decision:
        if request.destination.host == "example.org":
            return sandgate.Decision.accept()
        return sandgate.Decision.decline()

    status = sandgate.run(["curl", "https://example.org"], decide)

With asyncio::

    async with sandgate.AsyncSession(["curl", "https://example.org"]) as session:
        async for request in session.requests():
            await request.accept()
        status = await session.wait()

Two transports (``transport=``):
  * ``"fd"`` (default): the protocol runs on a socketpair handed to sandgate as ``--approvals
    fd:N``; the command keeps this process's stdin, stdout and stderr (or those given).
  * ``"stdio"``: the protocol owns sandgate's stdin and stdout; the command's output arrives as
    ``ProcessOutput`` messages and its stdin is fed with ``write_stdin``.

Threads: each session reads sandgate in a background thread, so that a reply to one of our
requests (``terminate``, ``update_policy``...) is seen even while the caller's code is busy
deciding. Everything the caller sees is handed over in the order sandgate sent it.
"""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import queue
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from typing import (IO, Any, AsyncIterator, Awaitable, Callable, Generic, Iterator, Optional,
                    Sequence, TypeVar, Union)

__all__ = [
    "PROTOCOL_VERSION", "SandgateError", "SessionClosed", "Process", "Destination", "Decision",
    "ApprovalRequest", "AsyncApprovalRequest", "SandboxStarted", "NetworkDecision",
    "ApprovalCancelled", "ProcessOutput", "PolicySaved", "SandboxExited", "StderrLine",
    "OtherNotification", "Message", "Session", "AsyncSession", "run", "find_sandgate",
    "split_args",
]

PROTOCOL_VERSION = 1  # the protocolVersion sandbox/started announces for this protocol


# ---- errors -------------------------------------------------------------------------------

class SandgateError(Exception):
    """sandgate answered one of our requests with a JSON-RPC error (-32602 bad params, ...)."""

    def __init__(self, code: int, message: str, data: Any = None):
        # sandgate puts the particulars ("a bare * is rejected") in data: show them too.
        detail = f" ({data})" if isinstance(data, str) and data else ""
        super().__init__(f"sandgate error {code}: {message}{detail}")
        self.code = code
        self.message = message
        self.data = data


class SessionClosed(Exception):
    """The protocol connection ended (sandgate exited, or we hung up) before an answer came."""


# ---- what sandgate tells us ---------------------------------------------------------------

@dataclass(frozen=True)
class Process:
    """The process that made the attempt. ``pid`` is 0 for a --dns-strict name query."""
    pid: int
    exe: Optional[str] = None
    argv: tuple[str, ...] = ()
    cwd: Optional[str] = None

    @classmethod
    def from_json(cls, value: dict) -> "Process":
        return cls(pid=int(value.get("pid", 0)), exe=value.get("exe"),
                   argv=tuple(value.get("argv") or ()), cwd=value.get("cwd"))


@dataclass(frozen=True)
class Destination:
    """Where the attempt goes. ``host`` is the name the sandbox resolved for ``address`` (None
    when it resolved none, e.g. a literal IP); ``names`` is every such name, most recent first."""
    protocol: str                       # tcp, udp, unix
    family: str                         # inet, inet6, unix
    host: Optional[str] = None
    address: Optional[str] = None
    port: Optional[int] = None
    path: Optional[str] = None          # unix sockets
    names: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, value: dict) -> "Destination":
        return cls(protocol=value.get("protocol", ""), family=value.get("family", ""),
                   host=value.get("host"), address=value.get("address"), port=value.get("port"),
                   path=value.get("path"), names=tuple(value.get("names") or ()))

    def describe(self) -> str:
        """A one-line picture for people: ``tcp api.github.com [140.82.1.1]:443``."""
        if self.family == "unix":
            return f"{self.protocol} {self.path or self.address or '?'}"
        address = f"[{self.address}]" if self.family == "inet6" else (self.address or "?")
        where = f"{self.host} [{self.address}]" if self.host else address
        return f"{self.protocol} {where}" + (f":{self.port}" if self.port is not None else "")

    def rule(self) -> str:
        """The RULE (SPEC, Rules) that names exactly this destination: host name when known,
        else the address, with the port; ``unix:PATH`` for a unix socket. This is what an
        amendment or an ``--allow`` should carry to cover this destination again."""
        if self.family == "unix":
            return f"unix:{self.path or self.address}"
        if self.host:
            where = self.host
        elif self.family == "inet6":
            where = f"[{self.address}]"
        else:
            where = str(self.address)
        return where + (f":{self.port}" if self.port else "")


@dataclass(frozen=True)
class SandboxStarted:
    """sandbox/started: the command runs. ``pid`` is the command's (in the host's PID space)."""
    protocol_version: int
    pid: int
    pipeline: str
    network: str


@dataclass(frozen=True)
class NetworkDecision:
    """network/decision: one attempt was decided (by a rule, by us, by the session memory...)."""
    process_pid: int
    destination: Destination
    decision: str                       # allow, deny, route
    source: str                         # policy, user, session, timeout, default, cancelled
    approval_id: Optional[str] = None
    rule: Optional[str] = None
    proxy: Optional[str] = None         # route: the proxy used, password redacted


@dataclass(frozen=True)
class ApprovalCancelled:
    """network/approvalCancelled: a request no longer needs an answer (process_exited, ...)."""
    approval_id: str
    reason: str


@dataclass(frozen=True)
class ProcessOutput:
    """process/output (stdio transport only): bytes the command wrote, and sandgate's denial
    lines ("sandgate: denied tcp connect to ...") in order with them on stderr."""
    stream: str                         # stdout, stderr
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class PolicySaved:
    """policy/saved: a persisting amendment went to ``file`` (or, with ``error``, did not and
    holds for this session only)."""
    host: str
    action: str
    file: str
    error: Optional[str] = None


@dataclass(frozen=True)
class SandboxExited:
    """sandbox/exited: the last message. ``exit_code`` is sandgate's exit status to be."""
    exit_code: int
    signal: Optional[str] = None


@dataclass(frozen=True)
class StderrLine:
    """A line from sandgate's stderr, when the session was made with ``capture_stderr=True``:
    sandgate's own one-line failures (exit 125) and logs; in the fd transport also the
    command's stderr, which it shares."""
    text: str


@dataclass(frozen=True)
class OtherNotification:
    """A notification this module does not know (a newer sandgate), or an error sandgate sent
    about no request of ours (id null); passed on rather than dropped."""
    method: str
    params: Any


def _notification(method: str, params: dict) -> Any:
    # One constructor per method of SPEC's table; anything else is passed through unparsed.
    if method == "sandbox/started":
        return SandboxStarted(int(params.get("protocolVersion", 0)), int(params.get("pid", 0)),
                              params.get("pipeline", ""), params.get("network", ""))
    if method == "network/decision":
        return NetworkDecision(int((params.get("process") or {}).get("pid", 0)),
                               Destination.from_json(params.get("destination") or {}),
                               params.get("decision", ""), params.get("source", ""),
                               params.get("approvalId"), params.get("rule"), params.get("proxy"))
    if method == "network/approvalCancelled":
        return ApprovalCancelled(params.get("approvalId", ""), params.get("reason", ""))
    if method == "process/output":
        data = params.get("data", "")
        raw = base64.b64decode(data) if params.get("encoding") == "base64" else data.encode()
        return ProcessOutput(params.get("stream", ""), raw)
    if method == "policy/saved":
        return PolicySaved(params.get("host", ""), params.get("action", ""),
                           params.get("file", ""), params.get("error"))
    if method == "sandbox/exited":
        return SandboxExited(int(params.get("exitCode", 0)), params.get("signal"))
    return OtherNotification(method, params)


# ---- what we answer -----------------------------------------------------------------------

class Decision:
    """An answer to a network/requestApproval. Build one with the class methods; ``wire`` is
    the JSON value sent as ``{"decision": wire}``."""
    __slots__ = ("wire",)

    def __init__(self, wire: Union[str, dict]):
        self.wire = wire

    @classmethod
    def accept(cls) -> "Decision":
        """Allow this attempt only."""
        return cls("accept")

    @classmethod
    def accept_for_session(cls) -> "Decision":
        """Allow it, and the same host/address, protocol and port for the rest of the run."""
        return cls("acceptForSession")

    @classmethod
    def decline(cls) -> "Decision":
        """Refuse this attempt (EPERM; sandgate writes a denial line on the command's stderr)."""
        return cls("decline")

    @classmethod
    def decline_for_session(cls) -> "Decision":
        """Refuse it and every later attempt at the same destination, without asking."""
        return cls("declineForSession")

    @classmethod
    def cancel(cls) -> "Decision":
        """Refuse it and end the sandbox."""
        return cls("cancel")

    @classmethod
    def route(cls, proxy: Optional[str] = None) -> "Decision":
        """Connect through a proxy (``http://`` or ``socks5://`` URL; None: sandgate's --proxy)."""
        return cls({"route": {"proxy": proxy} if proxy else {}})

    @classmethod
    def apply_network_policy_amendment(cls, host: str, action: str = "allow",
                                       persist: bool = False) -> "Decision":
        """Add RULE ``host`` as an ``allow`` or ``deny`` rule for the rest of the session (this
        attempt is decided by it); with ``persist`` also save it to the policy file
        (--policy-save, else --policy) for later runs: a PolicySaved message follows."""
        if action not in ("allow", "deny"):
            raise ValueError(f"action must be 'allow' or 'deny', not {action!r}")
        return cls({"applyNetworkPolicyAmendment":
                    {"host": host, "action": action, "persist": bool(persist)}})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Decision) and other.wire == self.wire

    def __hash__(self) -> int:
        return hash(json.dumps(self.wire, sort_keys=True))

    def __repr__(self) -> str:
        return f"Decision({self.wire!r})"


R = TypeVar("R")


class _Answers(Generic[R]):
    """The answers every request offers, each a shorthand for ``answer(Decision.X(...))``; R is
    what ``answer`` returns (None for the blocking request, an awaitable for the async one)."""

    def answer(self, decision: Decision) -> R:
        raise NotImplementedError

    def accept(self) -> R:
        return self.answer(Decision.accept())

    def accept_for_session(self) -> R:
        return self.answer(Decision.accept_for_session())

    def decline(self) -> R:
        return self.answer(Decision.decline())

    def decline_for_session(self) -> R:
        return self.answer(Decision.decline_for_session())

    def cancel(self) -> R:
        return self.answer(Decision.cancel())

    def route(self, proxy: Optional[str] = None) -> R:
        return self.answer(Decision.route(proxy))

    def apply_network_policy_amendment(self, host: str, action: str = "allow",
                                       persist: bool = False) -> R:
        return self.answer(Decision.apply_network_policy_amendment(host, action, persist))


@dataclass
class _RequestFields:
    """network/requestApproval's params. ``reason`` is ``not_allowed``, or ``dns_query`` for a
    --dns-strict name asked about before it is resolved (then only destination.host is set)."""
    approval_id: str
    process: Process
    destination: Destination
    reason: str
    available_decisions: tuple[str, ...]
    _reply: Callable[[Decision], None] = field(repr=False, compare=False)
    answered: Optional[Decision] = field(default=None, compare=False)

    def _send(self, decision: Decision) -> None:
        # sandgate takes the first answer and ignores the rest; refusing a second one here
        # tells the caller about its own mistake instead.
        if self.answered is not None:
            raise RuntimeError(f"approval {self.approval_id} was answered already "
                               f"({self.answered!r})")
        if not isinstance(decision, Decision):
            raise TypeError(f"expected a Decision, got {decision!r}")
        self.answered = decision
        self._reply(decision)


@dataclass
class ApprovalRequest(_RequestFields, _Answers[None]):
    """A held connection waiting for our answer (blocking API: ``request.accept()``)."""

    def answer(self, decision: Decision) -> None:
        self._send(decision)


@dataclass
class AsyncApprovalRequest(_RequestFields, _Answers[Awaitable[None]]):
    """The same request for asyncio code: ``await request.accept()``."""

    async def answer(self, decision: Decision) -> None:  # type: ignore[override]
        self._send(decision)  # one short line on a local socket: no need to leave the loop


Message = Union[ApprovalRequest, AsyncApprovalRequest, SandboxStarted, NetworkDecision,
                ApprovalCancelled, ProcessOutput, PolicySaved, SandboxExited, StderrLine,
                OtherNotification]


# ---- starting sandgate --------------------------------------------------------------------

def find_sandgate() -> str:
    """$SANDGATE; else, when this file sits in a checkout, that checkout's build; else PATH."""
    explicit = os.environ.get("SANDGATE")
    if explicit:
        return explicit
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, "..", "..", "build", "supervisor", "sandgate")
    if os.access(built, os.X_OK):
        return os.path.normpath(built)
    on_path = shutil.which("sandgate")
    if on_path:
        return on_path
    raise FileNotFoundError("sandgate not found: set SANDGATE or put it on PATH")


def split_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``[SANDGATE-OPTIONS] -- COMMAND...`` -> (options, command), as ``sandgate run`` reads
    them. Without a leading option, everything is the command (so ``git diff -- f`` stays
    whole)."""
    argv = list(argv)
    if argv and argv[0].startswith("-") and "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1:]
    if argv and argv[0] == "--":
        return [], argv[1:]
    return [], argv


_END = object()  # put on the inbox once nothing more will come


class _Connection:
    """One sandgate process and its protocol stream: spawning, the reader threads, writing and
    matching our requests with their responses. ``deliver`` gets every message in order, then
    _END; it is called from the reader threads."""

    def __init__(self, command: Sequence[str], *, deliver: Callable[[Any], None],
                 request_type: type, options: Sequence[str] = (), transport: str = "fd",
                 sandgate: Optional[str] = None, launcher: Sequence[str] = (),
                 cwd: Optional[str] = None, env: Optional[dict] = None,
                 stdin: Any = None, stdout: Any = None, stderr: Any = None,
                 capture_stderr: bool = False, start_new_session: bool = False,
                 trace: Optional[Callable[[str, bytes], None]] = None):
        if transport not in ("fd", "stdio"):
            raise ValueError(f"transport must be 'fd' or 'stdio', not {transport!r}")
        if capture_stderr and stderr is not None:
            raise ValueError("give either stderr or capture_stderr")
        self._deliver = deliver
        self._request_type = request_type
        # Every raw protocol line, ("from_sandgate" | "to_sandgate", line), for logs and checks.
        self._trace = trace
        self._lock = threading.Lock()          # one writer at a time: lines must not interleave
        self._pending: dict[int, concurrent.futures.Future] = {}
        self._next_id = 1
        self._closed = False
        self.started: Optional[SandboxStarted] = None
        self.exited: Optional[SandboxExited] = None
        binary = sandgate or find_sandgate()
        popen: dict[str, Any] = dict(cwd=cwd, env=env, start_new_session=start_new_session,
                                     stderr=subprocess.PIPE if capture_stderr else stderr)
        if transport == "fd":
            ours, theirs = socket.socketpair()
            fd = theirs.fileno()
            argv = [*launcher, binary, "run", "--approvals", f"fd:{fd}", *options, "--",
                    *command]
            try:
                self.process = subprocess.Popen(argv, pass_fds=(fd,), stdin=stdin,
                                                stdout=stdout, **popen)
            finally:
                theirs.close()  # sandgate holds its own copy; ours would hide its hang-up
            self._socket: Optional[socket.socket] = ours
            self._input: IO[bytes] = ours.makefile("rb")
        else:
            if stdin is not None or stdout is not None:
                raise ValueError("the stdio transport owns sandgate's stdin and stdout")
            argv = [*launcher, binary, "run", "--approvals", "stdio", *options, "--", *command]
            self.process = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, **popen)
            self._socket = None
            self._input = self.process.stdout  # type: ignore[assignment]
        self.argv = argv
        readers = [self._read_protocol] + ([self._read_stderr] if capture_stderr else [])
        self._readers_left = len(readers)
        for target in readers:
            threading.Thread(target=target, name="sandgate-reader", daemon=True).start()

    # -- reading --

    def _read_protocol(self) -> None:
        try:
            for line in self._input:
                if line.strip():
                    self._handle(line)
        except (OSError, ValueError):
            pass  # the stream broke: the same as its end
        finally:
            self._fail_pending(SessionClosed("sandgate closed the protocol stream"))
            self._input.close()  # at its end: nothing more will come
            self._reader_done()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        try:
            for line in self.process.stderr:
                self._deliver(StderrLine(line.decode("utf-8", "replace").rstrip("\n")))
        except (OSError, ValueError):
            pass
        finally:
            self.process.stderr.close()
            self._reader_done()

    def _reader_done(self) -> None:
        with self._lock:
            self._readers_left -= 1
            last = self._readers_left == 0
        if last:
            self._deliver(_END)

    def _handle(self, line: bytes) -> None:
        if self._trace is not None:
            self._trace("from_sandgate", line)
        try:
            message = json.loads(line)
        except ValueError:
            self._deliver(OtherNotification("(unparsable line)", line.decode("utf-8", "replace")))
            return
        if not isinstance(message, dict):
            return
        method = message.get("method")
        if method is None:                      # a response to one of our requests
            self._resolve(message)
            return
        params = message.get("params") or {}
        if "id" not in message:
            notification = _notification(method, params)
            if isinstance(notification, SandboxStarted):
                self.started = notification
            elif isinstance(notification, SandboxExited):
                self.exited = notification
            self._deliver(notification)
        elif method == "network/requestApproval":
            request_id = message["id"]
            self._deliver(self._request_type(
                approval_id=params.get("approvalId", ""),
                process=Process.from_json(params.get("process") or {}),
                destination=Destination.from_json(params.get("destination") or {}),
                reason=params.get("reason", ""),
                available_decisions=tuple(params.get("availableDecisions") or ()),
                _reply=lambda decision: self._send(
                    {"id": request_id, "result": {"decision": decision.wire}})))
        else:
            # A request we do not know: JSON-RPC says to answer it, so sandgate is not left
            # waiting.
            self._send({"id": message["id"],
                        "error": {"code": -32601, "message": f"{method} is not known here"}})

    def _resolve(self, message: dict) -> None:
        request_id = message.get("id")
        future = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        error = message.get("error")
        if future is None:
            # An error about no request of ours (a line sandgate could not read: id null).
            if error is not None:
                self._deliver(OtherNotification("(error)", error))
            return
        if error is not None:
            future.set_exception(SandgateError(int(error.get("code", 0)),
                                               str(error.get("message", "")), error.get("data")))
        else:
            future.set_result(message.get("result"))

    def _fail_pending(self, error: Exception) -> None:
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    # -- writing --

    def _send(self, message: dict) -> None:
        line = (json.dumps({"jsonrpc": "2.0", **message}, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self._closed:
                raise SessionClosed("the protocol stream is closed")
            if self._trace is not None:
                self._trace("to_sandgate", line)
            try:
                if self._socket is not None:
                    self._socket.sendall(line)
                else:
                    assert self.process.stdin is not None
                    self.process.stdin.write(line)
                    self.process.stdin.flush()
            except OSError as e:
                raise SessionClosed(f"sandgate is gone: {e}") from e

    def start_call(self, method: str, params: Optional[dict]) -> concurrent.futures.Future:
        """Sends a request; the future gets its result, a SandgateError or SessionClosed."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            request_id = self._next_id
            self._next_id += 1
            self._pending[request_id] = future
        message: dict = {"id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            self._send(message)
        except SessionClosed as e:
            with self._lock:
                self._pending.pop(request_id, None)
            future.set_exception(e)
        return future

    def hang_up(self) -> None:
        """Ends our side of the stream: sandgate then declines what is pending and ends the
        sandbox (SPEC). Reading goes on until sandgate has said its last."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._socket is not None:
                    self._socket.shutdown(socket.SHUT_WR)
                elif self.process.stdin is not None:
                    self.process.stdin.close()
            except OSError:
                pass

    def wait(self, timeout: Optional[float] = None) -> int:
        code = self.process.wait(timeout)
        with self._lock:  # sandgate is gone: nothing can be written to it any more
            self._closed = True
            if self._socket is not None:
                self._socket.close()  # the reader's file keeps the fd until it is done
            elif self.process.stdin is not None:
                self.process.stdin.close()
        # A sandgate killed by a signal reads as the shell would report it.
        return 128 - code if code < 0 else code


def _stdin_params(data: Union[str, bytes], close: bool) -> dict:
    params: dict = {"close": close}
    if isinstance(data, str):
        data = data.encode()
    if data:
        try:
            params["data"] = data.decode("utf-8")
        except UnicodeDecodeError:  # the protocol carries text; other bytes go as base64
            params["data"] = base64.b64encode(data).decode()
            params["encoding"] = "base64"
    return params


def _update_params(allow: Sequence[str], deny: Sequence[str], route: Sequence[str]) -> dict:
    return {key: list(rules) for key, rules in (("allow", allow), ("deny", deny),
                                                ("route", route)) if rules}


# ---- the blocking API ---------------------------------------------------------------------

class Session:
    """A sandbox under this controller, blocking API. Arguments:

    command: the command and its arguments, run inside the sandbox.
    options: ``sandgate run`` options, e.g. ``["--allow", "pypi.org:443", "--pipeline",
        "legacy"]`` (not --approvals: the session chooses it).
    transport: "fd" (default) or "stdio", see the module's doc.
    sandgate: the binary (default: find_sandgate()); launcher: argv put before it, e.g. a
        setpriv line that runs sandgate as another user.
    cwd, env, stdin, stdout, stderr, start_new_session: as for subprocess.Popen (stdin and
        stdout only in the fd transport); capture_stderr: sandgate's stderr as StderrLine
        messages; trace: called with ("from_sandgate" or "to_sandgate", raw line) for every
        protocol line, from the reader thread or the writer (keep it quick).

    Leaving a ``with`` block hangs up, which ends a sandbox still running, and waits for it.
    """

    def __init__(self, command: Sequence[str], **options: Any):
        self._inbox: "queue.Queue[Any]" = queue.Queue()
        self._ended = False
        self._connection = _Connection(command, deliver=self._inbox.put,
                                       request_type=ApprovalRequest, **options)
        self.process = self._connection.process

    @property
    def started(self) -> Optional[SandboxStarted]:
        return self._connection.started

    @property
    def exited(self) -> Optional[SandboxExited]:
        return self._connection.exited

    def next_message(self, timeout: Optional[float] = None) -> Optional[Message]:
        """The next message, or None once sandgate has said its last. Raises queue.Empty
        after ``timeout`` seconds without one."""
        if self._ended:
            return None
        message = self._inbox.get(timeout=timeout)
        if message is _END:
            self._ended = True
            return None
        return message

    def messages(self) -> Iterator[Message]:
        """Every message in order, until the last."""
        while (message := self.next_message()) is not None:
            yield message

    def run(self, decide: Callable[[ApprovalRequest], Optional[Decision]],
            on_notification: Optional[Callable[[Any], None]] = None) -> int:
        """Answers every request with ``decide(request)`` until the sandbox ends, passes every
        other message to ``on_notification``, and returns the exit status. ``decide`` runs in
        this thread and may take its time (sandgate waits, up to --approval-timeout); if it
        returns None without answering, the request is declined."""
        for message in self.messages():
            if isinstance(message, ApprovalRequest):
                decision = decide(message)
                if message.answered is None:
                    message.answer(decision if decision is not None else Decision.decline())
            elif on_notification is not None:
                on_notification(message)
        return self.wait()

    def call(self, method: str, params: Optional[dict] = None,
             timeout: Optional[float] = 30) -> Any:
        """Sends any controller->sandgate request and returns its result; a JSON-RPC error
        raises SandgateError. Safe from any thread, also from inside ``decide``."""
        return self._connection.start_call(method, params).result(timeout)

    def terminate(self, signal: Union[str, int] = "SIGTERM") -> None:
        """sandbox/terminate: sends the signal to the command."""
        self.call("sandbox/terminate", {"signal": signal})

    def update_policy(self, allow: Sequence[str] = (), deny: Sequence[str] = (),
                      route: Sequence[str] = ()) -> None:
        """policy/update: adds rules for the rest of the session (a bad rule: SandgateError)."""
        self.call("policy/update", _update_params(allow, deny, route))

    def write_stdin(self, data: Union[str, bytes] = b"", close: bool = False) -> None:
        """process/writeStdin (stdio transport): feeds the command's stdin; ``close`` ends it."""
        self.call("process/writeStdin", _stdin_params(data, close))

    def hang_up(self) -> None:
        self._connection.hang_up()

    def wait(self, timeout: Optional[float] = None) -> int:
        """The exit status: the command's own, 128+N for signal N, 125 for sandgate's failures."""
        return self._connection.wait(timeout)

    def close(self) -> int:
        """Hangs up (ending the sandbox if it still runs) and returns the exit status."""
        self.hang_up()
        return self.wait()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run(command: Sequence[str], decide: Callable[[ApprovalRequest], Optional[Decision]],
        *, on_notification: Optional[Callable[[Any], None]] = None, **options: Any) -> int:
    """Runs ``command`` in a sandbox, answers each request with ``decide``, returns the exit
    status. ``options`` are Session's."""
    with Session(command, **options) as session:
        return session.run(decide, on_notification)


# ---- the asyncio API ----------------------------------------------------------------------

class AsyncSession:
    """The same as Session for asyncio code; make it inside a running loop. Messages are
    handed from the reader threads to the loop, requests arrive as AsyncApprovalRequest.

    ``on_notification``: called on the loop for every message that is not a request while
    ``requests()`` is iterated (messages() yields them instead)."""

    def __init__(self, command: Sequence[str], *,
                 on_notification: Optional[Callable[[Any], None]] = None, **options: Any):
        self._loop = asyncio.get_running_loop()
        self._inbox: "asyncio.Queue[Any]" = asyncio.Queue()
        self._ended = False
        self.on_notification = on_notification
        self._connection = _Connection(
            command, request_type=AsyncApprovalRequest,
            deliver=lambda m: self._loop.call_soon_threadsafe(self._inbox.put_nowait, m),
            **options)
        self.process = self._connection.process

    @property
    def started(self) -> Optional[SandboxStarted]:
        return self._connection.started

    @property
    def exited(self) -> Optional[SandboxExited]:
        return self._connection.exited

    async def next_message(self) -> Optional[Message]:
        """The next message, or None once sandgate has said its last."""
        if self._ended:
            return None
        message = await self._inbox.get()
        if message is _END:
            self._ended = True
            return None
        return message

    async def messages(self) -> AsyncIterator[Message]:
        while (message := await self.next_message()) is not None:
            yield message

    async def requests(self) -> AsyncIterator[AsyncApprovalRequest]:
        """Only the approval requests; the rest goes to on_notification."""
        async for message in self.messages():
            if isinstance(message, AsyncApprovalRequest):
                yield message
            elif self.on_notification is not None:
                self.on_notification(message)

    async def call(self, method: str, params: Optional[dict] = None) -> Any:
        return await asyncio.wrap_future(self._connection.start_call(method, params))

    async def terminate(self, signal: Union[str, int] = "SIGTERM") -> None:
        await self.call("sandbox/terminate", {"signal": signal})

    async def update_policy(self, allow: Sequence[str] = (), deny: Sequence[str] = (),
                            route: Sequence[str] = ()) -> None:
        await self.call("policy/update", _update_params(allow, deny, route))

    async def write_stdin(self, data: Union[str, bytes] = b"", close: bool = False) -> None:
        await self.call("process/writeStdin", _stdin_params(data, close))

    def hang_up(self) -> None:
        self._connection.hang_up()

    async def wait(self) -> int:
        # waitpid blocks, so it waits in a worker thread rather than on the loop.
        return await asyncio.to_thread(self._connection.wait)

    async def close(self) -> int:
        self.hang_up()
        return await self.wait()

    async def __aenter__(self) -> "AsyncSession":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
