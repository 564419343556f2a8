"""An EEF experiment end to end on our ALFWorld games (alfworld-mini) with the tiny random-weight test
model: the noisy expert's failures are restarted from their intermediate states by prefix replay on
the real engine, every restart replays (none is 'not tried'), and training and evaluation run.
Skipped without alfworld or the training extras."""
import json
import subprocess

import pytest

pytest.importorskip("alfworld")
pytest.importorskip("peft")

from conftest import REPO, cli_env, harness_cmd  # noqa: E402

SPEC = """
task: {name: alfworld-mini, split: train, games: 1, icl_example: false, max_steps: 14}
eval_task: {split: test, games: 1}
expert: {name: noisy_expert, p: 0.25, seed: 0}
trainer:
  name: eef
  iterations: 1
  M: 2
  temperature: 0.7
  rollout_agent: {name: hf, max_new_tokens: 24}
  train: {model: tiny-random, epochs: 1, batch_size: 4, max_len: 2048, lr: 0.001}
run: {num_envs: 2, progress: false, seed: 0}
"""


def records(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.mark.slow
def test_eef_experiment_on_alfworld_mini_with_the_tiny_model(tmp_path):
    (tmp_path / "eef.yaml").write_text(SPEC)
    res = subprocess.run(harness_cmd() + ["train", str(tmp_path / "eef.yaml"), "-R", f"out_dir={tmp_path}",
                                          "-R", "name=eef"], env=cli_env(CI="true"), cwd=REPO, capture_output=True,
                         text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-4000:]
    exp = tmp_path / "eef"
    experts = records(exp / "expert" / "episodes.jsonl")
    assert {e["category"] for e in experts} == {f"mini-{c}" for c in (
        "pick_and_place", "pick_clean_then_place", "pick_heat_then_place", "pick_cool_then_place", "look_at_obj",
        "pick_two_obj")}
    failed = [e for e in experts if not e["success"]]
    assert failed and any(e["success"] for e in experts)

    log = records(exp / "iter1" / "eef_log.jsonl")
    assert {e["expert"] for e in log} >= {e["id"] for e in failed}
    assert all(not e["not_tried"] for e in log), [e["not_tried"] for e in log if e["not_tried"]]
    restarts = records(exp / "iter1" / "explore" / "episodes.jsonl")
    assert restarts and all(r["status"] == "ok" and r["prefix_steps"] > 0 for r in restarts)
    by_id = {e["id"]: e for e in experts}
    for r in restarts:  # the replayed prefix is the expert's, observation for observation
        k, parent = r["prefix_steps"], by_id[r["parent"]]
        assert [(s["action"], s["observation"]) for s in r["steps"][:k]] == \
               [(s["action"], s["observation"]) for s in parent["steps"][:k]]
    summary = json.loads((exp / "summary.json").read_text())
    assert len(summary["iterations"]) == 2
    assert len(records(exp / "iter1" / "eval" / "episodes.jsonl")) == 6
