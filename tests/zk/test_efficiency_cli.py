"""`ecoai prove --efficiency-uj-per-unit` (v2) and `ecoai verify` on its output, through the real entry point."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from oracle.app.cli import main
from oracle.zk.efficiency import efficiency_commitment

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


def test_prove_writes_the_v2_files(proved: tuple[Path, list[int], list[int]]) -> None:
    out, energy, work = proved
    public = json.loads((out / "public.json").read_text())
    calldata = json.loads((out / "calldata.json").read_text())
    opening = json.loads((out / "opening.json").read_text())
    tier = -(-1000 * sum(energy) // sum(work))
    assert public[:5] == [str(tier), str(sum(work)), "42", str(int(NODE, 16)), str(1 | (2 << 4))]
    assert public[5] == str(efficiency_commitment(energy, work, int(opening["salt"]), NODE, 42))
    assert opening["energy_mj"] == energy and opening["work_units"] == work and opening["methods"] == 0x21
    assert stat.S_IMODE((out / "opening.json").stat().st_mode) == 0o600
    assert calldata["inputs"] == [int(s) for s in public] and len(calldata["proof"]) == 8


def test_verify_recognises_v2_by_its_signal_count(proved, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out, _, _ = proved
    assert main(["verify", str(out / "proof.json"), str(out / "public.json")]) == 0
    assert capsys.readouterr().out.strip() == "valid"
    signals = json.loads((out / "public.json").read_text())
    signals[1] = str(int(signals[1]) + 1)  # claim more work than proved
    tampered = tmp_path / "public.json"
    tampered.write_text(json.dumps(signals))
    assert main(["verify", str(out / "proof.json"), str(tampered)]) == 1
    assert capsys.readouterr().out.startswith("invalid: pairing check failed")
    tampered.write_text(json.dumps(signals[:5]))
    assert main(["verify", str(out / "proof.json"), str(tampered)]) == 2
    assert "4 (v1) or 6 (v2)" in capsys.readouterr().err


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


def test_prove_needs_exactly_one_statement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = _csv(tmp_path / "epoch.csv", ["1,1"] * 64)
    for extra in ([], ["--efficiency-uj-per-unit", "1000", "--threshold", "5"]):
        with pytest.raises(SystemExit) as exc:
            main(["prove", "--readings", str(csv_file), "--epoch", "1", "--node", NODE, "--out",
                  str(tmp_path / "o"), *extra])
        assert exc.value.code == 2
    assert "--efficiency-uj-per-unit" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        _prove(csv_file, 1000, tmp_path / "o", "--energy-method", "guessed")
    assert exc.value.code == 2
