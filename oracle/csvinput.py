"""Reading the CSV files users hand us (profiles, jobs, carbon traces): one clear error for each way they fail."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from oracle.errors import UsageError


def read_input_file(path: str | Path, what: str, error: type[UsageError] = UsageError) -> str:
    """The text of a user-supplied file (a UTF-8 BOM is dropped); `error` names `what` when it cannot be read."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{what} file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what} {p}: {exc}") from None


def csv_records(text: str, columns: Sequence[str], source: str, what: str,
                error: type[UsageError] = UsageError) -> csv.DictReader:
    """A DictReader over `text` whose header must hold exactly `columns` (in any order)."""
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(h.strip() for h in (reader.fieldnames or ()))
    if not header:
        raise error(f"{source}: empty {what}")
    unknown = [h for h in header if h not in columns]
    missing = [c for c in columns if c not in header]
    if unknown or missing:
        raise error(f"{source}: columns must be {','.join(columns)}"
                    + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                    + (f"; missing: {', '.join(missing)}" if missing else ""))
    return reader
