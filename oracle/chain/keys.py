"""Transaction signing keys: a key that prints as its address only, and anvil's documented dev accounts."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from oracle.errors import UsageError

# Anvil's default mnemonic ("test test … junk"), documented by Foundry; worthless outside a local chain.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 10

Account.enable_unaudited_hdwallet_features()


class NodeKey:
    """Signs transactions (the node's, or a governor's). Holds the key privately; prints as its address only."""

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
    """Anvil's dev account `index` (0 deploys and governs a local chain)."""
    if not 0 <= index < DEV_ACCOUNT_COUNT:
        raise UsageError(f"config field key.account: dev account index must be 0..{DEV_ACCOUNT_COUNT - 1}, got {index}")
    account = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return NodeKey(account, f"dev:{index}")
