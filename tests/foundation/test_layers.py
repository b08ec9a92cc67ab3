"""The import layering of pyproject.toml's [tool.importlinter] holds, and every oracle part is placed in it."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import oracle
from oracle.paths import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contracts() -> list[dict]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def _layered_modules() -> set[str]:
    [layers] = [c for c in _contracts() if c["type"] == "layers"]
    return {name.strip("() ") for layer in layers["layers"] for name in re.split(r"[:|]", layer)}


def test_no_module_imports_a_layer_above_it_and_no_import_cycle() -> None:
    # --no-cache: the check writes nothing into the checkout.
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[result.stdout.find("Broken contracts"):] + result.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in result.stdout


def test_every_oracle_part_has_a_layer() -> None:
    # A module the layers contract does not name is not checked at all: a new part must be given its place.
    parts = {f"oracle.{m.name}" for m in pkgutil.iter_modules(oracle.__path__)}
    unplaced = sorted(parts - _layered_modules())
    assert not unplaced, f"not in any layer of [tool.importlinter] (pyproject.toml): {unplaced}"
