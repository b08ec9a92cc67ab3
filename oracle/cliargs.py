"""The one set of argparse value parsers for the `ecoai` commands: a bad value is one clear line and exit 2."""

from __future__ import annotations

import argparse
import math


def _fail(text: str, expected: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")


def integer(text: str) -> int:
    """A decimal integer (no sign restrictions)."""
    try:
        return int(text, 10)
    except ValueError:
        raise _fail(text, "a decimal integer") from None


def non_negative_int(text: str) -> int:
    value = integer(text)
    if value < 0:
        raise _fail(text, "an integer >= 0")
    return value


def positive_int(text: str) -> int:
    value = integer(text)
    if value <= 0:
        raise _fail(text, "a positive integer")
    return value


def port(text: str) -> int:
    value = integer(text)
    if not 1 <= value <= 65535:
        raise _fail(text, "a TCP port 1-65535")
    return value


def number(text: str) -> float:
    """A finite decimal number."""
    try:
        value = float(text)
    except ValueError:
        raise _fail(text, "a number") from None
    if not math.isfinite(value):
        raise _fail(text, "a finite number")
    return value


def positive_number(text: str) -> float:
    value = number(text)
    if value <= 0:
        raise _fail(text, "a number > 0")
    return value


def non_negative_number(text: str) -> float:
    value = number(text)
    if value < 0:
        raise _fail(text, "a number >= 0")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1] (quality, shares)."""
    value = number(text)
    if not 0 <= value <= 1:
        raise _fail(text, "a number between 0 and 1")
    return value


def positive_ints(text: str) -> list[int]:
    """Comma-separated positive integers ("1,8,32": batch sizes)."""
    try:
        values = [int(part, 10) for part in text.split(",")]
    except ValueError:
        raise _fail(text, "comma-separated positive integers") from None
    if not values or any(v <= 0 for v in values):
        raise _fail(text, "comma-separated positive integers")
    return values
