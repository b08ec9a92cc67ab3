"""The one set of argparse value parsers for the `ecoai` commands: a bad value is one clear line and exit 2."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _fail(text: str, expected: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")


def integer(text: str) -> int:
    """A decimal integer (no sign restrictions)."""
    try:
        return int(text, 10)
    except ValueError:
        raise _fail(text, "a decimal integer") from None


def number(text: str) -> float:
    """A finite decimal number."""
    try:
        value = float(text)
    except ValueError:
        raise _fail(text, "a number") from None
    if not math.isfinite(value):
        raise _fail(text, "a finite number")
    return value


def _within(parse: Callable[[str], T], ok: Callable[[T], bool], expected: str, name: str) -> Callable[[str], T]:
    """A parser that reads a value with `parse` and refuses it unless `ok(value)` ("expected <expected>")."""

    def parser(text: str) -> T:
        value = parse(text)
        if not ok(value):
            raise _fail(text, expected)
        return value

    parser.__name__ = parser.__qualname__ = name
    return parser


non_negative_int = _within(integer, lambda v: v >= 0, "an integer >= 0", "non_negative_int")
positive_int = _within(integer, lambda v: v > 0, "a positive integer", "positive_int")
port = _within(integer, lambda v: 1 <= v <= 65535, "a TCP port 1-65535", "port")
positive_number = _within(number, lambda v: v > 0, "a number > 0", "positive_number")
non_negative_number = _within(number, lambda v: v >= 0, "a number >= 0", "non_negative_number")
fraction = _within(number, lambda v: 0 <= v <= 1, "a number between 0 and 1", "fraction")  # quality, shares


def positive_ints(text: str) -> list[int]:
    """Comma-separated positive integers ("1,8,32": batch sizes)."""
    try:
        values = [int(part, 10) for part in text.split(",")]
    except ValueError:
        raise _fail(text, "comma-separated positive integers") from None
    if not values or any(v <= 0 for v in values):
        raise _fail(text, "comma-separated positive integers")
    return values
