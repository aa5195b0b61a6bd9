"""A small terminal emulator for tests: what a person would see of a curses program's output.

curses redraws only what changed and moves the cursor around to do it, so a text can be on the
screen without ever being written in one piece. Tests therefore feed the raw bytes through this
model of an xterm (the subset ncurses uses with TERM=xterm: cursor moves, erases, inserts and
deletes, scroll regions, the alternate screen) and look at the cells.
"""
from __future__ import annotations

import re

_CSI = re.compile(rb"\x1b\[([?>!]?)([0-9;]*)([ -/]*)([@-~])")


class Screen:
    def __init__(self, rows: int, cols: int):
        self.rows, self.cols = rows, cols
        self.cells = self._blank()
        self.saved_main: list[list[str]] | None = None
        self.row = self.col = 0
        self.top, self.bottom = 0, rows - 1    # the scroll region
        self.saved_cursor = (0, 0)
        self.pending = b""                      # an escape sequence cut by a read boundary
        self.history: list[str] = []            # every distinct screen, in order

    def _blank(self) -> list[list[str]]:
        return [[" "] * self.cols for _ in range(self.rows)]

    def text(self) -> str:
        return "\n".join("".join(line).rstrip() for line in self.cells)

    def line(self, row: int) -> str:
        return "".join(self.cells[row]).rstrip()

    # -- feeding --

    def feed(self, data: bytes) -> None:
        data = self.pending + data
        self.pending = b""
        i = 0
        text = b""
        while i < len(data):
            byte = data[i]
            if byte == 0x1b:
                self._put_text(text)
                text = b""
                used = self._escape(data, i)
                if used == 0:                  # incomplete: wait for the rest
                    self.pending = data[i:]
                    break
                i += used
                continue
            if byte < 0x20 or byte == 0x7f:
                self._put_text(text)
                text = b""
                self._control(byte)
            else:
                text += bytes([byte])
            i += 1
        self._put_text(text)
        snapshot = self.text()
        if not self.history or self.history[-1] != snapshot:
            self.history.append(snapshot)

    def _put_text(self, text: bytes) -> None:
        for ch in text.decode("utf-8", "replace"):
            if self.col >= self.cols:          # xterm wraps before the next character
                self.col = 0
                self._line_feed()
            self.cells[self.row][self.col] = ch
            self.col += 1

    def _control(self, byte: int) -> None:
        if byte == 0x0d:
            self.col = 0
        elif byte == 0x0a:
            self._line_feed()
        elif byte == 0x08:
            self.col = max(0, self.col - 1)
        elif byte == 0x09:
            self.col = min(self.cols - 1, (self.col // 8 + 1) * 8)

    def _line_feed(self) -> None:
        if self.row == self.bottom:
            self._scroll_up(1)
        elif self.row < self.rows - 1:
            self.row += 1

    def _scroll_up(self, n: int) -> None:
        for _ in range(n):
            del self.cells[self.top]
            self.cells.insert(self.bottom, [" "] * self.cols)

    def _scroll_down(self, n: int) -> None:
        for _ in range(n):
            del self.cells[self.bottom]
            self.cells.insert(self.top, [" "] * self.cols)

    def _escape(self, data: bytes, i: int) -> int:
        """Handles the sequence at data[i] (ESC); returns its length, 0 when incomplete."""
        if i + 1 >= len(data):
            return 0
        kind = data[i + 1:i + 2]
        if kind == b"[":
            match = _CSI.match(data, i)
            if match is None:
                # Incomplete unless something that can never be part of a CSI follows.
                return 0 if re.fullmatch(rb"\x1b\[[?>!]?[0-9;]*[ -/]*", data[i:]) else 2
            self._csi(match.group(1), match.group(2), match.group(4))
            return match.end() - i
        if kind == b"]":                        # OSC: up to BEL or ST
            end = data.find(b"\x07", i)
            st = data.find(b"\x1b\\", i)
            ends = [e for e in (end + 1 if end >= 0 else -1, st + 2 if st >= 0 else -1) if e > 0]
            return (min(ends) - i) if ends else 0
        if kind in (b"(", b")", b"*", b"+", b"#"):
            return 3 if i + 2 < len(data) else 0
        if kind == b"7":
            self.saved_cursor = (self.row, self.col)
        elif kind == b"8":
            self.row, self.col = self.saved_cursor
        elif kind == b"M":                      # reverse index
            if self.row == self.top:
                self._scroll_down(1)
            else:
                self.row = max(0, self.row - 1)
        elif kind == b"D":
            self._line_feed()
        elif kind == b"E":
            self.col = 0
            self._line_feed()
        return 2                                # ESC = ESC > ESC c and the rest: no effect here

    def _csi(self, private: bytes, params: bytes, final: bytes) -> None:
        numbers = [int(p) if p else 0 for p in params.decode().split(";")] if params else []

        def arg(index: int, default: int = 1) -> int:
            value = numbers[index] if index < len(numbers) else 0
            return value if value else default

        f = final.decode()
        if private == b"?":
            if 1049 in numbers or 47 in numbers or 1047 in numbers:
                if f == "h" and self.saved_main is None:
                    self.saved_main, self.cells = self.cells, self._blank()
                elif f == "l" and self.saved_main is not None:
                    self.cells, self.saved_main = self.saved_main, None
            return
        if private:
            return
        if f in "Hf":
            self.row = min(self.rows - 1, arg(0) - 1)
            self.col = min(self.cols - 1, arg(1) - 1)
        elif f == "A":
            self.row = max(0, self.row - arg(0))
        elif f == "B":
            self.row = min(self.rows - 1, self.row + arg(0))
        elif f == "C":
            self.col = min(self.cols - 1, self.col + arg(0))
        elif f == "D":
            self.col = max(0, self.col - arg(0))
        elif f == "G":
            self.col = min(self.cols - 1, arg(0) - 1)
        elif f == "d":
            self.row = min(self.rows - 1, arg(0) - 1)
        elif f == "K":
            mode = arg(0, 0)
            line = self.cells[self.row]
            start, end = {0: (self.col, self.cols), 1: (0, self.col + 1), 2: (0, self.cols)}[mode]
            line[start:end] = [" "] * (end - start)
        elif f == "J":
            mode = arg(0, 0)
            if mode == 0:
                self.cells[self.row][self.col:] = [" "] * (self.cols - self.col)
                for r in range(self.row + 1, self.rows):
                    self.cells[r] = [" "] * self.cols
            elif mode == 1:
                for r in range(0, self.row):
                    self.cells[r] = [" "] * self.cols
                self.cells[self.row][:self.col + 1] = [" "] * (self.col + 1)
            else:
                self.cells = self._blank()
        elif f == "X":
            n = min(arg(0), self.cols - self.col)
            self.cells[self.row][self.col:self.col + n] = [" "] * n
        elif f == "@":
            line = self.cells[self.row]
            n = min(arg(0), self.cols - self.col)
            line[self.col:self.col] = [" "] * n
            del line[self.cols:]
        elif f == "P":
            line = self.cells[self.row]
            n = min(arg(0), self.cols - self.col)
            del line[self.col:self.col + n]
            line.extend([" "] * n)
        elif f == "b" and self.col > 0:        # repeat the last character
            self._put_text((self.cells[self.row][self.col - 1] * arg(0)).encode())
        elif f in "LM" and self.top <= self.row <= self.bottom:
            saved_top, self.top = self.top, self.row
            (self._scroll_down if f == "L" else self._scroll_up)(arg(0))
            self.top = saved_top
        elif f == "S":
            self._scroll_up(arg(0))
        elif f == "T":
            self._scroll_down(arg(0))
        elif f == "r":
            self.top = arg(0) - 1
            self.bottom = min(self.rows - 1, arg(1, self.rows) - 1)
            self.row = self.col = 0
        # m (attributes), h/l (modes), n, c, t...: nothing a test reads
