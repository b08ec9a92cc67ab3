"""scripts/gen_verifier.py: the committed verifier is exactly what the committed key generates."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from oracle.paths import KEYS_DIR, REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gen_verifier.py"
VKEY = KEYS_DIR / "efficiency_verification_key.json"  # v2: the deployed Groth16Verifier is the efficiency circuit's
VERIFIER = REPO_ROOT / "contracts" / "Groth16Verifier.sol"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_verifier", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_verifier_is_regenerated_byte_identically_from_the_key():
    gen = _generator()
    rendered = gen.render(VKEY.read_bytes(), gen.source_label(VKEY)).encode()
    assert rendered == VERIFIER.read_bytes()
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ") and "byte-identical" in result.stdout and "6 public inputs" in result.stdout


def test_check_fails_when_the_verifier_differs(tmp_path: Path):
    stale = tmp_path / "Groth16Verifier.sol"
    stale.write_bytes(VERIFIER.read_bytes().replace(b"IC1_X = ", b"IC1_X = 1"))
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(stale), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "is not what" in result.stderr


def test_the_verifier_embeds_every_key_constant():
    vkey = json.loads(VKEY.read_text())
    source = VERIFIER.read_text()
    assert f"uint256[{vkey['nPublic']}] calldata input" in source
    for point in vkey["IC"]:
        assert point[0] in source and point[1] in source
    for name in ("vk_beta_2", "vk_gamma_2", "vk_delta_2"):
        for coordinate in vkey[name][:2]:
            assert coordinate[0] in source and coordinate[1] in source


@pytest.mark.parametrize("corrupt", ["curve", "point", "ic"])
def test_a_bad_key_is_refused_with_one_clear_error(tmp_path: Path, corrupt: str):
    vkey = json.loads(VKEY.read_text())
    if corrupt == "curve":
        vkey["curve"] = "bls12381"
    elif corrupt == "point":
        vkey["vk_alpha_1"][1] = str(int(vkey["vk_alpha_1"][1]) + 1)  # off the curve
    else:
        vkey["IC"] = vkey["IC"][:-1]
    bad = tmp_path / "vk.json"
    bad.write_text(json.dumps(vkey))
    out = tmp_path / "V.sol"
    result = subprocess.run([sys.executable, str(SCRIPT), "--vkey", str(bad), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_the_verifier_embeds_the_batch_constants_of_the_python_verifier():
    from eth_utils import keccak

    from oracle.zk.verifier import BATCH_DOMAIN, vk_hash

    source = VERIFIER.read_text()
    assert "contract Groth16Verifier {" in source
    assert "function verifyBatch(uint256[8][] calldata proofs, uint256[6][] calldata inputs)" in source
    assert f"VK_HASH = {vk_hash(json.loads(VKEY.read_text()))};" in source
    assert f"BATCH_DOMAIN = {int.from_bytes(keccak(BATCH_DOMAIN), 'big')};" in source
    assert "blockhash" not in source and "timestamp" not in source
    assert not (REPO_ROOT / "contracts" / "EfficiencyVerifier.sol").exists()
