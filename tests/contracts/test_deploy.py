"""Deploy parameters, the deployment file, and the shared `deployed` / `admit` fixtures (read with web3.py,
as the oracle and the web do)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from web3 import Web3

from oracle.chain.deploy import DEFAULT_PARAMS, load_params, set_epoch_length
from oracle.chain.deployment import ContractRef, Deployment, default_path, network_file_name
from oracle.conventions import label_to_bytes32
from oracle.errors import UsageError


def test_default_params_convert_watts_to_millijoules_per_epoch():
    params = load_params()
    assert params.epoch_length_s == 5
    baseline, tiers = params.class_energy("H200")
    assert baseline == 700 * 5 * 1000
    assert tiers == [200 * 5000, 300 * 5000, 450 * 5000, 700 * 5000]
    assert "KR" in params.regions
    testnet = load_params(DEFAULT_PARAMS.with_name("sepolia_params.toml"))
    assert testnet.class_energy("H200") == (700 * 3600 * 1000, [w * 3600 * 1000 for w in (200, 300, 450, 700)])
    assert testnet.regions == params.regions


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("epoch_length_s = 0\nmax_epoch_age_s = 1\n[hardware_classes.X]\nbaseline_w = 1\ntiers_w = [1]\n[regions]\nKR = 1",
     "epoch_length_s"),
    ("epoch_length_s = 5\nmax_epoch_age_s = 1\n[regions]\nKR = 1", "hardware_classes"),
    ("epoch_length_s = 5\nmax_epoch_age_s = 1\n[hardware_classes.X]\nbaseline_w = -1\ntiers_w = [1]\n[regions]\nKR = 1",
     "baseline_w"),
    ("epoch_length_s = 5\nmax_epoch_age_s = 1\n[hardware_classes.X]\nbaseline_w = 1\ntiers_w = [1]\n[regions]\nKR = 1.5",
     "regions.KR"),
    ("epoch_length_s = 3\nmax_epoch_age_s = 1\n[hardware_classes.X]\nbaseline_w = 1\ntiers_w = [0.0001]\n[regions]\nKR = 1",
     "whole mJ"),
    ("epoch_length_s = [", "not TOML"),
])
def test_bad_params_are_refused_with_one_clear_error(tmp_path: Path, text: str, message: str):
    with pytest.raises(UsageError, match=message):
        load_params(_write(tmp_path, text))
    with pytest.raises(UsageError, match="does not exist"):
        load_params(tmp_path / "missing.toml")


def test_deployment_file_round_trips_and_names_its_network(tmp_path: Path, ecoai_home: Path):
    assert network_file_name("ethereum:local") == "local.json"
    assert network_file_name("ethereum:sepolia:node") == "sepolia.json"
    assert default_path() == ecoai_home / "deployments" / "local.json"
    d = Deployment("ethereum:local", 31337, 1, "2026-11-26T09:00:00Z",
                   {n: ContractRef("0x" + "11" * 20, [{"type": "function", "name": "f", "inputs": [], "outputs": []}])
                    for n in ("GreenProof", "EcoCredit", "Groth16Verifier")}, {"epoch_length_s": 5})
    path = d.save(tmp_path / "d.json")
    assert Deployment.load(path) == d
    path.write_text(json.dumps({"network": "x"}))
    with pytest.raises(ValueError, match="not a deployment file"):
        Deployment.load(path)


@pytest.mark.chain
def test_deployed_fixture_serves_web3_clients_from_the_file_alone(anvil, deployed, admit, ecoai_home):
    path = ecoai_home / "deployments" / "local.json"
    loaded = Deployment.load(path)
    assert loaded == deployed
    assert loaded.chain_id == 31337 and loaded.block >= 1
    assert loaded.params["hardware_classes"]["H200"]["tiers_mj"] == [1_000_000, 1_500_000, 2_250_000, 3_500_000]

    w3 = Web3(Web3.HTTPProvider(anvil.url))
    green = loaded.green_proof(w3)
    credit = loaded.eco_credit(w3)
    assert green.functions.credit().call() == credit.address
    assert green.functions.verifier().call() == loaded.address("Groth16Verifier")
    assert credit.functions.hasRole(credit.functions.MINTER_ROLE().call(), green.address).call()
    assert green.functions.tiersOf(label_to_bytes32("H200")).call() == [1_000_000, 1_500_000, 2_250_000, 3_500_000]
    assert green.functions.baselineOf(label_to_bytes32("H200")).call() == 3_500_000
    assert green.functions.carbonFactorOf(label_to_bytes32("KR")).call() == 431
    assert green.functions.epochLength().call() == 5

    node, beneficiary = w3.eth.accounts[1], w3.eth.accounts[2]
    admit(node, beneficiary)
    assert green.functions.nodeInfo(node).call() == [beneficiary, label_to_bytes32("H200"), label_to_bytes32("KR"), True]
    set_epoch_length(loaded, anvil.url, 12)
    assert green.functions.epochLength().call() == 12
    assert green.functions.currentEpoch().call() == w3.eth.get_block("latest")["timestamp"] // 12


@pytest.mark.chain
def test_admin_in_params_receives_every_role_and_the_deployer_keeps_none(anvil, tmp_path: Path):
    from oracle.chain.deploy import deploy_local

    admin = Web3.to_checksum_address("0x" + "ab" * 20)
    params = _write(tmp_path, DEFAULT_PARAMS.read_text().replace('admin = ""', f'admin = "{admin}"'))
    deployment = deploy_local(anvil.url, params, out=tmp_path / "d.json")
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    green, credit = deployment.green_proof(w3), deployment.eco_credit(w3)
    deployer = w3.eth.accounts[0]
    for contract, roles in ((green, ("DEFAULT_ADMIN_ROLE", "GOVERNOR_ROLE", "PAUSER_ROLE")),
                            (credit, ("DEFAULT_ADMIN_ROLE",))):
        for role in roles:
            value = getattr(contract.functions, role)().call()
            assert contract.functions.hasRole(value, admin).call(), role
            assert not contract.functions.hasRole(value, deployer).call(), role


@pytest.mark.chain
@pytest.mark.slow
def test_ape_run_deploy_writes_the_deployment_file(tmp_path: Path):
    """`ape run deploy` end to end: Ape starts its own local anvil, deploys, writes --out, stops anvil."""
    import os
    import subprocess
    import sys

    from oracle.paths import REPO_ROOT

    out = tmp_path / "local.json"
    ape = Path(sys.executable).with_name("ape")
    result = subprocess.run(
        [str(ape), "run", "deploy", "--network", "ethereum:local:foundry", "--account", "TEST::0",
         "--params", str(DEFAULT_PARAMS), "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=os.environ | {"ECOAI_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    deployment = Deployment.load(out)
    assert deployment.network == "ethereum:local" and deployment.chain_id == 31337
    assert set(deployment.contracts) == {"GreenProof", "EcoCredit", "Groth16Verifier"}
    assert f"GreenProof: {deployment.address('GreenProof')}" in result.stdout
    assert deployment.params["hardware_classes"]["H200"]["baseline_mj"] == 3_500_000
