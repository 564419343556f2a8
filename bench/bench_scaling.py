"""Scaling with work: time and peak memory of `harness run` and `harness leaderboard` at 1x, 10x
and 100x the episodes. Memory must stay flat (run stores are streamed), time linear.

`harness run`: the toy counter task (tests/plugin_pkg) with its scripted agent, so the figure is the
harness alone. `harness leaderboard`: synthesized run stores of ScienceWorld-sized trajectories on a
fixed panel of subtasks (the table has a row per subtask, so it grows with subtasks, not episodes);
episodes grow through samples, and 1 % of them were retried after an error (a superseded record).

    python bench/bench_scaling.py [--quick]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import quick_mode, report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "tests" / "plugin_pkg"


def measure(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a child process, read from its own rusage."""
    wrapper = ("import resource,subprocess,sys,json,time;t=time.perf_counter();"
               "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL);"
               "print(json.dumps([time.perf_counter()-t,"
               "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024,r.returncode]))")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=env, capture_output=True, text=True, check=True)
    seconds, rss, code = json.loads(out.stdout.strip().splitlines()[-1])
    assert code == 0, out.stderr
    return seconds, rss


def synth_run(path: Path, n: int, n_subtasks: int) -> None:
    from harness.trajectory import Message, Step, Trajectory
    path.mkdir(parents=True)
    (path / "spec.yaml").write_text("task: {name: sciworld}\nagent: {name: hf, model: smollm2}\nrun: {}\n")
    (path / "meta.json").write_text(json.dumps({"spec_hash": "synthetic"}))
    obs = "This room is called the kitchen. In it, you see: a stove, a sink, a table. " * 4
    with open(path / "episodes.jsonl", "w") as fh:
        for i in range(n):
            sub = i % n_subtasks
            steps = [Step(action="look around", observation=obs, score=float(i % 3)) for _ in range(15)]
            msgs = [Message(role="user", content="task " * 100)] + [
                m for _ in range(15) for m in (Message(role="assistant", content="Thought: x\nAction: look around"),
                                               Message(role="user", content=obs))]
            t = Trajectory(id=f"type{sub % 24}:{sub}#{i // n_subtasks}", task="sciworld",
                           subtask_id=f"type{sub % 24}:{sub}", category=f"type{sub % 24}", messages=msgs,
                           prompt_len=1, steps=steps, success=i % 3 == 0, score=100.0 if i % 3 == 0 else 20.0)
            if i % 100 == 7:
                fh.write(t.model_copy(update={"status": "error", "error": "env crashed"}).model_dump_json() + "\n")
            fh.write(t.model_dump_json() + "\n")


def main() -> None:
    quick = quick_mode()
    base = 50 if quick else 200
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PLUGIN), os.environ.get("PYTHONPATH", "")]))
    rows, ratios = [], {}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        for what in ("run", "leaderboard"):
            figures = {}
            for mult in (1, 10, 100):
                n = base * mult
                if what == "run":
                    spec = d / f"spec{n}.yaml"
                    spec.write_text(json.dumps({
                        "task": {"name": "harness_toy:CounterTask", "targets": [5] * 1, "max_steps": 8},
                        "agent": {"name": "harness_toy:CountingAgent"},
                        "run": {"samples": n, "num_envs": 8, "progress": False, "out_dir": str(d), "name": f"r{n}"}}))
                    cmd = [sys.executable, "-m", "harness.cli", "run", str(spec)]
                else:
                    synth_run(d / f"lb{n}", n, n_subtasks=base)
                    cmd = [sys.executable, "-m", "harness.cli", "leaderboard", str(d / f"lb{n}"), "--format", "json"]
                seconds, rss = measure(cmd, env)
                figures[mult] = (seconds, rss)
                rows.append({"command": what, "episodes": n, "seconds": seconds, "peak_rss_mb": rss,
                             "us_per_episode": 1e6 * seconds / n})
            ratios[f"{what}: time 100x/1x (linear = 100)"] = figures[100][0] / figures[1][0]
            ratios[f"{what}: peak memory 100x/1x (flat = 1)"] = figures[100][1] / figures[1][1]
    report("scaling with work", rows, ratios)


if __name__ == "__main__":
    main()
