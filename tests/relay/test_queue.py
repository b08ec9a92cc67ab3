"""The relay's queue state machine (oracle.relay.queue), on a real SQLite file: no chain, no HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from oracle.relay.queue import (
    BATCHED, DROPPED, FAILED, QUEUED, REVERTED, SENDING, SETTLED, Item, QueueError, RelayQueue,
)

NODE_A = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
NODE_B = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"


def item(node: str = NODE_A, epoch: int = 7, **changes) -> Item:
    values = dict(node=node, epoch=epoch, tier=1, work=640, methods=0x22, commitment=2**250 + epoch,
                  proof=[2**255 + i for i in range(8)], public_signals=["1", "640", str(epoch), "9", "34", "5"])
    return Item(**(values | changes))


@pytest.fixture
def queue(tmp_path: Path) -> RelayQueue:
    q = RelayQueue(tmp_path / "relay.db")
    yield q
    q.close()


def test_add_is_idempotent_and_keeps_big_numbers_exact(queue: RelayQueue) -> None:
    created, stored = queue.add(item())
    assert created and stored.status == QUEUED
    assert stored.commitment == 2**250 + 7 and stored.proof == [2**255 + i for i in range(8)]
    again, same = queue.add(item(tier=3))  # same (node, epoch): the first record stands
    assert not again and same.tier == 1
    assert queue.counts()["items"] == {QUEUED: 1, BATCHED: 0, SETTLED: 0, FAILED: 0}


def test_batch_then_receipt_settles_every_item(queue: RelayQueue) -> None:
    queue.add(item(NODE_A))
    queue.add(item(NODE_B))
    keys = [i.key for i in queue.items(QUEUED)]
    batch_id = queue.record_batch(keys, nonce=4, raw_tx="0xf00", tx_hash="0xabc")
    assert queue.open_batch().nonce == 4 and queue.open_batch().raw_tx == "0xf00"
    assert [i.status for i in queue.items()] == [BATCHED, BATCHED]
    queue.settle_batch(batch_id, "0xabc", block=12, gas_used=300_000)
    assert queue.open_batch() is None
    settled = queue.items(SETTLED)
    assert [(i.tx_hash, i.block, i.batch_id) for i in settled] == [("0xabc", 12, batch_id)] * 2
    assert queue.batch(batch_id).status == SETTLED and queue.batch(batch_id).gas_used == 300_000


def test_one_batch_in_flight_at_a_time(queue: RelayQueue) -> None:
    queue.add(item(NODE_A))
    queue.add(item(NODE_B))
    queue.record_batch([(NODE_A, 7)], 0, "0x1", "0xh1")
    with pytest.raises(QueueError):
        queue.record_batch([(NODE_B, 7)], 1, "0x2", "0xh2")
    assert queue.get(NODE_B, 7).status == QUEUED  # the refused transition changed nothing


def test_a_batched_item_cannot_go_into_a_second_batch(queue: RelayQueue) -> None:
    queue.add(item())
    batch_id = queue.record_batch([(NODE_A, 7)], 0, "0x1", "0xh1")
    queue.settle_batch(batch_id, "0xh1", 3, 1)
    with pytest.raises(QueueError):
        queue.record_batch([(NODE_A, 7)], 1, "0x2", "0xh2")  # settled, not queued
    assert len(queue.batches()) == 1


@pytest.mark.parametrize("outcome", [REVERTED, DROPPED])
def test_a_reverted_or_dropped_batch_queues_its_items_again(queue: RelayQueue, outcome: str) -> None:
    queue.add(item(NODE_A))
    queue.add(item(NODE_B))
    batch_id = queue.record_batch([(NODE_A, 7), (NODE_B, 7)], 0, "0x1", "0xh1")
    queue.release_batch(batch_id, outcome, "why")
    assert [(i.status, i.batch_id) for i in queue.items()] == [(QUEUED, None)] * 2
    assert queue.batch(batch_id).status == outcome and queue.batch(batch_id).note == "why"
    with pytest.raises(QueueError):
        queue.settle_batch(batch_id, "0xh1", 1, 1)  # a closed batch stays closed


def test_fail_and_settled_elsewhere_only_from_queued(queue: RelayQueue) -> None:
    queue.add(item(NODE_A))
    queue.add(item(NODE_B))
    queue.fail((NODE_A, 7), "EpochTooOld(epoch=7, currentEpoch=900)")
    queue.settled_elsewhere((NODE_B, 7), "already accepted on chain")
    a, b = queue.get(NODE_A, 7), queue.get(NODE_B, 7)
    assert (a.status, a.reason) == (FAILED, "EpochTooOld(epoch=7, currentEpoch=900)")
    assert (b.status, b.tx_hash) == (SETTLED, None)
    with pytest.raises(QueueError):
        queue.fail((NODE_A, 7), "again")


def test_state_survives_reopening(tmp_path: Path) -> None:
    # What a kill -9 leaves: the file, committed transactions only.
    q = RelayQueue(tmp_path / "relay.db")
    q.add(item())
    q.record_batch([(NODE_A, 7)], 9, "0xraw", "0xhash")
    q._db.close()  # no clean shutdown path
    reopened = RelayQueue(tmp_path / "relay.db")
    batch = reopened.open_batch()
    assert (batch.status, batch.nonce, batch.raw_tx, batch.tx_hash, batch.size) == (SENDING, 9, "0xraw", "0xhash", 1)
    assert reopened.get(NODE_A, 7).status == BATCHED
    reopened.close()


def test_oldest_queued_and_arrival_order(queue: RelayQueue) -> None:
    assert queue.oldest_queued_at() is None
    queue.add(item(NODE_B, 8))
    queue.add(item(NODE_A, 7))
    assert [i.key for i in queue.items(QUEUED, limit=1)] == [(NODE_B, 8)]
    assert queue.oldest_queued_at() == queue.get(NODE_B, 8).received_at
