"""The deploy's output (issue 16): one progress line per step on stderr, none of Ape's per-transaction lines
("Submitted 0x…", "Confirmed 0x…"), plain lines off a terminal, nothing on stdout, no secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from oracle.paths import REPO_ROOT

GOVERNANCE = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # anvil's dev account 3
DEV_KEY_0 = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
SCRIPT = """
import dataclasses, sys
from pathlib import Path
from oracle.chain.deploy import deploy_local, load_params
params = load_params()
if sys.argv[3]:
    params = dataclasses.replace(params, admin=sys.argv[3])
deploy_local(sys.argv[1], params, out=Path(sys.argv[2]))
"""


@pytest.mark.parametrize("admin", ["", GOVERNANCE])
def test_deploy_prints_one_line_per_step_and_no_ape_confirmations(anvil, tmp_path: Path, admin: str) -> None:
    out = tmp_path / "local.json"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, anvil.url, str(out), admin], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    text = proc.stdout + proc.stderr
    assert "Confirmed 0x" not in text and "Submitted 0x" not in text and "deployed to" not in text
    assert proc.stdout == ""  # progress goes to stderr; stdout stays for the caller's own output
    assert "\r" not in text and "\x1b[" not in text  # not a terminal: plain lines
    assert DEV_KEY_0 not in text
    lines = proc.stderr.splitlines()
    steps = [line for line in lines if line.startswith("deploy [")]
    assert len(steps) == 7 and steps[0].startswith("deploy [1/7] compiling")
    for i, name in enumerate(("Groth16Verifier", "EcoCredit", "GreenProof", "RetirementCertificate"), start=2):
        assert steps[i - 1].startswith(f"deploy [{i}/7] deploying {name}"), steps
    assert "setting 3 efficiency classes and" in steps[5] and "regions" in steps[5]
    if admin:
        assert f"handing the roles to governance {GOVERNANCE}" in steps[6]
    else:
        assert "checking the roles" in steps[6]
    assert lines[-1].startswith("deploy: GreenProof at 0x")
    assert len(lines) <= 10, lines  # no Ape chatter around the steps
