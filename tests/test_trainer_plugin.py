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


def test_a_changed_spec_resumes_when_no_stage_that_uses_the_changed_options_has_started(tmp_path):
    (tmp_path / "toy.yaml").write_text(SPEC)

    def train(*over):
        return subprocess.run(harness_cmd() + ["train", str(tmp_path / "toy.yaml"), "-R", f"out_dir={tmp_path}",
                                               "-R", "name=exp", *over], env=cli_env(), cwd=REPO,
                              capture_output=True, text=True)

    assert train().returncode == 0
    import shutil
    shutil.rmtree(tmp_path / "exp" / "iter0")  # as if the first training stage had failed (e.g. on max_len)
    res = train("-O", "eval_temperature=0.5")
    assert res.returncode == 0, res.stderr
    assert "spec changed since the last attempt in trainer.eval_temperature" in res.stderr
    assert "eval_temperature: 0.5" in (tmp_path / "exp" / "spec.yaml").read_text()
    res = train("-O", "eval_temperature=0.7")  # iter0 ran with 0.5: now it is refused, naming the option
    assert res.returncode == 2 and "trainer.eval_temperature" in res.stderr and "choose another run.name" in res.stderr
    res = train("-O", "eval_temperature=0.5", "-T", "targets=[2, 3]")  # the expert stage used the task
    assert res.returncode == 2 and "task.targets" in res.stderr
