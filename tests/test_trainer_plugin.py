"""A third-party trainer needs only the core: the toy plugin's trainer registers, runs an
experiment through `harness train`, and its evaluation shows in `harness show` and the leaderboard."""
import json
import subprocess
import sys

from conftest import PLUGIN_DIR, REPO, cli_env, harness_cmd

SPEC = """
task: {name: harness_toy:CounterTask, targets: [2, 3, 4]}
eval_task: {targets: [5, 6]}
expert: {name: noisy_expert, p: 0.3, seed: 1}
trainer: {name: harness_toy:ToyTrainer, rollout_agent: {name: harness_toy:CountingAgent}}
run: {progress: false}
"""


def test_a_trainer_plugin_importing_only_harness_runs_an_experiment(tmp_path):
    probe = ("import sys, harness_toy; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'trainers', 'agents', 'tasks', 'leaderboards'}))")
    res = subprocess.run([sys.executable, "-c", probe], env=cli_env(), cwd=PLUGIN_DIR, capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stderr

    (tmp_path / "toy.yaml").write_text(SPEC)
    res = subprocess.run(harness_cmd() + ["train", str(tmp_path / "toy.yaml"), "-R", f"out_dir={tmp_path}",
                                          "-R", "name=exp"], env=cli_env(), cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "exp" / "summary.json").read_text())
    assert summary["trainer"] == "harness_toy:ToyTrainer" and summary["iterations"][0]["eval"]["episodes"] == 2
    shown = subprocess.run(harness_cmd() + ["show", str(tmp_path / "exp")], env=cli_env(COLUMNS="120"), cwd=REPO,
                           capture_output=True, text=True)
    assert shown.returncode == 0 and "0 (SFT)" in shown.stdout, shown.stderr
    board = subprocess.run(harness_cmd() + ["leaderboard", str(tmp_path / "exp"), "--format", "json"],
                           env=cli_env(), cwd=REPO, capture_output=True, text=True)
    rows = json.loads(board.stdout)["runs"]
    assert [r["episodes"] for r in rows] == [2]
