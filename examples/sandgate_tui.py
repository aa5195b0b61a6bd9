#!/usr/bin/env python3
"""A terminal controller for sandgate: watch sandboxed commands and answer their connections.

usage: sandgate_tui.py [--proxy URL] [--sandgate PATH] [--exit-when-done] [SANDGATE-OPTIONS...]
                       -- COMMAND [ARG...] [::: COMMAND [ARG...]]...

Each COMMAND (separated by a lone ':::') runs in a sandbox of its own, all at once, with the
same SANDGATE-OPTIONS (any `sandgate run` option but --approvals, e.g. --policy FILE,
--policy-save FILE, --pipeline legacy, --allow RULE). A command is an argv, not a shell line:
use sh -c '...' for pipes.

The screen: the sandboxes as tabs on the top line, the current one's output (stdout, stderr,
sandgate's denial lines and decisions) in the upper pane, its pending connection requests
(process pid, exe, argv; destination host, address, port, protocol) in the lower pane.

keys (for the selected request of the current sandbox):
  y  accept once               a  accept for the session
  p  always allow: for the session and saved to the policy file (--policy-save or --policy)
  n  decline once              d  decline for the session
  r  route through the proxy given with --proxy
  c  cancel: decline and end that sandbox
  up/down  select a request    Tab, right/left, 1-9  switch sandbox
  k  end the current sandbox (SIGTERM)          q  quit (ends every sandbox still running)

--proxy URL        http:// or socks5:// proxy for 'r' (also passed to sandgate as --proxy)
--sandgate PATH    the sandgate binary (default: $SANDGATE, this checkout's build, then PATH)
--exit-when-done   quit by itself once every sandbox has ended

Exit status: the first non-zero exit status among the sandboxes in command-line order, else 0.
The terminal is put back on every way out (q, Ctrl-C, SIGTERM, SIGHUP, an error).
"""
from __future__ import annotations

import asyncio
import curses
import locale
import os
import signal
import sys
from typing import Any, Callable, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import sandgate  # noqa: E402

SEPARATOR = ":::"
MAX_LINES = 5000          # output kept per sandbox: enough to scroll back through, bounded
HELP = "y once a session p always n no d no-session r route c cancel k end Tab switch q quit"


class Usage(Exception):
    pass


def parse_args(argv: list[str]) -> tuple[dict, list[str], list[list[str]]]:
    """-> (our settings, sandgate options, commands). Parsed by hand because everything that
    is not ours goes to sandgate unchanged, values and all."""
    settings: dict[str, Any] = {"proxy": None, "sandgate": None, "exit_when_done": False}
    options: list[str] = []
    i = 0
    while i < len(argv) and argv[i] != "--":
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if arg in ("-h", "--help"):
            raise Usage()
        if name in ("--proxy", "--sandgate"):
            if not eq:
                i += 1
                if i >= len(argv):
                    raise Usage(f"{name} needs a value")
                value = argv[i]
            settings[name[2:]] = value
        elif arg == "--exit-when-done":
            settings["exit_when_done"] = True
        elif name == "--approvals":
            raise Usage("--approvals is the TUI's own: it speaks the protocol over stdio")
        else:
            options.append(arg)
        i += 1
    if i >= len(argv):
        raise Usage("no command: put it after --")
    commands: list[list[str]] = [[]]
    for arg in argv[i + 1:]:
        if arg == SEPARATOR:
            commands.append([])
        else:
            commands[-1].append(arg)
    if any(not command for command in commands):
        raise Usage(f"an empty command around '{SEPARATOR}'")
    if settings["proxy"]:
        options += ["--proxy", settings["proxy"]]
    return settings, options, commands


def printable(text: str) -> str:
    """What a command or a host name may print must not steer our terminal: control
    characters become '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


class Sandbox:
    """One command, its session, its output and its pending requests."""

    def __init__(self, number: int, command: list[str]):
        self.number = number
        self.command = command
        self.session: Optional[sandgate.AsyncSession] = None
        self.lines: list[tuple[str, int]] = []     # (text, curses attribute)
        self.partial: dict[str, str] = {}          # per stream: the line not yet ended
        self.pending: list[sandgate.AsyncApprovalRequest] = []
        self.selected = 0
        self.status: Optional[int] = None

    def add_line(self, text: str, attr: int = 0) -> None:
        self.lines.append((printable(text), attr))
        del self.lines[:-MAX_LINES]

    def add_output(self, stream: str, text: str, attr: int) -> None:
        # Output arrives in chunks that need not end at a newline: hold the last piece back
        # until it does, so a line is shown whole. Each stream has its own piece.
        text = self.partial.pop(stream, "") + text.replace("\r\n", "\n")
        *whole, rest = text.split("\n")
        for line in whole:
            self.add_line(line, attr)
        if rest:
            self.partial[stream] = rest

    def flush_output(self) -> None:
        for stream in list(self.partial):
            self.add_line(self.partial.pop(stream))

    def title(self) -> str:
        state = "running" if self.status is None else f"exit {self.status}"
        waiting = f", {len(self.pending)} pending" if self.pending else ""
        return f"{self.number}:{' '.join(self.command)[:24]} [{state}{waiting}]"


class App:
    def __init__(self, screen: Any, settings: dict, options: list[str],
                 commands: list[list[str]]):
        self.screen = screen
        self.settings = settings
        self.options = options
        self.sandboxes = [Sandbox(i + 1, c) for i, c in enumerate(commands)]
        self.current = 0
        self.done = asyncio.Event()
        self.redraw_scheduled = False
        self.loop = asyncio.get_running_loop()
        self.notice = ""

    # -- running the sandboxes --

    async def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self.loop.add_signal_handler(signum, self.done.set)
        self.loop.add_signal_handler(signal.SIGWINCH, self.resize)
        self.loop.add_reader(sys.stdin.fileno(), self.on_keys)
        followers = [asyncio.create_task(self.follow(sb)) for sb in self.sandboxes]
        self.redraw()
        try:
            await self.done.wait()
        finally:
            self.loop.remove_reader(sys.stdin.fileno())
            # Hanging up ends every sandbox still running (sandgate kills it); then wait for
            # them, so none outlives us.
            for sb in self.sandboxes:
                if sb.session is not None:
                    sb.session.hang_up()
            await asyncio.wait(followers, timeout=10)
        return next((sb.status for sb in self.sandboxes if sb.status), 0)

    async def follow(self, sb: Sandbox) -> None:
        try:
            sb.session = sandgate.AsyncSession(
                sb.command, options=self.options, transport="stdio",
                sandgate=self.settings["sandgate"], capture_stderr=True,
                # Ctrl-C at this terminal is for us: sandgate must not get it too.
                start_new_session=True)
        except OSError as e:
            sb.add_line(f"[tui] cannot start sandgate: {e}", curses.A_BOLD)
            sb.status = 125
        else:
            async for message in sb.session.messages():
                self.handle(sb, message)
                self.redraw()
            sb.flush_output()
            sb.status = await sb.session.wait()
            sb.pending.clear()
        if self.settings["exit_when_done"] and all(s.status is not None for s in self.sandboxes):
            self.done.set()
        self.redraw()

    def handle(self, sb: Sandbox, m: Any) -> None:
        if isinstance(m, sandgate.AsyncApprovalRequest):
            sb.pending.append(m)
        elif isinstance(m, sandgate.ProcessOutput):
            sb.add_output(m.stream, m.text, curses.A_BOLD if m.stream == "stderr" else 0)
        elif isinstance(m, sandgate.NetworkDecision):
            rule = f" by {m.rule}" if m.rule else ""
            sb.add_line(f"[sandgate] {m.decision} {m.destination.describe()} ({m.source}{rule})",
                        curses.A_DIM)
        elif isinstance(m, sandgate.ApprovalCancelled):
            sb.pending = [r for r in sb.pending if r.approval_id != m.approval_id]
        elif isinstance(m, sandgate.PolicySaved):
            outcome = f"not saved: {m.error}" if m.error else f"saved to {m.file}"
            sb.add_line(f"[sandgate] {m.action} {m.host} {outcome}", curses.A_DIM)
        elif isinstance(m, sandgate.SandboxExited):
            signal_name = f" ({m.signal})" if m.signal else ""
            sb.add_line(f"[sandgate] exited with {m.exit_code}{signal_name}", curses.A_DIM)
        elif isinstance(m, sandgate.StderrLine):
            sb.add_line(f"[sandgate stderr] {m.text}", curses.A_DIM)
        elif isinstance(m, sandgate.SandboxStarted):
            sb.add_line(f"[sandgate] started pid {m.pid} ({m.pipeline}, network {m.network})",
                        curses.A_DIM)

    # -- keys --

    def on_keys(self) -> None:
        while (key := self.screen.getch()) != -1:
            self.on_key(key)
        self.redraw()

    def on_key(self, key: int) -> None:
        sb = self.sandboxes[self.current]
        self.notice = ""
        if key in (ord("q"), ord("Q")):
            self.done.set()
        elif key in (ord("\t"), curses.KEY_RIGHT):
            self.current = (self.current + 1) % len(self.sandboxes)
        elif key in (curses.KEY_BTAB, curses.KEY_LEFT):
            self.current = (self.current - 1) % len(self.sandboxes)
        elif ord("1") <= key <= ord("9") and key - ord("1") < len(self.sandboxes):
            self.current = key - ord("1")
        elif key == curses.KEY_UP:
            sb.selected = max(0, sb.selected - 1)
        elif key == curses.KEY_DOWN:
            sb.selected = min(max(0, len(sb.pending) - 1), sb.selected + 1)
        elif key == ord("k"):
            if sb.session is not None and sb.status is None:
                self.spawn(sb, sb.session.terminate())
        elif key == curses.KEY_RESIZE:
            pass
        elif 0 <= key < 256 and (decide := self.decision_for(chr(key), sb)) is not None:
            self.answer(sb, decide)

    def decision_for(self, key: str,
                     sb: Sandbox) -> Optional[Callable[[sandgate.AsyncApprovalRequest], Any]]:
        simple = {"y": sandgate.Decision.accept, "a": sandgate.Decision.accept_for_session,
                  "n": sandgate.Decision.decline, "d": sandgate.Decision.decline_for_session,
                  "c": sandgate.Decision.cancel}
        if key in simple:
            return lambda request: simple[key]()
        if key == "p":
            # The rule names this very destination (host name when known) and port.
            return lambda request: sandgate.Decision.apply_network_policy_amendment(
                request.destination.rule(), "allow", persist=True)
        if key == "r":
            if not self.settings["proxy"]:
                self.notice = "no proxy: start the TUI with --proxy URL to route"
                return None
            return lambda request: sandgate.Decision.route(self.settings["proxy"])
        return None

    def answer(self, sb: Sandbox, make: Callable[[Any], sandgate.Decision]) -> None:
        if not sb.pending:
            self.notice = "nothing pending in this sandbox"
            return
        sb.selected = min(sb.selected, len(sb.pending) - 1)
        request = sb.pending.pop(sb.selected)
        sb.selected = min(sb.selected, max(0, len(sb.pending) - 1))
        self.spawn(sb, request.answer(make(request)))

    def spawn(self, sb: Sandbox, coroutine: Any) -> None:
        async def guarded() -> None:
            try:
                await coroutine
            except (sandgate.SandgateError, sandgate.SessionClosed) as e:
                sb.add_line(f"[tui] {e}", curses.A_BOLD)
                self.redraw()
        asyncio.ensure_future(guarded())

    # -- drawing --

    def resize(self) -> None:
        rows, cols = os.get_terminal_size(sys.stdin.fileno())
        curses.resizeterm(rows, cols)
        self.redraw()

    def redraw(self) -> None:
        # Many messages may come at once; one repaint after them is enough.
        if not self.redraw_scheduled:
            self.redraw_scheduled = True
            self.loop.call_soon(self.paint)

    def put(self, row: int, text: str, attr: int = 0) -> None:
        rows, cols = self.screen.getmaxyx()
        if 0 <= row < rows:
            # The last cell of the last row cannot be written without scrolling: stop before.
            width = cols - 1 if row == rows - 1 else cols
            self.screen.addnstr(row, 0, text, width, attr)

    def paint(self) -> None:
        self.redraw_scheduled = False
        self.screen.erase()
        rows, cols = self.screen.getmaxyx()
        sb = self.sandboxes[self.current]
        column = 0
        for other in self.sandboxes:
            title = f" {other.title()} "
            room = cols - column - (1 if rows == 1 else 0)
            if room > 0:
                attr = curses.A_REVERSE if other is sb else 0
                self.screen.addnstr(0, column, title, room, attr)
            column += len(title) + 1
        pending_rows = max(4, rows // 3)
        output_top, output_bottom = 1, rows - pending_rows - 2
        # Output: the last lines that fit, long lines wrapped.
        wrapped: list[tuple[str, int]] = []
        for text, attr in sb.lines[-(output_bottom - output_top + 1):] + [
                (printable(p), 0) for p in sb.partial.values()]:
            wrapped += [(text[i:i + cols], attr) for i in range(0, max(len(text), 1), cols)]
        visible = wrapped[-(output_bottom - output_top + 1):] if output_bottom >= output_top else []
        for offset, (text, attr) in enumerate(visible):
            self.put(output_top + offset, text, attr)
        separator = output_bottom + 1
        self.put(separator, f"-- pending requests: {len(sb.pending)} " + "-" * cols)
        row = separator + 1
        for index, request in enumerate(sb.pending):
            if row + 1 >= rows - 1:
                self.put(row, f"   ... {len(sb.pending) - index} more")
                break
            marker = ">" if index == sb.selected else " "
            attr = curses.A_REVERSE if index == sb.selected else 0
            p, d = request.process, request.destination
            self.put(row, printable(f"{marker} pid {p.pid} {p.exe or '?'}: {' '.join(p.argv)}"),
                     attr)
            where = d.path if d.family == "unix" else (
                f"host {d.host or '-'}  address {d.address}  port {d.port}")
            self.put(row + 1, printable(f"    {d.protocol} {where}  ({request.reason})"), attr)
            row += 2
        self.put(rows - 1, self.notice or HELP, curses.A_BOLD if self.notice else 0)
        self.screen.refresh()


def main_screen(screen: Any, settings: dict, options: list[str],
                commands: list[list[str]]) -> int:
    try:
        curses.curs_set(0)     # no cursor blinking somewhere in the output
    except curses.error:
        pass                   # a terminal that cannot hide it
    screen.nodelay(True)       # getch returns -1 when no key is waiting: the loop never blocks
    screen.keypad(True)

    async def on_the_loop() -> int:  # App wants the running loop
        return await App(screen, settings, options, commands).run()
    return asyncio.run(on_the_loop())


def main(argv: list[str]) -> int:
    try:
        settings, options, commands = parse_args(argv)
    except Usage as e:
        if e.args:
            print(f"sandgate_tui.py: {e.args[0]}\n", file=sys.stderr)
        print(__doc__, file=sys.stderr if e.args else sys.stdout)
        return 2 if e.args else 0
    locale.setlocale(locale.LC_ALL, "")
    # curses.wrapper puts the terminal back whether main_screen returns or raises; the
    # signals that would end us without that are turned into an orderly quit inside App.
    return curses.wrapper(main_screen, settings, options, commands)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
