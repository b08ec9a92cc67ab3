"""HTTP intake (POST /v1/proofs) on a real uvicorn with real v2 proofs: a valid proof is queued once, an invalid
one (tampered signal, wrong node, broken proof) is refused with 422 and its reason, and nothing of it is queued."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import requests

from oracle.node.relay_client import RelayRefused, hand_over, submission_body
from oracle.relay.queue import QUEUED, RelayQueue
from oracle.relay.server import ChainViews, create_app

from .conftest import DEMO_TIER, NODES, get_json, node_address, prove

EPOCH = 5_000_000
NODE = node_address(NODES[0])


@pytest.fixture(scope="module")
def bundle(eff_prover):
    return prove(eff_prover, node_address(NODES[0]), EPOCH)


@pytest.fixture
def relay(tmp_path: Path, serve, eff_vk):
    """The relay's app without a chain (look-ups skipped: the settler checks them before sending)."""
    queue = RelayQueue(tmp_path / "relay.db")
    url = serve(create_app(queue, eff_vk, ChainViews(None), {"relayer": "test"}))
    yield url, queue
    queue.close()


def post(url: str, body: dict) -> requests.Response:
    return requests.post(url + "/v1/proofs", json=body, timeout=60)


def test_a_valid_proof_is_queued_once(relay, bundle) -> None:
    url, queue = relay
    first = hand_over(url, bundle, tier=DEMO_TIER, node=NODE)
    assert (first["status"], first["duplicate"], first["epoch"]) == (QUEUED, False, EPOCH)
    assert first["node"] == node_address(NODES[0])
    again = hand_over(url, bundle, tier=DEMO_TIER, node=NODE)  # a node retrying after a lost answer
    assert (again["status"], again["duplicate"]) == (QUEUED, True)
    assert len(queue.items()) == 1
    assert get_json(url + "/v1/status")["queue"] == {"queued": 1, "batched": 0, "settled": 0, "failed": 0}
    one = get_json(f"{url}/v1/proofs/{node_address(NODES[0]).lower()}/{EPOCH}")
    assert one["status"] == QUEUED and one["commitment"] == bundle.public_signals[5]


def test_the_snarkjs_proof_object_is_accepted_too(relay, bundle) -> None:
    url, queue = relay
    body = submission_body(bundle, tier=DEMO_TIER, node=NODE) | {"proof": bundle.proof}
    assert post(url, body).status_code == 202
    words = submission_body(bundle, tier=0, node=NODE)["proof"]
    assert queue.get(NODE, EPOCH).proof == [int(w) for w in words]


def _tampered_signal(body: dict) -> dict:
    # Work raised in the field and the signal alike: the fields match, the proof does not.
    body["public_signals"][1] = str(int(body["public_signals"][1]) + 1)
    body["work"] = body["public_signals"][1]
    return body


def _wrong_node(body: dict) -> dict:
    body["node"] = node_address(NODES[1])  # someone else's epoch: the proof binds the node
    return body


def _wrong_node_signal(body: dict) -> dict:
    other = int(node_address(NODES[1]), 16)
    body["node"] = node_address(NODES[1])
    body["public_signals"][3] = str(other)
    return body


def _wrong_epoch(body: dict) -> dict:
    body["epoch"] = EPOCH + 1
    return body


def _broken_proof(body: dict) -> dict:
    body["proof"][0] = "1"  # (1, y) is not on the curve
    return body


def _swapped_proof_word(body: dict) -> dict:
    body["proof"][6], body["proof"][7] = body["proof"][7], body["proof"][6]
    return body


def _missing(body: dict) -> dict:
    del body["commitment"]
    return body


def _commitment_alias(body: dict) -> dict:
    from oracle.conventions import SNARK_SCALAR_FIELD

    body["commitment"] = str(int(body["commitment"]) + SNARK_SCALAR_FIELD)
    return body


@pytest.mark.parametrize("tamper, reason", [
    (_tampered_signal, "does not verify"),
    (_wrong_node, "public signal 3 (node)"),
    (_wrong_node_signal, "does not verify"),
    (_wrong_epoch, "public signal 2 (epoch)"),
    (_broken_proof, "does not verify"),
    (_swapped_proof_word, "does not verify"),
    (_missing, "missing field(s): commitment"),
    (_commitment_alias, "commitment must be an integer"),
])
def test_an_invalid_hand_over_is_refused_with_422_and_queues_nothing(relay, bundle, tamper, reason) -> None:
    url, queue = relay
    body = tamper(copy.deepcopy(submission_body(bundle, tier=DEMO_TIER, node=NODE)))
    response = post(url, body)
    assert response.status_code == 422, response.text
    assert reason in response.json()["error"]
    assert queue.items() == []
    # A refused hand-over does not block the valid one for the same epoch.
    assert hand_over(url, bundle, tier=DEMO_TIER, node=NODE)["status"] == QUEUED


def test_the_client_raises_relay_refused_and_checks_the_node(relay, bundle) -> None:
    url, queue = relay
    with pytest.raises(ValueError, match="not the proof's node"):
        hand_over(url, bundle, tier=DEMO_TIER, node=node_address(NODES[1]))
    with pytest.raises(RelayRefused) as refused:
        # snarkjs's own key name, as the node stores the bundle
        hand_over(url, {"proof": bundle.proof, "publicSignals": bundle.public_signals[:5] + ["1"]}, tier=0,
                  node=NODE)
    assert refused.value.status == 422 and "does not verify" in refused.value.reason
    assert post(url, {"not": "a submission"}).status_code == 422
    assert requests.post(url + "/v1/proofs", data=b"{", timeout=10).status_code == 422
    assert queue.items() == []
