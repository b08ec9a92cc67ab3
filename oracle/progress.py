"""Concise progress for long work (deploy, ceremony): one line per step on stderr, never secrets.

    steps = Steps("deploy", total=6)
    with steps.step("deploying Groth16Verifier"):
        ...
    steps.done("deployed 4 contracts")

In a terminal each step's line is rewritten in place with its time when it ends; elsewhere (a log file, a pipe,
a test) every step is one plain line, with no carriage returns or escape codes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 epoch`, `2 epochs`, `0 epochs` (`many` for irregular plurals)."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


class Steps:
    def __init__(self, title: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.title = title
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.count = 0
        self.started = time.monotonic()
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())

    def _prefix(self) -> str:
        where = f"{self.count}/{self.total}" if self.total else str(self.count)
        return f"{self.title} [{where}]"

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must not stop the work
            pass

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        self.count += 1
        line = f"{self._prefix()} {text}…"
        started = time.monotonic()
        self._write(f"\r\x1b[K{line}" if self.tty else line + "\n")
        try:
            yield
        except BaseException:
            if self.tty:
                self._write(" failed\n")
            raise
        if self.tty:
            self._write(f"\r\x1b[K{line} {time.monotonic() - started:.1f} s\n")

    def done(self, text: str) -> None:
        self._write(f"{self.title}: {text} in {time.monotonic() - self.started:.1f} s\n")
