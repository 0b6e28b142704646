"""scripts/gpu_check.sh: its --help lists exactly the checks the script runs (one list)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_every_check_the_script_runs_with_its_h100_estimate():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout
    listed = re.findall(r"^  (\w+)\s+~\s*(\d+) s ", out, flags=re.M)
    names = [n for n, _ in listed if n != "total"]
    # What check() runs: the runners it builds, in CHECKS' order (read from its source, so a
    # check added to the runners but not to CHECKS, or the reverse, fails here).
    source = (ROOT / "scripts" / "gpu_check.py").read_text()
    runners = re.findall(r'^        "(\w+)": lambda', source, flags=re.M)
    assert names == [c.name for c in gpu_check.CHECKS] == runners
    seconds = {n: int(s) for n, s in listed}
    assert seconds["total"] == sum(c.h100_s for c in gpu_check.CHECKS)
    assert seconds["total"] <= 9 * 60  # the script's share of a 15-minute device budget
    for name in ("flow_dry_run", "flow_short", "resume", "two_gpus"):
        assert name in names
    assert "--cpu-rehearsal" in out and "--prepare" in out
