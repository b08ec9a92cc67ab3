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


def test_default_params_describe_v2_efficiency_classes():
    params = load_params()
    assert params.epoch_length_s == 5 and params.max_epoch_age_s == 3600
    demo = params.classes["H200/encoder-bf16/item"]
    assert (demo.hardware_class, demo.workload, demo.unit) == ("H200", "encoder-bf16", "item")
    assert demo.baseline_uj_per_unit == 3_872_334
    assert demo.tiers_uj_per_unit == (149_172, 186_824, 290_578, 1_711_036)
    assert demo.require_measured is False and demo.min_work_per_epoch == 1
    for c in params.classes.values():
        assert list(c.tiers_uj_per_unit) == sorted(set(c.tiers_uj_per_unit))
        assert c.tiers_uj_per_unit[-1] < c.baseline_uj_per_unit
    assert params.classes["H100/llm-8b/token"].require_measured is True
    assert params.regions["KR"] == 431
    testnet = load_params(DEFAULT_PARAMS.with_name("sepolia_params.toml"))
    assert testnet.epoch_length_s == 3600
    assert testnet.regions == params.regions
    assert "H200/encoder-bf16/item" not in testnet.classes  # the replayed demo class is for local chains only


CLASS = """
[classes."X/w/item"]
hardware_class = "X"
workload = "w"
unit = "item"
quality_floor = "q"
baseline_uj_per_unit = 1000
tiers_uj_per_unit = [100, 200]
min_work_per_epoch = 1
max_units_per_second = 10
require_measured = false
"""
HEAD = "epoch_length_s = 5\nmax_epoch_age_s = 60\n"
REGIONS = "\n[regions]\nKR = 1\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("epoch_length_s = 0\nmax_epoch_age_s = 1\n" + CLASS + REGIONS, "epoch_length_s"),
    (HEAD + REGIONS, "classes"),
    (HEAD + "[hardware_classes.X]\nbaseline_w = 1\ntiers_w = [1]\n" + REGIONS, "v1 format"),
    (HEAD + CLASS.replace("baseline_uj_per_unit = 1000", "baseline_uj_per_unit = -1") + REGIONS,
     "baseline_uj_per_unit"),
    (HEAD + CLASS.replace("[100, 200]", "[200, 100]") + REGIONS, "must ascend"),
    (HEAD + CLASS.replace("[100, 200]", "[100, 1000]") + REGIONS, "below the baseline"),
    (HEAD + CLASS.replace('unit = "item"', 'unit = "Item"') + REGIONS, "lowercase"),
    (HEAD + CLASS.replace("min_work_per_epoch = 1", "min_work_per_epoch = 51") + REGIONS, "no epoch could ever earn"),
    (HEAD + CLASS.replace('[classes."X/w/item"]', '[classes."X/w/token"]') + REGIONS, "id must be"),
    (HEAD + CLASS + "\n[regions]\nKR = 1.5\n", "regions.KR"),
    (HEAD + 'admin = "0x12"\n' + CLASS + REGIONS, "admin"),
    ("epoch_length_s = [", "not TOML"),
])
def test_bad_params_are_refused_with_one_clear_error(tmp_path: Path, text: str, message: str):
    with pytest.raises(UsageError, match=message):
        load_params(_write(tmp_path, text))
    with pytest.raises(UsageError, match="does not exist"):
        load_params(tmp_path / "missing.toml")


def test_good_params_load(tmp_path: Path):
    params = load_params(_write(tmp_path, HEAD + CLASS + REGIONS))
    assert params.classes["X/w/item"].tiers_uj_per_unit == (100, 200)
    assert params.admin is None


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
    demo = loaded.params["classes"]["H200/encoder-bf16/item"]
    assert demo["tiers_uj_per_unit"] == [149_172, 186_824, 290_578, 1_711_036]

    w3 = Web3(Web3.HTTPProvider(anvil.url))
    green = loaded.green_proof(w3)
    credit = loaded.eco_credit(w3)
    assert green.functions.credit().call() == credit.address
    assert green.functions.verifier().call() == loaded.address("Groth16Verifier")
    assert credit.functions.minter().call() == green.address  # fixed for ever: EcoCredit has no roles
    params = load_params()
    ids = green.functions.classIds().call()
    assert ids == [label_to_bytes32(cid) for cid in params.classes]
    for cid, c in params.classes.items():
        on_chain = green.functions.efficiencyClass(label_to_bytes32(cid)).call()
        assert on_chain == [label_to_bytes32(c.hardware_class), label_to_bytes32(c.workload),
                            label_to_bytes32(c.unit), c.baseline_uj_per_unit, list(c.tiers_uj_per_unit),
                            c.min_work_per_epoch, c.max_units_per_second, c.require_measured]
    for region, grams in params.regions.items():
        assert green.functions.carbonFactorOf(label_to_bytes32(region)).call() == grams
    assert [tuple(x) for x in green.functions.schedule().call()] == [(0, 0, 5)]
    assert green.functions.maxEpochAge().call() == 3600

    node, beneficiary = w3.eth.accounts[1], w3.eth.accounts[2]
    admit(node, beneficiary)
    info = green.functions.nodeInfo(node).call()
    assert info[:4] == [beneficiary, label_to_bytes32("H200/encoder-bf16/item"), label_to_bytes32("KR"), True]
    assert info[4] <= w3.eth.get_block("latest")["timestamp"]
    set_epoch_length(loaded, anvil.url, 12)
    [initial, appended] = green.functions.schedule().call()
    assert tuple(initial) == (0, 0, 5) and appended[2] == 12
    now = w3.eth.get_block("latest")["timestamp"]
    assert appended[0] == (now // 5 + 1) * 5 and appended[1] == now // 5 + 1  # from the end of the current epoch
    assert green.functions.currentEpoch().call() == now // 5


@pytest.mark.chain
def test_admin_in_params_receives_every_role_and_the_deployer_keeps_none(anvil, tmp_path: Path):
    from oracle.chain.deploy import deploy_local

    admin = Web3.to_checksum_address("0x" + "ab" * 20)
    params = _write(tmp_path, DEFAULT_PARAMS.read_text().replace('admin = ""', f'admin = "{admin}"'))
    deployment = deploy_local(anvil.url, params, out=tmp_path / "d.json")
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    green, credit = deployment.green_proof(w3), deployment.eco_credit(w3)
    deployer = w3.eth.accounts[0]
    for role in ("DEFAULT_ADMIN_ROLE", "GOVERNOR_ROLE", "PAUSER_ROLE"):
        value = getattr(green.functions, role)().call()
        assert green.functions.hasRole(value, admin).call(), role
        assert not green.functions.hasRole(value, deployer).call(), role
    # EcoCredit has no roles at all: its one minter is GreenProof, fixed at deploy time, and nobody can change it.
    assert credit.functions.minter().call() == green.address
    assert not any(f.get("name") in ("grantRole", "hasRole", "MINTER_ROLE") for f in credit.abi)
    from web3.exceptions import ContractCustomError

    for sender in (deployer, admin):
        with pytest.raises(ContractCustomError):
            credit.functions.setMinter(deployer).call({"from": sender})
        with pytest.raises(ContractCustomError):
            credit.functions.mint(deployer, 1).call({"from": sender})


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
    assert f"GreenProof: {deployment.address('GreenProof')}" in result.stdout
    assert deployment.params["classes"]["H200/encoder-bf16/item"]["baseline_uj_per_unit"] == 3_872_334
    assert set(deployment.contracts) >= {"GreenProof", "EcoCredit", "Groth16Verifier"}
