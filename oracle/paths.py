"""Where things live: the checkout, its node_modules tools, and the runtime state folder."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = REPO_ROOT / "node_modules" / ".bin"
CIRCUITS_DIR = REPO_ROOT / "circuits"
KEYS_DIR = CIRCUITS_DIR / "keys"
# The offline solc shim `make bootstrap` installs inside the checkout (py-solc-x reads SOLCX_BINARY_PATH).
SOLCX_DIR = REPO_ROOT / ".venv" / "solcx"


def state_dir() -> Path:
    """The one folder the project writes at run time (ignored by git); ECOAI_HOME overrides it."""
    return Path(os.environ.get("ECOAI_HOME") or REPO_ROOT / ".ecoai")


def node_tool(name: str) -> str:
    """Absolute path of a tool installed from npm (anvil, circom2, snarkjs)."""
    path = NODE_BIN / name
    if not path.exists():
        raise FileNotFoundError(f"{name} is not installed in {NODE_BIN}: run `make bootstrap`")
    return str(path)
