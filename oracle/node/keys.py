"""The node's signing key from its config: an Ape keystore account, or (local chain only) an anvil dev account.

The private key lives only inside `oracle.chain.keys.NodeKey`; its repr and str show the address, never the key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account

from oracle.chain.keys import NodeKey, dev_account
from oracle.childenv import register_secret_name
from oracle.errors import UsageError

__all__ = ["NodeKey", "ape_account", "ape_accounts_folder", "dev_account", "load_key", "take_secret_env"]


def take_secret_env(name: str) -> str | None:
    """Read a secret from the environment and remove it there, so no child process started later inherits it
    (the prover worker, anvil and the web app are long-lived children; oracle.childenv filters their env too).
    Each command loads a key once, so reading it once is enough."""
    register_secret_name(name)
    return os.environ.pop(name, None)


def read_passphrase_file(path: Path, alias: str) -> str:
    """The passphrase in a mounted secret file (one trailing newline stripped, as `echo` and editors add it)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(
            f"config field key.passphrase_file: cannot read {path} ({exc.strerror or exc}); it holds the "
            f"passphrase of Ape account {alias!r}"
        ) from None
    return text[:-1] if text.endswith("\n") else text


def ape_accounts_folder() -> Path:
    """Where Ape keeps keystores: $APE_DATA_FOLDER/accounts, default ~/.ape/accounts."""
    return Path(os.environ.get("APE_DATA_FOLDER") or Path.home() / ".ape") / "accounts"


def ape_account(alias: str, passphrase_env: str, passphrase_file: Path | None = None) -> NodeKey:
    path = ape_accounts_folder() / f"{alias}.json"
    try:
        keyfile = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"config field key.account: no Ape account {alias!r} ({path} missing; "
            f"create it with `ape accounts import {alias}`)"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"config field key.account: cannot read keystore {path} ({exc})") from None
    if passphrase_file is not None:
        take_secret_env(passphrase_env)  # unused, but still not for the children
        passphrase: str | None = read_passphrase_file(passphrase_file, alias)
        source = f"key.passphrase_file: {passphrase_file}"
    else:
        passphrase = take_secret_env(passphrase_env)
        source = f"key.passphrase_env: {passphrase_env}"
    if passphrase is None:
        raise UsageError(
            f"config field key.passphrase_env: environment variable {passphrase_env} is not set "
            f"(it holds the passphrase of Ape account {alias!r})"
        )
    try:
        private_key = Account.decrypt(keyfile, passphrase)
    except ValueError:
        raise UsageError(
            f"config field {source} does not decrypt Ape account {alias!r}"
        ) from None
    return NodeKey(Account.from_key(private_key), f"ape:{alias}")


def load_key(account: str, passphrase_env: str, local_chain: bool, passphrase_file: Path | None = None) -> NodeKey:
    """`account` is 'ape:<alias>' or 'dev:<index>' (validated by the config loader)."""
    kind, _, rest = account.partition(":")
    if kind == "dev":
        if not local_chain:
            raise UsageError("config field key.account: dev accounts are only for the local chain")
        return dev_account(int(rest))
    return ape_account(rest, passphrase_env, passphrase_file)
