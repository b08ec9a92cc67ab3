"""Self-contained repository: no tracked file points outside the checkout (a folder beside it, a machine's path)."""

from __future__ import annotations

import re
import subprocess

from oracle.paths import REPO_ROOT

# Written in pieces so that this file does not match its own patterns.
OUTSIDE = re.compile("|".join([
    r"\.\./" + "shared",                     # the development machines' data folder beside the checkout
    r"(?<![\w.~-])/" + r"(?:work|home|root|Users|mnt|tmp/pytest-of)/",  # absolute paths of a machine
]))
# Third-party lock data (registry URLs and package paths), not ours to rewrite.
SKIP = {"package-lock.json"}


def tracked_text_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO_ROOT, capture_output=True, check=True).stdout
    return [p for p in listed.decode().split("\0") if p and p not in SKIP and (REPO_ROOT / p).is_file()]


def test_pattern_finds_what_it_must() -> None:
    for text in ("../" + "shared/data/x.csv", 'Path("/' + 'work/main")', "see /" + "home/me/x", " /" + "root/.x"):
        assert OUTSIDE.search(text), text
    for text in ("https://example.org/" + "work/x", "~/" + "work/x", "a/home/b", "/usr/bin/env", "node_modules/x"):
        assert not OUTSIDE.search(text), text


def test_no_tracked_file_references_a_path_outside_the_checkout() -> None:
    offenders = []
    for path in tracked_text_files():
        try:
            text = (REPO_ROOT / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary: keys, images
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path}:{number}: {line.strip()[:120]}")
    assert not offenders, "paths outside the checkout:\n" + "\n".join(offenders)
