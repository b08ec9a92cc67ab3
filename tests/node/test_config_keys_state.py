"""Config validation, key loading and the durable epoch state machine (no chain needed)."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest
from eth_account import Account

from oracle.app.cli import main
from oracle.conventions import epoch_of
from oracle.errors import UsageError
from oracle.node import state as st
from oracle.node.config import DEFAULT_CONFIG_TEXT, load_config, parse_config
from oracle.node.keys import NodeKey, dev_account, load_key
from oracle.node.retry import Backoff
from oracle.node.state import NodeState
from oracle.measure.epoch import EpochEnergy
from oracle.measure.reading import Gap
from oracle.conventions import efficiency_credits_wei as credits_wei
from oracle.node.tiers import pick_tier, unmeasured_intervals

ANVIL_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil's documented account 1


def test_default_config_file_parses_to_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "oracle.toml"
    path.write_text(DEFAULT_CONFIG_TEXT)
    assert load_config(path) == load_config(None)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"chain": {"rpc_url": "ftp://x"}}, "chain.rpc_url"),
        ({"chain": {"confirmations": 0}}, "chain.confirmations"),
        ({"chain": {"network": "sepolia"}}, "chain.network"),
        ({"node": {"epoch_seconds": "60"}}, "node.epoch_seconds"),
        ({"node": {"hardware_class": "H200 GPU with a very long name over 32 bytes"}}, "node.hardware_class"),
        ({"node": {"regoin": "KR"}}, "node.regoin"),
        ({"measure": {"sources": ["nvml", "tea-leaves"]}}, "measure.sources"),
        ({"measure": {"sample_hz": True}}, "measure.sample_hz"),
        ({"exporter": {"port": 70000}}, "exporter.port"),
        ({"exporter": {"pod_resources_socket": "kubelet.sock"}}, "exporter.pod_resources_socket"),  # not absolute
        ({"exporter": {"pod_resources_refresh_s": 0}}, "exporter.pod_resources_refresh_s"),
        ({"key": {"account": "0xabc"}}, "key.account"),
        ({"chain": {"network": "ethereum:sepolia", "rpc_url": "https://rpc.example"}}, "key.account"),
        ({"oracel": {}}, "oracel"),
    ],
)
def test_bad_config_names_the_field(doc: dict, field: str) -> None:
    with pytest.raises(UsageError, match=rf"config field {field}\b"):
        parse_config(doc)


def test_pod_attribution_config_gives_the_metrics_gpu_uuids_and_a_watcher() -> None:
    from oracle.measure.podresources import PodResourcesWatcher
    from oracle.metrics import Metrics
    from oracle.node.service import attribute_energy

    class Gpus:  # what build_loop finds on an NvmlSource
        def gpu_uuids(self) -> dict[str, str]:
            return {"gpu0:NVIDIA H100": "GPU-1234"}

    off = Metrics(node_name="n")
    attribute_energy(off, [Gpus(), object()], parse_config({}))
    assert off._gpu_uuids == {"gpu0:NVIDIA H100": "GPU-1234"} and off.pods is None  # default: attribution off
    on = Metrics(node_name="n")
    socket_path = "/var/lib/kubelet/pod-resources/kubelet.sock"
    attribute_energy(on, [Gpus()], parse_config({"exporter": {"pod_resources_socket": socket_path,
                                                              "pod_resources_refresh_s": 30}}))
    assert isinstance(on.pods, PodResourcesWatcher)
    assert (on.pods.socket_path, on.pods.refresh_s) == (socket_path, 30.0)


def test_bad_config_file_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "oracle.toml"
    path.write_text('[exporter]\nport = "ninety"\n')
    assert main(["oracle", "run", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "exporter.port" in err


def test_init_writes_a_commented_default_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "oracle.toml"
    assert main(["oracle", "init", "--out", str(path)]) == 0
    text = path.read_text()
    assert text.count("#") > 10 and load_config(path).node.hardware_class == "H200"
    assert main(["oracle", "init", "--out", str(path)]) == 2


def test_dev_key_is_anvils_documented_account_and_never_shown() -> None:
    key = dev_account(1)
    assert key.address == Account.from_key(ANVIL_KEY_1).address
    shown = repr(key) + str(key) + f"{key}"
    assert ANVIL_KEY_1[2:] not in shown and key.address in shown
    with pytest.raises(UsageError, match="key.account"):
        load_key("dev:1", "X", local_chain=False)


def test_ape_keystore_account_decrypts_with_the_env_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private_key = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    accounts = tmp_path / "ape" / "accounts"
    accounts.mkdir(parents=True)
    (accounts / "operator.json").write_text(json.dumps(Account.encrypt(private_key, "correct horse", iterations=2)))
    monkeypatch.setenv("APE_DATA_FOLDER", str(tmp_path / "ape"))
    monkeypatch.delenv("NODE_PASS", raising=False)
    with pytest.raises(UsageError, match="NODE_PASS is not set"):
        load_key("ape:operator", "NODE_PASS", local_chain=False)
    monkeypatch.setenv("NODE_PASS", "wrong")
    with pytest.raises(UsageError, match="does not decrypt"):
        load_key("ape:operator", "NODE_PASS", local_chain=False)
    monkeypatch.setenv("NODE_PASS", "correct horse")
    key = load_key("ape:operator", "NODE_PASS", local_chain=False)
    assert isinstance(key, NodeKey) and key.address == Account.from_key(private_key).address
    with pytest.raises(UsageError, match="no Ape account 'nobody'"):
        load_key("ape:nobody", "NODE_PASS", local_chain=False)


def test_tier_choice_is_the_lowest_efficiency_tier_met() -> None:
    tiers = [100, 200, 400]  # µJ per unit; met when τ·W >= 1000·Σe
    assert pick_tier(50, 1000, tiers) == 0  # 50 µJ/unit
    assert pick_tier(100, 1000, tiers) == 0  # exactly on the boundary
    assert pick_tier(101, 1000, tiers) == 1
    assert pick_tier(400, 1000, tiers) == 2
    assert pick_tier(401, 1000, tiers) is None  # over every tier
    assert pick_tier(150, 1000, [400, 200]) == 1
    assert pick_tier(0, 0, tiers) is None and pick_tier(5, 0, tiers) is None  # zero work meets nothing
    assert epoch_of(1_000_004.99, 5) == 200_000 and epoch_of(1_000_005, 5) == 200_001
    # (β − τ)·min(W, cap)·1e18 / 3.6e12: 3.6e12 µJ saved = 1 ECO; the cap bounds W.
    assert credits_wei(3_600_000_000 + 1000, 1000, 1000, 10**9, 5) == 10**18
    assert credits_wei(2_000, 1_000, 10**9, 10, 5) == 1_000 * 50 * 10**18 // 3_600_000_000_000


def test_epoch_schedule_segments_never_number_time_twice() -> None:
    from oracle.node.schedule import EpochSchedule

    fixed = EpochSchedule.of([(0, 0, 5)])
    assert fixed.epoch_at(1_000_004.99) == 200_000 and fixed.bounds(200_000) == (1_000_000, 1_000_005)
    # setEpochLength(60) during epoch 200_000: a new segment from its end, numbered from 200_001.
    changed = EpochSchedule.of([(0, 0, 5), (1_000_005, 200_001, 60)])
    assert changed.bounds(200_000) == (1_000_000, 1_000_005) and changed.bounds(200_001) == (1_000_005, 1_000_065)
    assert changed.epoch_at(1_000_064.9) == 200_001 and changed.epoch_at(1_000_065) == 200_002
    assert changed.length_of(199_999) == 5 and changed.current_length == 60
    assert changed.next_boundary(1_000_004.99, 64) == 1_000_005
    assert changed.next_boundary(1_000_005, 64) == pytest.approx(1_000_005 + 60 / 64)


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    backoff = Backoff(base_s=0.5, cap_s=8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    assert all(0.25 <= d <= 0.5 for d in delays[:1]) and all(4.0 <= d <= 8.0 for d in delays[5:])
    assert len({round(d, 6) for d in delays[5:]}) == 3  # jittered, not identical
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def _energy(epoch: int, per_interval: int, gaps: tuple[Gap, ...] = ()) -> EpochEnergy:
    total = per_interval * 64
    return EpochEnergy(epoch, epoch * 64.0, (epoch + 1) * 64.0, (per_interval,) * 64, total,
                       {"replay/h200-trace": total}, {"replayed": total}, ("gpu0",), gaps, (3,) * 64, 192, "item",
                       "replayed", ("replay:h200",))


def test_unmeasured_intervals_are_the_ones_a_gap_overlaps() -> None:
    # 64-s epoch: one interval per second; a gap over [2.5, 4.0) touches intervals 2 and 3 only.
    energy = _energy(0, 5, (Gap(2.5, 4.0, "gpu0", "nvml", "read failed"),))
    assert unmeasured_intervals(energy) == [2, 3]
    assert unmeasured_intervals(_energy(0, 5)) == []


def test_state_machine_is_durable_and_refuses_wrong_transitions(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    node = "0xNode"
    state = NodeState(path)
    assert state.open_epoch(node, 7, 5) and not state.open_epoch(node, 7, 5)
    assert state.record_closed(node, 7, _energy(7, 1), st.PROVING, [], [], 0, 100, 12345, "tier 0",
                               42, "estimated: test") == st.PROVING
    with pytest.raises(st.StateError):
        state.record_signed(node, 7, 0, "0x00", "0xhash")  # not proved yet
    with pytest.raises(st.StateError):
        state.record_accepted(node, 7, "0xhash", 1, 1, "x")
    state.record_proof(node, 7, 99, list(range(8)), {"proof": {}})
    state.close()
    # A fresh process sees exactly what was recorded, salt included (a re-proof keeps the commitment).
    again = NodeState(path)
    rec = again.get(node, 7)
    assert rec is not None and rec.status == st.PROVED and rec.salt == 12345 and rec.proof == list(range(8))
    assert rec.energy_mj == 64 and rec.intervals_mj == [1] * 64
    assert rec.energy_by_method == {"replay/h200-trace": 64} and rec.energy_by_kind == {"replayed": 64}
    assert rec.work_units == [3] * 64 and rec.work_total == 192 and rec.work_unit == "item"
    assert rec.methods == 0x22 and rec.efficiency_uj_per_unit == 100 and rec.footprint_mj == 42
    assert rec.energy_per_unit_uj == pytest.approx(1000 * 64 / 192)
    again.record_signed(node, 7, 3, "0xraw", "0xhash")
    assert again.get(node, 7).status == st.SENDING  # type: ignore[union-attr]
    again.unsign(node, 7, "nonce taken")
    assert again.get(node, 7).nonce is None  # type: ignore[union-attr]
    assert again.open_epoch(node, 8, 5)
    assert again.record_closed(node, 8, _energy(8, 5), st.INCOMPLETE, [3, 4], [], None, None, None,
                               "gaps") == st.INCOMPLETE
    assert again.open_epoch(node, 9, 5)
    assert again.record_closed(node, 9, _energy(9, 5), st.OVER_BUDGET, [], [], None, None, None,
                               "over") == st.OVER_BUDGET
    assert again.open_epoch(node, 10, 5)
    assert again.record_closed(node, 10, _energy(10, 5), st.ZERO_WORK, [], [], None, None, None,
                               "zero work: nothing to prove") == st.ZERO_WORK
    assert again.open_epoch(node, 11, 5)
    again.record_signed(node, [], 0, "0x", "0x")  # an empty batch records nothing
    assert again.record_closed(node, 11, _energy(11, 5), st.PROVING, [], [], 0, 100, 1, "t") == st.PROVING
    again.record_proof(node, 11, 1, [0] * 8, {})
    again.record_signed(node, 7, 4, "0xraw2", "0xhash2")
    again.unsign(node, 7, "x")
    again.record_signed(node, [7, 11], 5, "0xbatch", "0xbatchhash")  # one signed batch, both rows at once
    assert {again.get(node, e).tx_hash for e in (7, 11)} == {"0xbatchhash"}  # type: ignore[union-attr]
    assert again.get(node, 11).batch_size == 2  # type: ignore[union-attr]
    with pytest.raises(st.StateError):  # all or nothing: 7 is no longer proved
        again.record_signed(node, [7], 6, "0xr", "0xh")
    assert [r.epoch for r in again.with_status(node, st.PENDING)] == [7, 11]
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_node_db_of_the_flat_method_list_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    old = sqlite3.connect(path)
    v1_schema = "\n".join(line for line in st.SCHEMA.splitlines()  # as written before v2's columns
                          if line.split()[:1] not in [[name] for name, _ in st.V2_COLUMNS])
    old.executescript(v1_schema.replace("intervals_mj  TEXT", "readings TEXT").replace(
        "energy_by_method TEXT,", "methods TEXT,").replace("energy_by_kind   TEXT,", ""))
    old.execute("INSERT INTO node_epochs (node, epoch, epoch_seconds, status, readings, energy_mj, methods, "
                "created_at, updated_at) VALUES ('0xN', 1, 5, 'accepted', '[2, 3]', 5, ?, 0, 0)",
                (json.dumps(["replay/h200-trace", "replayed=5mJ"]),))
    old.commit()
    old.close()
    rec = NodeState(path).get("0xN", 1)
    assert rec is not None and rec.intervals_mj == [2, 3] and rec.energy_by_kind == {"replayed": 5}
    assert rec.energy_by_method == {"replay/h200-trace": 0}
    assert rec.work_total is None and rec.methods is None  # v1 rows: the v2 columns were added, empty


def test_network_defaults_for_confirmations_and_fee_caps_and_k8s_keys() -> None:
    from oracle.node.config import DEFAULT_CONFIG_TEXT, parse_config

    local = parse_config({})
    assert local.chain.confirmations == 1
    assert (local.submit.max_fee_per_gas_gwei, local.submit.max_priority_fee_gwei) == (50, 5)
    assert local.submit.max_gas_per_submit == 1_500_000
    measured = {"sources": ["nvml"], "work_sources": ["vllm:http://127.0.0.1:8000/metrics"]}
    remote = parse_config({"chain": {"network": "ethereum:sepolia", "rpc_url": "https://rpc.example"},
                           "key": {"account": "ape:node"}, "measure": measured})
    assert remote.chain.confirmations == 12 and remote.submit.max_fee_per_gas_gwei == 100
    # The generated file parses, and leaves the network-dependent values to the network.
    import tomllib

    generated = tomllib.loads(DEFAULT_CONFIG_TEXT)
    generated["chain"].update(network="ethereum:sepolia", rpc_url="https://rpc.example")
    generated["key"]["account"] = "ape:node"
    generated["measure"].update(measured)
    assert parse_config(generated).chain.confirmations == 12
    assert parse_config({"exporter": {"host": "0.0.0.0"}}).exporter.host == "0.0.0.0"
    with pytest.raises(UsageError, match="exporter.host"):
        parse_config({"exporter": {"host": "pod ip"}})
    with pytest.raises(UsageError, match="submit.max_priority_fee_gwei"):
        parse_config({"submit": {"max_fee_per_gas_gwei": 2, "max_priority_fee_gwei": 3}})
