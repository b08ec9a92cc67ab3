"""The foundation: the CLI entry point, the incremental bootstrap, offline compilation and a real anvil via Ape."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oracle.chain.anvil import Anvil, rpc_call
from oracle.app.cli import COMMAND_MODULES, build_parser
from oracle.paths import REPO_ROOT, SOLCX_DIR

ECOAI = [sys.executable, "-m", "oracle.app.cli"]


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, **kwargs)


def test_help_lists_every_registered_command() -> None:
    result = run([*ECOAI, "--help"])
    assert result.returncode == 0, result.stderr
    assert COMMAND_MODULES, "no subcommand is registered"
    subcommands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in subcommands.choices:
        assert name in result.stdout, f"`ecoai --help` does not list {name}"


def test_console_script_in_venv_answers_help() -> None:
    result = run([str(REPO_ROOT / ".venv" / "bin" / "ecoai"), "--help"])
    assert result.returncode == 0, result.stderr
    assert "usage: ecoai" in result.stdout


@pytest.mark.parametrize("argv", [["bogus"], [], ["--no-such-flag"]])
def test_wrong_usage_prints_one_clear_error_and_exits_2(argv: list[str]) -> None:
    result = run([*ECOAI, *argv])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ecoai: error:")
    assert "Traceback" not in result.stderr


def test_second_bootstrap_reinstalls_nothing() -> None:
    # `make test` has just bootstrapped; a question-mode make says whether any install step would run.
    result = run(["make", "-q", "bootstrap"])
    assert result.returncode == 0, "make bootstrap would reinstall something although nothing changed"


def solc_version() -> str:
    return run(["sed", "-n", "s/^  version: *//p", "ape-config.yaml"]).stdout.split()[0]


def test_bootstrap_writes_nothing_outside_the_checkout(tmp_path: Path) -> None:
    # Dry run of every bootstrap step (-B: as if all were stale) for a user whose home and SOLCX_BINARY_PATH
    # point elsewhere: no step may touch them, and the shim goes into the checkout.
    env = {**os.environ, "HOME": str(tmp_path), "SOLCX_BINARY_PATH": str(tmp_path / "solcx")}
    steps = run(["make", "-n", "-B", "bootstrap"], env=env)
    assert steps.returncode == 0, steps.stderr
    assert str(tmp_path) not in steps.stdout, steps.stdout
    assert f"{SOLCX_DIR}/solc-v{solc_version()}" in steps.stdout


def test_solc_shim_answers_like_native_solc() -> None:
    version = solc_version()
    shim = SOLCX_DIR / f"solc-v{version}"
    # It finds scripts/solc_cli.js relative to itself: no checkout path inside, so a moved clone keeps working.
    assert str(REPO_ROOT) not in shim.read_text()
    result = run([str(shim), "--version"])
    assert result.returncode == 0
    assert f"Version: {version}+commit." in result.stdout
    source = {"language": "Solidity",
              "sources": {"A.sol": {"content": "pragma solidity ^0.8.0; contract A { uint x; }"}},
              "settings": {"outputSelection": {"*": {"*": ["abi"]}}}}
    compiled = run([str(shim), "--standard-json"], input=json.dumps(source))
    output = json.loads(compiled.stdout)  # stdout must be pure JSON
    assert "A" in output["contracts"]["A.sol"]


@pytest.mark.chain
def test_ape_compiles_openzeppelin_contract_and_deploys_on_fresh_anvil(tmp_path: Path) -> None:
    compiled = run(["ape", "compile"], env={**os.environ, "SOLCX_BINARY_PATH": str(SOLCX_DIR)})
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    manifest = json.loads((REPO_ROOT / ".build" / "__local__.json").read_text())
    assert "EcoCredit" in manifest["contractTypes"]

    from ape import accounts, networks, project

    node = Anvil(log_file=tmp_path / "anvil.log").start()
    try:
        assert node.url.startswith("http://127.0.0.1:")
        with networks.parse_network_choice("ethereum:local:foundry", provider_settings={"host": node.url}):
            deployer = accounts.test_accounts[0]
            credit = project.EcoCredit.deploy(sender=deployer)
            assert credit.symbol() == "ECO"
            assert credit.decimals() == 18
            assert int(rpc_call(node.url, "eth_blockNumber"), 16) >= 1
    finally:
        node.stop()
    assert node.process is not None and node.process.poll() is not None, "anvil is still running"


def test_output_closed_early_by_the_reader_gives_no_traceback() -> None:
    # Like `ecoai report --list-regions | head -0`: the reader is gone before the first line (the command is
    # still importing), so its first write meets a closed pipe.
    proc = subprocess.Popen([*ECOAI, "report", "--list-regions"], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in stderr, stderr
