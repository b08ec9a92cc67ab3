"""`ecoai prove` and `ecoai verify` end to end, through the real `ecoai` entry point."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from oracle.app.cli import main
from oracle.zk import efficiency_commitment
from oracle.zk.poseidon import FIELD_MODULUS

NODE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
HEADER = "energy_mj,work_units"


def _csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _prove(csv_file: Path, tier: int, out: Path, *extra: str) -> int:
    return main(["prove", "--readings", str(csv_file), "--efficiency-uj-per-unit", str(tier), "--epoch", "42",
                 "--node", NODE, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def proved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int], list[int]]:
    work_dir = tmp_path_factory.mktemp("prove_v2")
    energy = [50_000 + 11 * i for i in range(64)]
    work = [100 + i for i in range(64)]
    tier = -(-1000 * sum(energy) // sum(work))  # the smallest tier the epoch meets
    csv_file = _csv(work_dir / "epoch.csv", [f"{e},{w}" for e, w in zip(energy, work)])
    assert _prove(csv_file, tier, work_dir / "out", "--energy-method", "estimated",
                  "--work-method", "replayed") == 0
    return work_dir / "out", energy, work


def test_prove_writes_proof_public_calldata_opening(proved: tuple[Path, list[int], list[int]]) -> None:
    out, energy, work = proved
    public = json.loads((out / "public.json").read_text())
    calldata = json.loads((out / "calldata.json").read_text())
    opening = json.loads((out / "opening.json").read_text())
    tier = -(-1000 * sum(energy) // sum(work))
    assert public[:5] == [str(tier), str(sum(work)), "42", str(int(NODE, 16)), str(1 | (2 << 4))]
    assert public[5] == str(efficiency_commitment(energy, work, int(opening["salt"]), NODE, 42))
    assert opening["energy_mj"] == energy and opening["work_units"] == work and opening["methods"] == 0x21
    assert stat.S_IMODE((out / "opening.json").stat().st_mode) == 0o600  # the salt hides the values
    assert calldata["inputs"] == [int(s) for s in public] and len(calldata["proof"]) == 8
    proof = json.loads((out / "proof.json").read_text())
    assert proof["protocol"] == "groth16" and proof["curve"] == "bn128"
    assert calldata["proof"][2:4] == [int(proof["pi_b"][0][1]), int(proof["pi_b"][0][0])]


def test_verify_exit_codes(proved, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, _, _ = proved
    proof, public = out / "proof.json", out / "public.json"
    assert main(["verify", str(proof), str(public)]) == 0
    assert capsys.readouterr().out.strip() == "valid"

    # Invalid (exit 1): more work than proved fails the pairing; a public input ≥ r is refused before it.
    signals = json.loads(public.read_text())
    more_work = list(signals)
    more_work[1] = str(int(more_work[1]) + 1)
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(more_work))
    assert main(["verify", str(proof), str(tampered)]) == 1
    assert capsys.readouterr().out.startswith("invalid: pairing check failed")
    aliased = list(signals)
    aliased[2] = str(int(aliased[2]) + FIELD_MODULUS)
    tampered.write_text(json.dumps(aliased))
    assert main(["verify", str(proof), str(tampered)]) == 1
    assert capsys.readouterr().out.startswith("invalid: public signal 2")

    # Malformed (exit 2, one line on stderr).
    not_json = tmp_path / "broken.json"
    not_json.write_text("{nope")
    short = tmp_path / "short.json"
    short.write_text(json.dumps(signals[:5]))
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


@pytest.mark.parametrize("rows, header, tier, reason", [
    (["1000,1"] * 64, HEADER, 999_999, "over the tier"),  # 1 J per unit against a tier just below it
    (["0,0"] * 64, HEADER, 1000, "total 0"),
    (["4294967296,1"] + ["1,1"] * 63, HEADER, 10**9, "2^32"),
    (["1,4294967296"] + ["1,1"] * 63, HEADER, 10**9, "2^32"),
    (["1,1"] * 64, HEADER, 1 << 32, "2^32"),
    (["1,1"] * 63, HEADER, 10**9, "exactly 64"),
    (["1,1"] * 65, HEADER, 10**9, "exactly 64"),
    (["1,1"] * 63 + [""], HEADER, 10**9, "empty line"),
    (["1,1"] * 63 + ["1"], HEADER, 10**9, "two columns"),
    (["1,1"] * 63 + ["1,x"], HEADER, 10**9, "not a non-negative integer"),
    (["1,1"] * 63 + ["-1,1"], HEADER, 10**9, "not a non-negative integer"),
    (["1"] * 64, "energy_mj", 10**9, "header"),
])
def test_prove_refuses_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[str],
                                   header: str, tier: int, reason: str) -> None:
    out = tmp_path / "out"
    assert _prove(_csv(tmp_path / "epoch.csv", rows, header), tier, out) == 2
    err = capsys.readouterr().err
    assert reason in err and err.startswith("ecoai prove: error: ") and err.count("\n") == 1, err
    assert not out.exists()  # nothing proved, nothing written


def test_prove_needs_the_tier_and_known_methods(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = _csv(tmp_path / "epoch.csv", ["1,1"] * 64)
    with pytest.raises(SystemExit) as exc:
        main(["prove", "--readings", str(csv_file), "--epoch", "1", "--node", NODE, "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "--efficiency-uj-per-unit" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        _prove(csv_file, 1000, tmp_path / "o", "--energy-method", "guessed")
    assert exc.value.code == 2


def test_prove_refuses_bad_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = _csv(tmp_path / "epoch.csv", ["1,1"] * 64)
    assert main(["prove", "--readings", str(csv_file), "--efficiency-uj-per-unit", "1000", "--epoch", "1",
                 "--node", "not-an-address", "--out", str(tmp_path / "out")]) == 2
    assert "address" in capsys.readouterr().err


def test_prove_never_overwrites_an_earlier_proof(proved, capsys: pytest.CaptureFixture[str]) -> None:
    out, energy, work = proved
    before = (out / "opening.json").read_text()
    csv_file = _csv(out.parent / "again.csv", [f"{e},{w}" for e, w in zip(energy, work)])
    assert _prove(csv_file, 10**9, out) == 2
    assert "already holds" in capsys.readouterr().err
    assert (out / "opening.json").read_text() == before


def test_a_batch_of_one_is_singular(proved, capsys: pytest.CaptureFixture[str]) -> None:
    out, _, _ = proved
    assert main(["verify", "--batch", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "valid: 1 proof"


def test_verify_help_shows_onchain_and_the_self_test_switch(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--onchain NODE EPOCH" in text and "--rpc-url URL" in text and "--deployment FILE" in text
    assert "--config FILE" in text and "--tamper-input K" in text and "self-test switch" in text
