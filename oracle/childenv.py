"""The environment for every child process we start (anvil, the web app, the prover worker): ours, minus secrets.

Children are long-lived and their environment is readable (/proc/<pid>/environ, crash reports, `ps e`); none of
them needs the node's keystore passphrase or any other credential, so they never get one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

# Names that hold credentials by convention; matched as substrings of the upper-cased name.
SECRET_MARKERS = ("PASSPHRASE", "PASSWORD", "PRIVATE_KEY", "SECRET", "TOKEN", "MNEMONIC")
# Always dropped, whatever the markers say: the node's default passphrase variable and the governor's.
SECRET_NAMES = {"ECOAI_KEY_PASSPHRASE", "ECOAI_GOVERNOR_PASSPHRASE"}
_extra_secret_names: set[str] = set()


def register_secret_name(name: str) -> None:
    """A configured variable (e.g. `key.passphrase_env`) that must never reach a child, whatever its name."""
    _extra_secret_names.add(name)


def is_secret(name: str) -> bool:
    upper = name.upper()
    return name in SECRET_NAMES or name in _extra_secret_names or any(m in upper for m in SECRET_MARKERS)


def child_env(keep: Iterable[str] = (), base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default os.environ) without secrets; `keep` names the secret-looking variables this
    child really needs (none of ours does today)."""
    kept = set(keep)
    source = os.environ if base is None else base
    return {name: value for name, value in source.items() if name in kept or not is_secret(name)}
