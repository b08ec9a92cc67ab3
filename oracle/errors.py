"""Errors shared by every command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike


class UsageError(Exception):
    """Bad input from the user (arguments, files, config). The CLI prints it on one line and exits 2."""


@contextmanager
def writing(path: str | PathLike[str], what: str = "") -> Iterator[None]:
    """An OSError inside the block (writing an output file the user named) becomes a UsageError:
    "cannot write [WHAT ]PATH: reason"."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"cannot write {what + ' ' if what else ''}{path}: {exc}") from exc
