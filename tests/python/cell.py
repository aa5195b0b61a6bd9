"""The cell of the test matrix a Python test runs in, and the host peers the tests talk to.

ctest registers every module once per cell (CMakeLists.txt here): SANDGATE_TEST_IDENTITY is
root, user or user-nouserns, SANDGATE_TEST_PIPELINE bwrap or legacy, as for the C++ suite
(tests/helpers/identity.cc). In the user cells sandgate, and the example scripts that start it,
run as the unprivileged account (sandgate-test, or SANDGATE_TEST_USER) through setpriv, and
what that account must reach is copied where it can (a checkout under /root is closed to it).

user-nouserns (ctest's nouserns/legacy/...) is that account on a machine without user
namespaces, imitated as the C++ suite does: sandbox_probe (SANDGATE_TEST_PROBE) installs a
seccomp filter refusing new user namespaces, still as root, then setpriv drops to the account.
"""
from __future__ import annotations

import hashlib
import json
import http.server
import os
import pwd
import select
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import Optional

SOURCE_DIR = os.environ.get("SANDGATE_SOURCE_DIR",
                            os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(SOURCE_DIR, "clients", "python"))
import sandgate  # noqa: E402  (the library under test, from this checkout)

IDENTITY = os.environ.get("SANDGATE_TEST_IDENTITY", "root")
PIPELINE = os.environ.get("SANDGATE_TEST_PIPELINE", "bwrap")
# False in the cell of an ordinary user on a machine without user namespaces.
HAS_USER_NAMESPACES = IDENTITY != "user-nouserns"
# The C++ suite's helper; its `without-userns` is what takes user namespaces away.
PROBE = os.environ.get("SANDGATE_TEST_PROBE", "")
# Debian's interpreter, which every account can run (the suite's may live under /root).
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
COPIES = "/tmp/sandgate-test-bin"            # the C++ suite's place for the same copies


def cell_name() -> str:
    """The cell as ctest names it (IDENTITY/PIPELINE)."""
    return f"{IDENTITY if HAS_USER_NAMESPACES else 'nouserns'}/{PIPELINE}"


def account() -> tuple[Optional[tuple[int, int]], str]:
    """(uid, gid) the cell runs sandgate as (None: as the suite itself), or None and why the
    cell cannot run here."""
    if IDENTITY == "root":
        return (None, "") if os.geteuid() == 0 else (None, "the root cell needs the suite to run as root")
    if os.geteuid() != 0:                     # an ordinary user running the suite is the user cell
        return None, ""
    name = os.environ.get("SANDGATE_TEST_USER") or "sandgate-test"
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None, f"test user '{name}' does not exist: run scripts/create-test-user.sh"
    return (entry.pw_uid, entry.pw_gid), ""


def skip_reason() -> str:
    if IDENTITY not in ("root", "user", "user-nouserns") or PIPELINE not in ("bwrap", "legacy"):
        return f"unknown cell {cell_name()}"
    if not os.environ.get("SANDGATE_BINARY"):
        return "SANDGATE_BINARY is not set (ctest sets it to the built sandgate)"
    if not HAS_USER_NAMESPACES:
        if PIPELINE != "legacy":
            # bwrap needs user namespaces unless root (README, "Two pipelines").
            return "without user namespaces only the legacy pipeline runs"
        if not PROBE:
            return "SANDGATE_TEST_PROBE is not set (ctest sets it to the built sandbox_probe)"
    return account()[1]


def launcher() -> list[str]:
    """The argv put before a program so that it runs as the cell's account (and, in the cell
    without user namespaces, on an imitation of such a machine)."""
    # The filter fails unshare/clone with CLONE_NEWUSER (EPERM) and clone3 (ENOSYS) for the
    # program and all it starts. It goes on first, as root in a suite run as root; setpriv then
    # drops to the account under it. The probe execs what follows without a PATH search (every
    # path after it is absolute), so the program keeps the pid Popen returned.
    prefix = [] if HAS_USER_NAMESPACES else [PROBE, "without-userns"]
    ids, _ = account()
    if ids is None:
        return prefix
    uid, gid = ids
    return prefix + ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--"]


def hand_over(path: str) -> None:
    """Gives a test's file or directory to the cell's account, as a developer owns their own."""
    ids, _ = account()
    if ids is None:
        return
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), *ids)
    os.lchown(path, *ids)


def _others_reach(path: str) -> bool:
    st = os.stat(path)
    if st.st_mode & 0o005 != 0o005:
        return False
    directory = os.path.dirname(os.path.abspath(path))
    while True:
        if os.stat(directory).st_mode & 0o001 == 0:
            return False
        if directory == "/":
            return True
        directory = os.path.dirname(directory)


def _own_directory(path: str) -> None:
    # /tmp is everyone's: a directory another user made could hold binaries we then run as root.
    os.makedirs(path, mode=0o755, exist_ok=True)
    st = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise RuntimeError(f"{path} is not a directory of this user's that only it may write")


def _copy_in(files: list[tuple[str, str]], directory: str) -> None:
    """Copies (source, relative name) pairs into directory, each under a temporary name and
    renamed into place, so that parallel tests never run half a copy."""
    for source, name in files:
        target = os.path.join(directory, name)
        _own_directory(os.path.dirname(target))
        if os.path.exists(target):
            continue
        partial = f"{target}.partial-{os.getpid()}"
        shutil.copyfile(source, partial)
        os.chmod(partial, 0o755)
        os.rename(partial, target)


def sandgate_binary() -> str:
    """The sandgate to run, with sandgate-inner beside it, where the cell's account reaches
    both: the build's own when it may, else a copy named after the build as the C++ suite
    makes it (tests/helpers/identity.cc: the same directory, so both suites share one copy)."""
    built = os.environ["SANDGATE_BINARY"]
    if account()[0] is None or _others_reach(built):
        return built
    files = [os.path.join(os.path.dirname(built), "sandgate-inner"), built]
    stats = [os.stat(f) for f in files if os.path.exists(f)]
    build = "-".join(f"{st.st_size}-{st.st_mtime_ns // 10**9}-{st.st_mtime_ns % 10**9}"
                     for st in stats)
    directory = os.path.join(COPIES, "sandgate", build)
    for d in (COPIES, os.path.dirname(directory), directory):
        _own_directory(d)
    _copy_in([(f, os.path.basename(f)) for f in files if os.path.exists(f)], directory)
    return os.path.join(directory, "sandgate")


def script_tree() -> str:
    """A directory with clients/python/sandgate.py and examples/ that the cell's account can
    read: the checkout itself when it may, else a copy named by the files' contents."""
    names = ["clients/python/sandgate.py"] + [
        f"examples/{n}" for n in sorted(os.listdir(os.path.join(SOURCE_DIR, "examples")))
        if n.endswith(".py")]
    sources = [os.path.join(SOURCE_DIR, n) for n in names]
    if account()[0] is None or all(_others_reach(s) for s in sources):
        return SOURCE_DIR
    digest = hashlib.sha256()
    for source in sources:
        with open(source, "rb") as f:
            digest.update(f.read())
    directory = os.path.join(COPIES, "python", digest.hexdigest()[:16])
    for d in (COPIES, os.path.dirname(directory)):
        _own_directory(d)
    # Copies of earlier versions of these files are of no more use.
    for old in os.listdir(os.path.dirname(directory)):
        if old != os.path.basename(directory):
            shutil.rmtree(os.path.join(os.path.dirname(directory), old), ignore_errors=True)
    _own_directory(directory)
    _copy_in(list(zip(sources, names)), directory)
    return directory


def _without_default_roots(extra: list[str]) -> list[str]:
    """`extra` with --read-only --no-proc before it in the cell without user namespaces, unless
    it names writable roots, --read-only or a policy itself (tests/helpers/identity.cc,
    WithoutDefaultRoots): the default roots (the cwd and /tmp) need protections that take a mount
    namespace, and without one sandgate refuses them; a fresh /proc needs a PID namespace, so
    --no-proc is said explicitly and sandgate has no warning to print. A test that names roots
    or a policy gets what the user would: the refusal, unless it says --read-only itself."""
    if HAS_USER_NAMESPACES:
        return extra
    ours = extra[:extra.index("--")] if "--" in extra else extra
    if any(arg == "-w" or arg.startswith(("--writable-root", "--policy")) or arg == "--read-only"
           for arg in ours):
        return extra
    return ["--read-only"] + ([] if "--no-proc" in ours else ["--no-proc"]) + extra


def options(*extra: str) -> list[str]:
    """sandgate run options for this cell, then `extra`."""
    chosen = ["--pipeline", "legacy"] if PIPELINE == "legacy" else []
    return chosen + _without_default_roots(list(extra))


class ProtocolCheck:
    """Every line sandgate sends to these tests, checked against docs/protocol.schema.json's
    fromSandgate (the C++ suite's capture does the same for its controller, tests/schema). The
    reader thread only records; CellTest fails the test that saw an invalid line."""

    def __init__(self) -> None:
        import jsonschema  # Debian's python3-jsonschema, as tests/schema uses
        path = os.path.join(os.environ.get("SANDGATE_SOURCE_DIR", "."), "docs",
                            "protocol.schema.json")
        with open(path) as f:
            schema = json.load(f)
        self._validator = jsonschema.Draft202012Validator(
            {"$schema": schema.get("$schema"), "$defs": schema["$defs"],
             "$ref": "#/$defs/fromSandgate"})
        self._lock = threading.Lock()
        self.checked = 0
        self.invalid: list[str] = []

    def __call__(self, direction: str, line: bytes) -> None:
        if direction != "from_sandgate":
            return  # the tests' own lines include deliberately bad ones
        try:
            message = json.loads(line)
            errors = [e.message for e in self._validator.iter_errors(message)]
        except ValueError as e:
            errors = [f"not JSON: {e}"]
        with self._lock:
            self.checked += 1
            if errors:
                self.invalid.append(f"{line.decode('utf-8', 'replace').strip()}: {errors[0]}")

    def take_invalid(self) -> list[str]:
        with self._lock:
            invalid, self.invalid = self.invalid, []
        return invalid


PROTOCOL_CHECK = ProtocolCheck()


def session_options(**overrides) -> dict:
    """Keyword arguments for sandgate.Session / AsyncSession in this cell. sandgate runs in /tmp
    (every account may), as in the C++ suite; every line sandgate sends is checked against the
    protocol schema (PROTOCOL_CHECK)."""
    chosen = dict(sandgate=sandgate_binary(), launcher=launcher(), cwd="/tmp",
                  trace=PROTOCOL_CHECK)
    chosen.update(overrides)
    chosen["options"] = options(*overrides.get("options", ()))
    return chosen


def script_env(**extra: str) -> dict:
    """The environment for an example script run as the cell's account."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "SANDGATE": sandgate_binary(), "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(extra)
    return env


class CellTest(unittest.TestCase):
    """A test that needs real sandboxes: skipped by name, with the reason, where the cell
    cannot run."""

    def setUp(self) -> None:
        why = skip_reason()
        if why:
            self.skipTest(why)
        PROTOCOL_CHECK.take_invalid()  # a line of an earlier test is that test's
        self.addCleanup(self._no_invalid_protocol_lines)
        self.tmp = tempfile.mkdtemp(prefix="sandgate-py-", dir="/tmp")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)


    def _no_invalid_protocol_lines(self) -> None:
        invalid = PROTOCOL_CHECK.take_invalid()
        self.assertEqual(invalid, [], "sandgate sent lines the protocol schema rejects")


# ---- host peers ---------------------------------------------------------------------------

class HttpServer:
    """An HTTP server on the host's 127.0.0.1 answering 'served PATH' to every GET."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                owner.paths.append(self.path)
                body = f"served {self.path}\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that records each target it is asked for."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 8192:
                    chunk = self.request.recv(1)  # byte by byte: nothing past the head is taken
                    if not chunk:
                        return
                    head += chunk
                method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
                owner.targets.append(target)
                host, _, port = target.rpartition(":")
                try:
                    upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
                except OSError:
                    self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
                    return
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pair = [self.request, upstream]
                while True:
                    ready, _, _ = select.select(pair, [], [], 30)
                    if not ready:
                        break
                    for sock in ready:
                        data = sock.recv(65536)
                        if not data:
                            upstream.close()
                            return
                        (upstream if sock is self.request else self.request).sendall(data)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Dnsmasq:
    """A real dnsmasq on a free 127.0.0.1 port, authoritative for `records` (name -> IPv4)
    and for nothing else, as the sandboxes' --dns-upstream."""

    def __init__(self, records: dict[str, str], directory: str) -> None:
        binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.access(binary, os.X_OK):
            raise unittest.SkipTest("dnsmasq is not installed (scripts/install-deps.sh)")
        for _ in range(5):                    # a free port can be taken before dnsmasq binds it
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
            probe.close()
            conf = os.path.join(directory, "dnsmasq.conf")
            with open(conf, "w") as f:
                f.write(f"port={self.port}\nlisten-address=127.0.0.1\nbind-interfaces\n"
                        "no-resolv\nno-hosts\nlocal=/#/\npid-file=\n")
                if os.geteuid() == 0:
                    f.write("user=root\ngroup=root\n")
                for name, address in records.items():
                    f.write(f"host-record={name},{address}\n")
            self.process = subprocess.Popen([binary, "--keep-in-foreground", f"--conf-file={conf}"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._ready():
                return
            self.close()
        raise RuntimeError("dnsmasq did not start")

    def _ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait()
