"""scripts/setup.sh stops, with pip's own message, when an install fails (it once swallowed it)."""
import shutil
import subprocess

from conftest import REPO


def test_setup_fails_when_one_install_fails(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    # a python whose pip fails on one package, like a registry that has no such version
    fake.write_text('#!/usr/bin/env bash\n'
                    'case "$*" in *torch==*) echo "ERROR: No matching distribution for torch" >&2; exit 1;; esac\n'
                    'echo "$*" >> "$(dirname "$0")/calls"\n')
    fake.chmod(0o755)
    res = subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "No matching distribution for torch" in res.stderr and "pip install torch==2.13.0' failed" in res.stderr
    calls = (fake.parent / "calls").read_text()
    assert "setuptools" in calls and "-e" not in calls  # it stopped at the failure
