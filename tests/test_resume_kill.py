"""SIGKILL `harness run` mid-way, several times, then --resume: every episode exactly once,
and the same numbers as an uninterrupted run with the same seeds."""
import json
import os
import signal
import subprocess
import time

from conftest import REPO, TOY_AGENT, TOY_TASK, cli_env, harness_cmd

SPEC = f"""
task: {{name: "{TOY_TASK}", targets: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], max_steps: 12}}
agent: {{name: "{TOY_AGENT}", p_mistake: 0.3, seed: 4, delay_s: 0.05}}
run: {{samples: 2, num_envs: 2, seed: 11, progress: false}}
"""


def lines(run_dir):
    f = run_dir / "episodes.jsonl"
    return f.read_text().splitlines() if f.exists() else []


def test_sigkill_then_resume_yields_every_episode_once(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    run_dir = tmp_path / "runs" / "k"
    base = harness_cmd() + ["run", str(spec), "-R", f"out_dir={tmp_path / 'runs'}", "-R", "name=k"]
    kills = 0
    for _ in range(3):  # kill it at a different point each time
        cmd = base if not run_dir.exists() else harness_cmd() + ["run", "--resume", str(run_dir)]
        proc = subprocess.Popen(cmd, env=cli_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        start = len(lines(run_dir))
        deadline = time.monotonic() + 60
        while len(lines(run_dir)) < start + 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2
    res = subprocess.run(harness_cmd() + ["run", "--resume", str(run_dir)], env=cli_env(), cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    records = [json.loads(x) for x in lines(run_dir)]
    keys = [(r["subtask_id"], r["sample"]) for r in records]
    assert len(keys) == len(set(keys)) == 24  # every episode exactly once

    # An uninterrupted run with the same spec gives the same episodes.
    res = subprocess.run(harness_cmd() + ["run", str(spec), "-R", f"out_dir={tmp_path / 'runs'}", "-R", "name=u"],
                         env=cli_env(), cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    straight = {(r["subtask_id"], r["sample"]): r for r in map(json.loads, lines(tmp_path / "runs" / "u"))}
    for r in records:
        s = straight[(r["subtask_id"], r["sample"])]
        assert (r["success"], r["score"], [st["action"] for st in r["steps"]]) == \
               (s["success"], s["score"], [st["action"] for st in s["steps"]])
    a = json.loads((run_dir / "summary.json").read_text())
    b = json.loads((tmp_path / "runs" / "u" / "summary.json").read_text())
    for key in ("episodes", "successes", "win_rate", "mean_score", "categories"):
        assert a[key] == b[key]
    assert a["complete"]
