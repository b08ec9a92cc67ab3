"""Governance hygiene (issue 14, finding 7): EcoCredit's minter is fixed for ever, and a deploy to a non-local
network leaves every role with governance and none with the deployer key."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils import keccak
from web3 import Web3

from oracle.chain.deploy import DEFAULT_PARAMS, check_role_plan, is_local_network, load_params, override_admin
from oracle.errors import UsageError

DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's dev account 0
GOVERNANCE = "0x" + "ab" * 20


@pytest.mark.parametrize("network", ["ethereum:local", "ethereum:local:foundry", "ethereum:local:node"])
def test_a_local_chain_may_keep_every_role_with_the_deployer(network: str):
    assert is_local_network(network)
    check_role_plan(network, None, DEPLOYER)
    check_role_plan(network, DEPLOYER, DEPLOYER)


@pytest.mark.parametrize("network", ["ethereum:sepolia", "ethereum:sepolia:node", "ethereum:mainnet:node",
                                     "ethereum:mainnet-fork:foundry", "arbitrum:sepolia:node"])
def test_a_non_local_network_needs_a_governance_admin_other_than_the_deployer(network: str):
    assert not is_local_network(network)
    with pytest.raises(UsageError, match="give the governance address"):
        check_role_plan(network, None, DEPLOYER)
    with pytest.raises(UsageError, match="is the deployer key"):
        check_role_plan(network, DEPLOYER.lower(), DEPLOYER)
    check_role_plan(network, GOVERNANCE, DEPLOYER)  # governance given: allowed
    check_role_plan(network, None, DEPLOYER, test_deployment=True)  # a throwaway deployment says so


def test_the_committed_testnet_params_cannot_deploy_without_an_admin():
    params = load_params(DEFAULT_PARAMS.with_name("sepolia_params.toml"))
    with pytest.raises(UsageError, match="--admin"):
        check_role_plan("ethereum:sepolia:node", params.admin, DEPLOYER)
    check_role_plan("ethereum:sepolia:node", override_admin(params, GOVERNANCE).admin, DEPLOYER)


def _revert_name(abi: list, exc: Exception) -> str:
    from oracle.chain.governance import error_selectors

    data = getattr(exc, "data", None)
    data = data if isinstance(data, str) else ""
    return error_selectors(abi).get(data[:10].lower(), repr(exc))


def _deploy(anvil, tmp_path: Path, admin: str | None):
    from oracle.chain.deploy import deploy_local

    text = DEFAULT_PARAMS.read_text()
    if admin is not None:
        text = text.replace('admin = ""', f'admin = "{admin}"')
    params = tmp_path / "p.toml"
    params.write_text(text)
    return deploy_local(anvil.url, params, out=tmp_path / "d.json")


@pytest.mark.chain
def test_nobody_can_make_another_minter_of_eco_credit(anvil, tmp_path: Path):
    """Before the fix EcoCredit's admin (the deployer, then governance) could grantRole(MINTER_ROLE, anyone)."""
    deployment = _deploy(anvil, tmp_path, None)
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    credit, green = deployment.eco_credit(w3), deployment.green_proof(w3)
    deployer, outsider = w3.eth.accounts[0], w3.eth.accounts[3]
    assert credit.functions.minter().call() == green.address
    abi = deployment.contracts["EcoCredit"].abi
    # The v1 way: grantRole(MINTER_ROLE, outsider) from the admin. No such function any more: it reverts.
    grant = keccak(text="grantRole(bytes32,address)")[:4] + keccak(text="MINTER_ROLE") \
        + bytes(12) + bytes.fromhex(outsider[2:])
    with pytest.raises(Exception):
        w3.eth.call({"from": deployer, "to": credit.address, "data": "0x" + grant.hex()})
    assert not [e for e in abi if e.get("name") in ("grantRole", "MINTER_ROLE", "DEFAULT_ADMIN_ROLE")]
    # The one-time setter is spent; nobody, the deployer included, can set it again or mint.
    for who in (deployer, outsider):
        with pytest.raises(Exception) as exc:
            credit.functions.setMinter(outsider).call({"from": who})
        assert _revert_name(abi, exc.value) == ("MinterAlreadySet" if who == deployer else "NotDeployer")
        with pytest.raises(Exception) as exc:
            credit.functions.mint(who, 1).call({"from": who})
        assert _revert_name(abi, exc.value) == "NotMinter"
    assert credit.functions.minter().call() == green.address


@pytest.mark.chain
def test_deploy_with_governance_leaves_the_deployer_no_role(anvil, tmp_path: Path):
    deployment = _deploy(anvil, tmp_path, GOVERNANCE)
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    green, credit = deployment.green_proof(w3), deployment.eco_credit(w3)
    deployer, governance = w3.eth.accounts[0], Web3.to_checksum_address(GOVERNANCE)
    for role in ("DEFAULT_ADMIN_ROLE", "GOVERNOR_ROLE", "PAUSER_ROLE"):
        value = getattr(green.functions, role)().call()
        assert green.functions.hasRole(value, governance).call(), role
        assert not green.functions.hasRole(value, deployer).call(), role
    assert credit.functions.minter().call() == green.address
    # The deployment file: four contracts (RetirementCertificate burns through EcoCredit) and the v2 params.
    assert set(deployment.contracts) == {"Groth16Verifier", "EcoCredit", "GreenProof", "RetirementCertificate"}
    certificate = deployment.contract(w3, "RetirementCertificate")
    assert certificate.address != credit.address and w3.eth.get_code(certificate.address)
    assert deployment.params["admin"] == GOVERNANCE
    demo = deployment.params["classes"]["H200/encoder-bf16/item"]
    assert demo["tiers_uj_per_unit"] == list(load_params().classes["H200/encoder-bf16/item"].tiers_uj_per_unit)
    # Every class was set on chain with its event (the web indexes these).
    logs = green.events.EfficiencyClassSet().get_logs(from_block=deployment.block)
    assert {bytes(log.args.classId).rstrip(b"\0").decode() for log in logs} == set(deployment.params["classes"])
