"""The node's signing key: an Ape keystore account, or (local chain only) one of anvil's documented dev accounts.

The private key lives only inside `NodeKey`; its repr and str show the address, never the key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from oracle.errors import UsageError

# Anvil's default mnemonic ("test test … junk"), documented by Foundry; worthless outside a local chain.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 10

Account.enable_unaudited_hdwallet_features()


class NodeKey:
    """Signs the node's transactions. Holds the key privately; prints as its address only."""

    __slots__ = ("_account", "address", "source")

    def __init__(self, account: LocalAccount, source: str) -> None:
        self._account = account
        self.address: str = account.address
        self.source = source

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        return bytes(self._account.sign_transaction(tx).raw_transaction)

    def __repr__(self) -> str:
        return f"NodeKey({self.address}, {self.source})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # pickling would copy the key out of this object
        raise TypeError("NodeKey cannot be pickled")


def dev_account(index: int) -> NodeKey:
    if not 0 <= index < DEV_ACCOUNT_COUNT:
        raise UsageError(f"config field key.account: dev account index must be 0..{DEV_ACCOUNT_COUNT - 1}, got {index}")
    account = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return NodeKey(account, f"dev:{index}")


def ape_accounts_folder() -> Path:
    """Where Ape keeps keystores: $APE_DATA_FOLDER/accounts, default ~/.ape/accounts."""
    return Path(os.environ.get("APE_DATA_FOLDER") or Path.home() / ".ape") / "accounts"


def ape_account(alias: str, passphrase_env: str) -> NodeKey:
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
    passphrase = os.environ.get(passphrase_env)
    if passphrase is None:
        raise UsageError(
            f"config field key.passphrase_env: environment variable {passphrase_env} is not set "
            f"(it holds the passphrase of Ape account {alias!r})"
        )
    try:
        private_key = Account.decrypt(keyfile, passphrase)
    except ValueError:
        raise UsageError(
            f"config field key.passphrase_env: {passphrase_env} does not decrypt Ape account {alias!r}"
        ) from None
    return NodeKey(Account.from_key(private_key), f"ape:{alias}")


def load_key(account: str, passphrase_env: str, local_chain: bool) -> NodeKey:
    """`account` is 'ape:<alias>' or 'dev:<index>' (validated by the config loader)."""
    kind, _, rest = account.partition(":")
    if kind == "dev":
        if not local_chain:
            raise UsageError("config field key.account: dev accounts are only for the local chain")
        return dev_account(int(rest))
    return ape_account(rest, passphrase_env)
