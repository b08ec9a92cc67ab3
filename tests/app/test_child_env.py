"""Finding 5: no child process we start (anvil, the web app, the prover worker) gets a secret in its
environment; the node's passphrase leaves os.environ as soon as the key is read."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from eth_account import Account

from oracle.app.stack import start_web, stop_process, wait_web
from oracle.chain.anvil import Anvil
from oracle.net import free_port
from oracle.node.keys import load_key

SECRETS = {
    "ECOAI_KEY_PASSPHRASE": "pass-phrase-value-1",
    "MY_PROVIDER_TOKEN": "token-value-2",
    "AWS_SECRET_ACCESS_KEY": "secret-value-3",
    "DEPLOYER_PRIVATE_KEY": "private-key-value-4",
    "NODE_UNLOCK": "configured-passphrase-5",  # a passphrase_env with an innocent name
}


def _environ(pid: int) -> str:
    return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")


def _keystore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts = tmp_path / "ape" / "accounts"
    accounts.mkdir(parents=True)
    key = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    (accounts / "operator.json").write_text(json.dumps(Account.encrypt(key, SECRETS["NODE_UNLOCK"], iterations=2)))
    monkeypatch.setenv("APE_DATA_FOLDER", str(tmp_path / "ape"))


def test_children_get_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    _keystore(tmp_path, monkeypatch)
    load_key("ape:operator", "NODE_UNLOCK", local_chain=False)  # the node reads its passphrase at start-up

    with Anvil(log_file=tmp_path / "anvil.log") as chain:
        anvil_env = _environ(chain.process.pid)  # type: ignore[union-attr]
        from oracle.chain.deploy import deploy_local

        deploy_local(chain.url, out=tmp_path / "deployment.json")
        port = free_port()
        web = start_web(port, tmp_path / "deployment.json", chain.url, tmp_path / "web.log")
        try:
            # The environment of the running web app: one that exited (a zombie) or has not finished its exec
            # reads empty.
            assert wait_web(f"http://127.0.0.1:{port}/", web, threading.Event()), (tmp_path / "web.log").read_text()
            web_env = _environ(web.pid)
        finally:
            stop_process(web)
    for env in (anvil_env, web_env):
        assert "ECOAI_HOME=" in env  # what children need still reaches them
        for value in SECRETS.values():
            assert value not in env


def test_the_prover_worker_does_not_inherit_the_node_passphrase(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from oracle.zk import Prover

    monkeypatch.setenv("NODE_UNLOCK", SECRETS["NODE_UNLOCK"])
    _keystore(tmp_path, monkeypatch)
    load_key("ape:operator", "NODE_UNLOCK", local_chain=False)
    prover = Prover()
    prover.start()
    try:
        assert SECRETS["NODE_UNLOCK"] not in _environ(prover._proc.pid)  # type: ignore[union-attr]
    finally:
        prover.close()


def test_passphrase_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from oracle.errors import UsageError
    from oracle.node.config import parse_config

    _keystore(tmp_path, monkeypatch)
    secret = tmp_path / "passphrase"
    secret.write_text(SECRETS["NODE_UNLOCK"] + "\n")
    config = parse_config({"key": {"account": "ape:operator", "passphrase_file": str(secret)},
                           "chain": {"network": "ethereum:sepolia", "rpc_url": "https://rpc.example"},
                           "measure": {"allow_unmeasured": True}})
    assert config.key.passphrase_file == secret
    key = load_key(config.key.account, config.key.passphrase_env, False, config.key.passphrase_file)
    assert key.address.startswith("0x")
    with pytest.raises(UsageError, match="key.passphrase_file: cannot read"):
        load_key("ape:operator", "X", False, tmp_path / "missing")
