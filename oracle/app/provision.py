"""`ecoai up`'s chain set-up: deploy unless this chain has our contracts, match the epoch length, admit the node."""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import replace
from pathlib import Path

from web3 import Web3

from oracle.chain import deploy as chain_deploy
from oracle.chain.deployment import Deployment
from oracle.chain.governance import Governor
from oracle.chain.keys import dev_account
from oracle.conventions import label_to_bytes32
from oracle.errors import UsageError

log = logging.getLogger("ecoai.up")

NODE_DEV_INDEX = 1  # the local node's key
BENEFICIARY_DEV_INDEX = 2  # the wallet its credits accrue to (claimable on the web app's claim page)


def _has_code(w3: Web3, address: str) -> bool:
    return len(w3.eth.get_code(Web3.to_checksum_address(address))) > 0


def _reusable(w3: Web3, deployment_file: Path) -> Deployment | None:
    """The deployment file's contracts when they are on this chain; None when it is missing or stale."""
    if not deployment_file.exists():
        return None
    try:
        deployment = Deployment.load(deployment_file)
    except ValueError as exc:
        log.warning("unreadable deployment file (%s): deploying afresh", exc)
        return None
    if deployment.chain_id != w3.eth.chain_id or not _has_code(w3, deployment.address("GreenProof")):
        log.info("deployment file %s does not match this chain: deploying afresh", deployment_file)
        return None
    return deployment


def demo_class_id(params: chain_deploy.DeployParams, hardware_class: str) -> str:
    """The local demo's efficiency class: the replayed trace's class of this hardware (require_measured off),
    whose unit is what the replayed trace counts ("item")."""
    for class_id, c in params.classes.items():
        if c.hardware_class == hardware_class and not c.require_measured:
            return class_id
    raise UsageError(f"deploy params: no replayed demo class (require_measured = false) for {hardware_class}")


def ensure_stack(
    rpc_url: str, deployment_file: Path, epoch_seconds: int | None, hardware_class: str, region: str
) -> Deployment:
    """Deploy unless this chain already has our contracts; set the epoch length; admit this node into the
    hardware's replayed demo class."""
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    deployment = _reusable(w3, deployment_file)
    params = chain_deploy.load_params()
    if epoch_seconds:
        params = replace(params, epoch_length_s=epoch_seconds)
    if deployment is None:
        log.info("deploying the contracts (Ape) on %s", rpc_url)
        # Ape reports each transaction on stdout; ours is kept for the summary (--json prints one line).
        with contextlib.redirect_stdout(sys.stderr):
            deployment = chain_deploy.deploy_local(rpc_url, params, deployment_file)
        log.info(
            "deployed GreenProof %s, EcoCredit %s, Groth16Verifier %s (deployment %s)",
            deployment.address("GreenProof"),
            deployment.address("EcoCredit"),
            deployment.address("Groth16Verifier"),
            deployment_file,
        )
    else:
        log.info("reusing contracts of %s (GreenProof %s)", deployment_file, deployment.address("GreenProof"))
    governor = Governor(w3, deployment)
    green_proof = governor.green_proof
    if epoch_seconds and green_proof.functions.schedule().call()[-1][2] != epoch_seconds:
        # Tiers are energy per unit of work: they do not depend on the length. The new length starts at the end
        # of the current epoch (a new schedule segment): no stretch of time is numbered twice.
        governor.set_epoch_length(epoch_seconds)
        log.info("epoch length set to %d s (from the end of the current epoch)", epoch_seconds)
    class_id = demo_class_id(params, hardware_class)
    node = dev_account(NODE_DEV_INDEX).address
    beneficiary = dev_account(BENEFICIARY_DEV_INDEX).address
    info = green_proof.functions.nodeInfo(node).call()
    if not info[3] or bytes(info[1]) != label_to_bytes32(class_id) or bytes(info[2]) != label_to_bytes32(region):
        governor.admit_node(node, beneficiary, class_id, region, "ecoai up local node")
        log.info("admitted node %s (beneficiary %s, class %s, region %s)", node, beneficiary, class_id, region)
    return deployment
