"""A third-party plugin package, installed for real, found through its entry points."""
import shutil
import subprocess
import sys

from conftest import PLUGIN_DIR, REPO, harness_cmd

import os


def test_installed_plugin_runs_through_harness_run(tmp_path):
    target, source = tmp_path / "site", tmp_path / "src"
    shutil.copytree(PLUGIN_DIR, source)  # pip builds in the source folder: keep build/ and egg-info out of ours
    build = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                            "--target", str(target), str(source)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    env = dict(os.environ, PYTHONPATH=str(target))  # the installed copy only, not tests/plugin_pkg
    listing = subprocess.run(harness_cmd() + ["list"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    assert "counter" in listing.stdout and "harness_toy:CounterTask" in listing.stdout
    spec = tmp_path / "spec.yaml"
    spec.write_text("task: {name: counter, targets: [1, 2, 3]}\nagent: {name: counter_agent}\n")
    res = subprocess.run(harness_cmd() + ["run", str(spec), "-R", f"out_dir={tmp_path / 'runs'}", "-R", "name=p"],
                         env=env, cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "3/3" in res.stdout and (tmp_path / "runs" / "p" / "episodes.jsonl").read_text().count("\n") == 3
