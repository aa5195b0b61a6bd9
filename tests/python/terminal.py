"""A program on a real pseudo-terminal, as a person at a terminal runs it: the pty is its
controlling terminal (so /dev/tty works), belongs to the cell's account, and what the program
writes is read into a Screen, where tests wait for text and to which they type keys."""
from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import termios
import threading
import time
from typing import Optional

import cell
from screen import Screen


def _take_controlling_terminal() -> None:
    # Runs in the child after setsid (start_new_session), before the exec: stdin is the pty.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    def __init__(self, argv: list[str], *, rows: int = 30, cols: int = 120,
                 env: Optional[dict] = None, cwd: str = "/tmp"):
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        ids, _ = cell.account()
        if ids is not None:
            os.fchown(self.slave, *ids)      # a person's terminal is their own
        # The mode a shell would leave: what the program must put back when it ends.
        self.initial_mode = termios.tcgetattr(self.slave)
        self.screen = Screen(rows, cols)
        self.raw = b""
        self.changed = threading.Condition()
        self.process = subprocess.Popen(
            cell.launcher() + argv, stdin=self.slave, stdout=self.slave, stderr=self.slave,
            cwd=cwd, env=env, start_new_session=True, preexec_fn=_take_controlling_terminal)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                break
            if not data:
                break
            with self.changed:
                self.raw += data
                self.screen.feed(data)
                self.changed.notify_all()

    def mark(self) -> int:
        """A point in the screen's history; wait_for(since=mark) looks only after it."""
        with self.changed:
            return len(self.screen.history)

    def wait_for(self, *texts: str, since: int = 0, timeout: float = 30) -> str:
        """Waits until one screen shown since `since` holds every text; returns that screen."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for snapshot in self.screen.history[since:]:
                    if all(text in snapshot for text in texts):
                        return snapshot
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError(f"never on the screen together: {texts!r}\n--- screen:\n"
                                         f"{self.screen.text()}\n--- raw tail:\n{self.raw[-2000:]!r}")
                self.changed.wait(min(left, 0.2))

    def wait_for_count(self, text: str, count: int, timeout: float = 30) -> None:
        """Waits until the program has written `text` `count` times (a second question that
        looks like the first)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.raw.decode(errors="replace").count(text) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{text!r} not written {count} times:\n{self.raw[-2000:]!r}")
                self.changed.wait(min(left, 0.2))

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait_exit(self, timeout: float = 30) -> int:
        code = self.process.wait(timeout)
        # The program is gone; anything it wrote last is read before the test looks.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            with self.changed:
                before = len(self.raw)
            time.sleep(0.1)
            with self.changed:
                if len(self.raw) == before:
                    break
        return code

    def mode(self) -> list:
        return termios.tcgetattr(self.slave)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        # With no slave left open, reading the master fails (EIO), which ends the reader.
        os.close(self.slave)
        self.reader.join(5)
        os.close(self.master)
