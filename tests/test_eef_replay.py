"""An EEF experiment whose expert pool holds trajectories that no longer replay: the restarts are
logged as not tried, with the reason, the iteration goes on, and a rerun finishes at once."""
import json
import subprocess

import pytest

from conftest import REPO, cli_env, harness_cmd

pytest.importorskip("peft")

EXPERT = """
task: {name: harness_toy:CounterTask, targets: [3, 4, 5, 6, 7, 8], max_steps: 10}
agent: {name: noisy_expert, p: 0.2, seed: 0}
run: {num_envs: 2, progress: false, seed: 0}
"""
TRAIN = """
task: {name: harness_toy:CounterTask, targets: [3, 4, 5, 6, 7, 8], max_steps: 10}
expert_run: %(expert)s
trainer:
  name: eef
  iterations: 1
  M: 2
  temperature: 0.0
  rollout_agent: {name: harness_toy:CountingAgent, competent_from: 2}
  train: {model: tiny-random, epochs: 1, batch_size: 4, max_len: 512, lr: 0.001}
run: {num_envs: 2, progress: false, seed: 0}
"""


def harness(*args):
    res = subprocess.run(harness_cmd() + list(args), env=cli_env(CI="true"), cwd=REPO, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    return res


def test_diverged_replays_are_logged_as_not_tried_and_do_not_wedge_the_experiment(tmp_path):
    (tmp_path / "expert.yaml").write_text(EXPERT)
    harness("run", str(tmp_path / "expert.yaml"), "-R", f"out_dir={tmp_path}", "-R", "name=expert")
    f = tmp_path / "expert" / "episodes.jsonl"
    recs = [json.loads(x) for x in f.read_text().splitlines()]
    failed = [r for r in recs if not r["success"] and len(r["steps"]) > 2]
    assert len(failed) >= 2
    bad_obs, bad_prompt = failed[0], failed[1]
    bad_obs["steps"][0]["observation"] = "The counter is 99."  # restarts past step 0 diverge
    bad_prompt["messages"][0]["content"] = "An older prompt template."  # every restart's reset differs
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))

    (tmp_path / "eef.yaml").write_text(TRAIN % {"expert": tmp_path / "expert"})
    harness("train", str(tmp_path / "eef.yaml"), "-R", f"out_dir={tmp_path}", "-R", "name=eef")
    exp = tmp_path / "eef"
    log = {e["expert"]: e for e in map(json.loads, (exp / "iter1" / "eef_log.jsonl").read_text().splitlines())}
    for rec, why in ((bad_obs, "stored observation"), (bad_prompt, "reset prompt differs")):
        entry = log[rec["id"]]
        assert entry["not_tried"] and all(why in x["why"] for x in entry["not_tried"])
        assert entry["tried"] == [0]  # only the start state, from the ordinary rollouts
    others = [e for i, e in log.items() if i not in (bad_obs["id"], bad_prompt["id"])]
    assert others and all(not e["not_tried"] and len(e["tried"]) > 1 for e in others)
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["iterations"][1]["selection"]["states_not_tried"] == sum(len(e["not_tried"]) for e in log.values())

    explore = (exp / "iter1" / "explore" / "episodes.jsonl").read_text()
    harness("train", str(tmp_path / "eef.yaml"), "-R", f"out_dir={tmp_path}", "-R", "name=eef")  # a rerun
    assert (exp / "iter1" / "explore" / "episodes.jsonl").read_text() == explore  # nothing tried again


def test_an_expert_pool_of_other_subtasks_is_refused_with_the_fix(tmp_path):
    (tmp_path / "expert.yaml").write_text(EXPERT)
    harness("run", str(tmp_path / "expert.yaml"), "-R", f"out_dir={tmp_path}", "-R", "name=expert")
    spec = TRAIN.replace("targets: [3, 4, 5, 6, 7, 8]", "targets: [3, 4]") % {"expert": tmp_path / "expert"}
    (tmp_path / "eef.yaml").write_text(spec)
    res = subprocess.run(harness_cmd() + ["train", str(tmp_path / "eef.yaml"), "-R", f"out_dir={tmp_path}"],
                         env=cli_env(CI="true"), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "expert_run" in res.stderr and "4 subtasks" in res.stderr and "not in the experiment's task" in res.stderr
