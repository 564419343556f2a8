"""Same spec, same episodes: whatever the scheduling (num_envs, executor), whatever the JVM ran
before, and after kills and resumes (issue 14). Trajectories are compared whole, timings aside.

ScienceWorld keeps objects in hash sets keyed by identity hash codes and draws from them with a
seeded Random, so without DETERMINISTIC_HASHES gold paths and random choices over objects depend on
what the same JVM ran before (tasks/sciworld/task.py). The task types here have several ways to
succeed (which living thing, which substance), the cases where that showed.
"""
import json
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import REPO, cli_env, harness_cmd
from harness.rollout import EpisodeJob, RolloutEngine
from harness.run import build_agent, build_task, execute, plan_jobs
from harness.specs import load_run_spec

pytestmark = pytest.mark.slow
pytest.importorskip("scienceworld")

TYPES = ["find-living-thing", "find-plant", "boil", "freeze", "melt", "chemistry-mix", "lifespan-longest-lived"]
SCIWORLD = {"name": "sciworld", "split": "dev", "task_types": TYPES, "variations": 2, "max_steps": 120}
NOISY = {"name": "noisy_expert", "p": 0.2, "seed": 3}


def trajectories(run_dir) -> dict[str, dict]:
    out = {}
    for line in (run_dir / "episodes.jsonl").read_text().splitlines():
        rec = json.loads(line)
        rec.pop("elapsed_s")
        out[rec["id"]] = rec
    return out


def spec(tmp_path, name, agent, task=SCIWORLD, **run):
    return load_run_spec(None, defaults={"task": task, "agent": agent},
                         run=[f"out_dir={tmp_path}", f"name={name}", "progress=false"]
                         + [f"{k}={v}" for k, v in run.items()])


def fresh_jvm_per_episode(s) -> dict[str, dict]:
    """Each episode on its own new env (a JVM that ran nothing before)."""
    task = build_task(s)
    out = {}
    for job in plan_jobs(s, task.subtasks()):
        RolloutEngine(task, build_agent(s), num_envs=1, max_steps=s.run.max_steps).run(
            [job], lambda t: out.__setitem__(t.id, t.model_dump(mode="json", exclude={"elapsed_s"})))
    return out


def test_sciworld_episodes_do_not_depend_on_scheduling_or_jvm_history(tmp_path):
    runs = {}
    for name, opts in {"envs1": {"num_envs": 1}, "envs2": {"num_envs": 2}, "envs4": {"num_envs": 4},
                       "ray": {"executor": "ray", "ray_shards": 2, "num_envs": 1}}.items():
        store = execute(spec(tmp_path, name, NOISY, **opts))
        assert store.summary()["complete"]
        runs[name] = trajectories(tmp_path / name)
    runs["fresh"] = fresh_jvm_per_episode(spec(tmp_path, "unused", NOISY))
    base = runs["envs1"]  # one JVM plays every subtask in turn: the most history
    assert len(base) == 2 * len(TYPES)
    for name, got in runs.items():
        assert got.keys() == base.keys(), name
        for eid in base:
            assert got[eid] == base[eid], f"{name}: episode {eid} differs from num_envs=1"
    # the seed makes the noisy expert deviate, so these episodes are not just the gold paths
    assert any(not t["success"] for t in base.values()) and any(t["success"] for t in base.values())

    expert = {"name": "expert"}
    execute(spec(tmp_path, "expert1", expert, num_envs=1))
    one_jvm = trajectories(tmp_path / "expert1")
    assert one_jvm == fresh_jvm_per_episode(spec(tmp_path, "unused", expert))
    assert all(t["success"] for t in one_jvm.values()), [t["id"] for t in one_jvm.values() if not t["success"]]


def test_webshop_mini_episodes_do_not_depend_on_num_envs(tmp_path):
    task = {"name": "webshop-mini", "split": "train", "limit": 24}
    runs = {}
    for n in (1, 2, 4):
        execute(spec(tmp_path, f"w{n}", {"name": "noisy_expert", "p": 0.3, "seed": 5}, task=task, num_envs=n))
        runs[n] = trajectories(tmp_path / f"w{n}")
    assert len(runs[1]) == 24 and runs[1] == runs[2] == runs[4]
    assert 0 < sum(t["success"] for t in runs[1].values()) < 24


def test_killed_and_resumed_sciworld_run_equals_an_uninterrupted_one(tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(json.dumps({"task": {**SCIWORLD, "task_types": ["find-living-thing", "chemistry-mix"],
                                              "variations": 5},
                                     "agent": NOISY, "run": {"num_envs": 2, "samples": 2, "progress": False}}))
    rng = random.Random(14)
    run_dir = tmp_path / "k"
    episodes = run_dir / "episodes.jsonl"

    def count():
        return len(episodes.read_text().splitlines()) if episodes.exists() else 0

    kills = 0
    for _ in range(4):
        cmd = (["run", "--resume", str(run_dir)] if run_dir.exists()
               else ["run", str(spec_file), "-R", f"out_dir={tmp_path}", "-R", "name=k"])
        proc = subprocess.Popen(harness_cmd() + cmd, env=cli_env(), cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        goal, deadline = count() + rng.randint(1, 4), time.monotonic() + 120
        while count() < goal and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.random() * 0.5)  # somewhere inside the next episodes
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 3
    res = subprocess.run(harness_cmd() + ["run", "--resume", str(run_dir)], env=cli_env(), cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(harness_cmd() + ["run", str(spec_file), "-R", f"out_dir={tmp_path}", "-R", "name=u"],
                         env=cli_env(), cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    resumed, straight = trajectories(run_dir), trajectories(tmp_path / "u")
    assert len(episodes.read_text().splitlines()) == len(resumed) == len(straight) == 20  # each once
    assert resumed == straight


def test_gold_expert_scores_100_on_every_task_type_of_every_split():
    """The first, middle and last variation of each of the 30 task types in train, dev and test
    (269 subtasks; gold paths up to 321 steps), played by one engine whose JVMs have run
    everything before them."""
    from harness import Subtask
    from harness.agents.scripted import ExpertAgent, ExpertConfig
    from harness.tasks.sciworld import SciWorldConfig, SciWorldTask
    from harness.tasks.sciworld.task import all_task_types, split_variations

    types = all_task_types()
    task = SciWorldTask(SciWorldConfig(task_types=types, max_steps=1000))
    subtasks = []
    for split in ("train", "dev", "test"):
        for t, vs in split_variations(split, types).items():
            for v in sorted({vs[0], vs[len(vs) // 2], vs[-1]} if vs else ()):
                subtasks.append(Subtask(id=f"{t}:{v}", category=t, data={"task_type": t, "variation": v}))
    assert len({s.category for s in subtasks}) == 30 and len(subtasks) > 250
    out = []
    RolloutEngine(task, ExpertAgent(ExpertConfig()), num_envs=2).run(
        [EpisodeJob(subtask=s) for s in subtasks], out.append)
    assert len(out) == len(subtasks)
    failed = [(t.subtask_id, t.score, len(t.steps), t.error) for t in out if not (t.success and t.score == 100)]
    assert not failed, failed
