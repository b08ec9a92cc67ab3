"""What an operator reads: `ecoai oracle status`'s table, every subcommand's --help description, and the
generated oracle.toml (`ecoai oracle init`) matching the loader key for key, default for default."""

from __future__ import annotations

import argparse
import io
import json
import re
import sqlite3
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from oracle.node import config as node_config
from oracle.node.config import DEFAULT_CONFIG_TEXT, NodeConfig, load_config, parse_config
from oracle.progress import Steps, plural

NODE_A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
NODE_B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
TX = "0x" + "ab" * 32
SECTIONS = ("chain", "key", "node", "measure", "exporter", "submit", "optimize")


# ---- the generated config file --------------------------------------------------------------------------

def _file_keys() -> dict[str, dict[str, tuple[object, bool]]]:
    """section -> key -> (value, commented out) for every `key = value` line of default_config.toml, the
    commented-out ones (`# key = value`, network-dependent defaults) included."""
    keys: dict[str, dict[str, tuple[object, bool]]] = {}
    section = ""
    for line in DEFAULT_CONFIG_TEXT.splitlines():
        if m := re.fullmatch(r"\[(\w+)\]", line.strip()):
            section = m.group(1)
            keys[section] = {}
        elif m := re.fullmatch(r"(#\s*)?(\w+) = (.+)", line.strip()):
            value = tomllib.loads(f"v = {m.group(3)}")["v"]
            keys[section][m.group(2)] = (value, m.group(1) is not None)
    return keys


def _loader_keys() -> dict[str, set[str]]:
    return {name: {f.name for f in fields(type(getattr(NodeConfig(), name)))} for name in SECTIONS}


def test_every_config_key_in_the_file_is_known_to_the_loader_and_back() -> None:
    in_file = _file_keys()
    loader = _loader_keys()
    assert set(in_file) == set(loader)
    for section, keys in loader.items():
        assert set(in_file[section]) == keys, f"[{section}]"
        for key, (value, _) in in_file[section].items():
            doc = {section: {key: value}}
            if section == "submit" and key == "max_priority_fee_gwei":
                doc[section]["max_fee_per_gas_gwei"] = 100
            parse_config(doc)  # known to the loader: no "unknown field", and the shown value is valid


def test_the_files_values_are_the_loaders_defaults() -> None:
    in_file = _file_keys()
    local, remote = parse_config({}), parse_config(
        {"chain": {"network": "ethereum:sepolia", "rpc_url": "https://rpc.example"}, "key": {"account": "ape:x"},
         "measure": {"allow_unmeasured": True}})  # the default work source, the replay, is for local chains
    for section, keys in in_file.items():
        for key, (value, commented) in keys.items():
            # Commented-out fields follow the network; the value shown is the other networks' default.
            actual = getattr(getattr(remote if commented else local, section), key)
            if isinstance(actual, tuple):
                actual = list(actual)
            if isinstance(value, str) and isinstance(actual, list):
                value = [value]
            if actual is None:
                actual = ""
            assert value == actual or str(value) == str(actual), f"{section}.{key}: file {value!r}, code {actual!r}"


def test_the_files_comments_state_the_codes_defaults() -> None:
    text = DEFAULT_CONFIG_TEXT
    assert "<state>/deployments/<network>.json" in text
    assert "local.json" in text and "sepolia.json" in text
    assert f"{node_config.LOCAL_CONFIRMATIONS} on a local chain" in text
    assert f"{node_config.REMOTE_CONFIRMATIONS} on any other network" in text
    local_fee, local_tip = (int(v) for v in node_config.LOCAL_FEE_CAPS)
    remote_fee, remote_tip = (int(v) for v in node_config.REMOTE_FEE_CAPS)
    assert f"{local_fee} gwei max fee per gas and {local_tip} gwei priority fee" in text
    assert f"other networks {remote_fee} gwei and {remote_tip} gwei" in text
    for form in ("vllm:URL", "tgi:URL", "triton:URL", "prometheus:URL#METRIC{LABELS}@UNIT", "work:NAME[@UNIT]",
                 '"replay"', "replay:<file.csv>"):
        assert form in text, form
    assert "allow_unmeasured" in text and "batch_size (1 to 256)" in text and "relay_url" in text


def test_init_writes_the_file_the_loader_reads_as_defaults(tmp_path: Path) -> None:
    from oracle.app.cli import main

    path = tmp_path / "oracle.toml"
    assert main(["oracle", "init", "--out", str(path)]) == 0
    assert path.read_text() == DEFAULT_CONFIG_TEXT and load_config(path) == load_config(None)


# ---- --help ----------------------------------------------------------------------------------------------

def _subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("ecoai",)):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subcommands(sub, (*path, name))


def test_every_subcommand_has_a_help_description() -> None:
    from oracle.app.cli import build_parser

    missing = [" ".join(path) for path, sub in _subcommands(build_parser()) if not (sub.description or "").strip()]
    assert not missing, f"no description in --help: {missing}"


def test_up_help_says_what_it_starts_the_ports_the_state_folder_and_ctrl_c() -> None:
    from oracle.app.cli import build_parser

    text = dict(_subcommands(build_parser()))[("ecoai", "up")].format_help()
    for needle in ("anvil", "8545", "8000", "9464", "web app", "ECOAI_HOME", ".ecoai", "Ctrl-C", "node.db"):
        assert needle in text, needle


# ---- ecoai oracle status -----------------------------------------------------------------------------------

def _seed(home: Path) -> None:
    from oracle.node.state import NodeState

    path = home / "node.db"
    state = NodeState(path)
    for epoch in (7, 8, 9):
        state.open_epoch(NODE_A, epoch, 60)
    state.close()
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE node_epochs SET status='accepted', energy_mj=123456, work_total=1, work_unit='item', "
                   "tier=2, efficiency_uj_per_unit=48000, tx_hash=? WHERE epoch=7", (TX,))
        db.execute("UPDATE node_epochs SET status='over_budget', energy_mj=99000000, work_total=2500, "
                   "work_unit='item', note='above every tier' WHERE epoch=8")
    db.close()


def test_status_prints_a_header_and_one_row_per_epoch(ecoai_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from oracle.app.cli import main

    _seed(ecoai_home)
    assert main(["oracle", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header[:4] == ["EPOCH", "OPENED", "STATUS", "TIER"]
    assert {"EFFICIENCY", "WORK", "ENERGY", "TX"} <= set(header)
    rows = lines[1:4]
    assert [row.split()[0] for row in rows] == ["7", "8", "9"]  # one row per epoch, newest last
    assert "accepted" in rows[0] and "48,000 µJ/item" in rows[0] and "1 item " in rows[0] + " "
    assert "123.5 J" in rows[0] and rows[0].endswith(TX)
    assert "over_budget" in rows[1] and "2,500 items" in rows[1] and "99,000.0 J" in rows[1]
    assert rows[1].endswith("above every tier")
    assert "open" in rows[2] and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[2])
    # the columns line up: every row puts STATUS where the header does
    at = lines[0].index("STATUS")
    assert all(row[at:].split()[0] in ("accepted", "over_budget", "open") for row in rows)
    assert lines[4].startswith("3 epochs shown")


def test_status_json_one_object_per_epoch(ecoai_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from oracle.app.cli import main

    _seed(ecoai_home)
    assert main(["oracle", "status", "--json", "--last", "2"]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["epoch"] for o in objects] == [8, 9]
    assert objects[0]["status"] == "over_budget" and objects[0]["work_units"] == 2500
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", objects[0]["opened_at"])
    for key in ("node", "energy_mj", "tier", "efficiency_uj_per_unit", "tx_hash", "gas", "note", "methods"):
        assert key in objects[0]


def test_status_names_the_node_when_the_state_holds_several(ecoai_home: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from oracle.app.cli import main
    from oracle.node.state import NodeState

    _seed(ecoai_home)
    state = NodeState(ecoai_home / "node.db")
    state.open_epoch(NODE_B, 9, 60)
    state.close()
    assert main(["oracle", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "NODE" and sum(" 9 " in line for line in lines) == 2
    assert "4 epochs shown" in lines[-1]


def test_status_with_no_epochs_says_so(ecoai_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from oracle.app.cli import main
    from oracle.node.state import NodeState

    NodeState(ecoai_home / "node.db").close()
    assert main(["oracle", "status"]) == 0
    assert capsys.readouterr().out.startswith("no epochs recorded yet")


# ---- progress lines -----------------------------------------------------------------------------------------

def test_progress_plain_lines_off_a_terminal_and_plurals() -> None:
    out = io.StringIO()
    steps = Steps("deploy", total=2, stream=out)
    with steps.step("one"):
        pass
    with steps.step("two"):
        pass
    steps.done("ok")
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text.splitlines()[:2] == ["deploy [1/2] one…", "deploy [2/2] two…"]
    assert plural(1, "epoch") == "1 epoch" and plural(2, "epoch") == "2 epochs" and plural(0, "item") == "0 items"
    assert plural(1200, "class", "classes") == "1,200 classes"
