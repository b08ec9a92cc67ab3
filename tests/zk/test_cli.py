"""`ecoai prove` and `ecoai verify` end to end, through the real `ecoai` entry point."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from oracle.app.cli import main
from oracle.zk import commitment
from oracle.zk.poseidon import FIELD_MODULUS

NODE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _csv(path: Path, rows: list[str], header: str = "energy_mj") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def proved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    work = tmp_path_factory.mktemp("prove")
    readings = [1_000_000 + 37 * i for i in range(64)]
    csv_file = _csv(work / "epoch.csv", [str(r) for r in readings])
    code = main(["prove", "--readings", str(csv_file), "--threshold", str(sum(readings) + 5), "--epoch", "42",
                 "--node", NODE, "--out", str(work / "out")])
    assert code == 0
    return work / "out", readings


def test_prove_writes_proof_public_calldata(proved: tuple[Path, list[int]]) -> None:
    out, readings = proved
    proof = json.loads((out / "proof.json").read_text())
    public = json.loads((out / "public.json").read_text())
    calldata = json.loads((out / "calldata.json").read_text())
    opening = json.loads((out / "opening.json").read_text())
    assert proof["protocol"] == "groth16" and proof["curve"] == "bn128"
    assert public[:3] == [str(sum(readings) + 5), "42", str(int(NODE, 16))]
    assert public[3] == str(commitment(readings, int(opening["salt"]), NODE, 42))
    assert opening["readings_mj"] == readings
    assert stat.S_IMODE((out / "opening.json").stat().st_mode) == 0o600  # the salt hides the readings
    assert calldata["inputs"] == [int(s) for s in public]
    assert calldata["proof"][2:4] == [int(proof["pi_b"][0][1]), int(proof["pi_b"][0][0])]


def test_verify_exit_codes(proved: tuple[Path, list[int]], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = proved
    proof, public = out / "proof.json", out / "public.json"
    assert main(["verify", str(proof), str(public)]) == 0
    assert capsys.readouterr().out.strip() == "valid"

    # Invalid (exit 1): a public input ≥ r; the pairing-level rejections are in test_prover.py.
    signals = json.loads(public.read_text())
    signals[1] = str(int(signals[1]) + FIELD_MODULUS)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(signals))
    assert main(["verify", str(proof), str(tampered)]) == 1
    assert capsys.readouterr().out.startswith("invalid: public signal 1")

    # Malformed (exit 2, one line on stderr).
    not_json = tmp_path / "broken.json"
    not_json.write_text("{nope")
    short = tmp_path / "short.json"
    short.write_text(json.dumps(signals[:3]))
    hexed = tmp_path / "hex.json"
    hexed.write_text(json.dumps(["0x01"] + signals[1:]))
    no_points = tmp_path / "nopoints.json"
    no_points.write_text(json.dumps({"protocol": "groth16"}))
    for args in ([str(not_json), str(public)], [str(proof), str(short)], [str(proof), str(hexed)],
                 [str(no_points), str(public)], [str(tmp_path / "missing.json"), str(public)],
                 [str(proof), str(public), "--vk", str(not_json)]):
        assert main(["verify", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("ecoai verify: error: ") and err.count("\n") == 1, err


@pytest.mark.parametrize("rows, header, reason", [
    ([str(10**9)] * 64, "energy_mj", "over the threshold"),
    (["4294967296"] + ["1"] * 63, "energy_mj", "2^32"),
    (["1"] * 63, "energy_mj", "exactly 64"),
    (["1"] * 65, "energy_mj", "exactly 64"),
    (["1"] * 63 + [""], "energy_mj", "empty line"),
    (["1"] * 63 + ["x"], "energy_mj", "not a non-negative integer"),
    (["1"] * 63 + ["1.5"], "energy_mj", "not a non-negative integer"),
    (["1"] * 63 + ["-1"], "energy_mj", "not a non-negative integer"),
    (["1"] * 63 + ["1,2"], "energy_mj", "one column"),
    (["1"] * 64, "joules", "header"),
])
def test_prove_refuses_bad_csv_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           rows: list[str], header: str, reason: str) -> None:
    csv_file = _csv(tmp_path / "epoch.csv", rows, header)
    out = tmp_path / "out"
    code = main(["prove", "--readings", str(csv_file), "--threshold", str(10**9), "--epoch", "1",
                 "--node", NODE, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and reason in err and err.count("\n") == 1, err
    assert not out.exists()  # nothing proved, nothing written


def test_prove_refuses_bad_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = _csv(tmp_path / "epoch.csv", ["1"] * 64)
    assert main(["prove", "--readings", str(csv_file), "--threshold", "100", "--epoch", "1",
                 "--node", "not-an-address", "--out", str(tmp_path / "out")]) == 2
    assert "address" in capsys.readouterr().err


def test_prove_never_overwrites_an_earlier_proof(proved: tuple[Path, list[int]],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out, readings = proved
    before = (out / "opening.json").read_text()
    csv_file = _csv(out.parent / "again.csv", [str(r) for r in readings])
    assert main(["prove", "--readings", str(csv_file), "--threshold", str(sum(readings)), "--epoch", "43",
                 "--node", NODE, "--out", str(out)]) == 2
    assert "already holds" in capsys.readouterr().err
    assert (out / "opening.json").read_text() == before


def test_a_batch_of_one_is_singular(proved: tuple[Path, list[int]], capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = proved
    assert main(["verify", "--batch", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "valid: 1 proof"


def test_verify_help_shows_onchain_and_the_self_test_switch(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--onchain NODE EPOCH" in text and "--rpc-url URL" in text and "--deployment FILE" in text
    assert "--config FILE" in text and "--tamper-input K" in text and "self-test switch" in text
