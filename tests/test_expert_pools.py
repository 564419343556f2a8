"""Several expert pools in one experiment (`experts:`): the noisy expert at two noise levels on the toy
counter task, EEF with the tiny random model's trainer and a scripted rollout policy (as test_trainers)."""
import json
import subprocess

import pytest

from conftest import REPO, cli_env, harness_cmd

pytest.importorskip("peft")

from harness.errors import SpecError  # noqa: E402
from harness.experiment import load_experiment_spec  # noqa: E402

SPEC = """
task: {name: harness_toy:CounterTask, targets: [3, 4, 5, 6, 7, 8], max_steps: 10}
experts:
  - {label: careful, agent: {name: noisy_expert, p: 0.15, seed: 4}}
  - {label: sloppy, agent: {name: noisy_expert, p: 0.2, seed: 0}%(clone)s}
trainer:
  name: eef
  iterations: 1
  M: 2
  temperature: 0.0
  rollout_agent: {name: harness_toy:CountingAgent, competent_from: 2}
  train: {model: tiny-random, epochs: 1, batch_size: 4, max_len: 512, lr: 0.001, save_steps: 2}
run: {num_envs: 2, progress: false, seed: 0}
"""


def run_train(tmp_path, name, clone=""):
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(SPEC % {"clone": clone})
    res = subprocess.run(harness_cmd() + ["train", str(spec), "-R", f"out_dir={tmp_path}", "-R", f"name={name}"],
                         env=cli_env(CI="true"), cwd=REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    return tmp_path / name


def records(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def two_pools(tmp_path_factory):
    return run_train(tmp_path_factory.mktemp("pools"), "pools")


def pool_runs(exp):
    return {label: {r["id"]: r for r in records(exp / "experts" / label / "episodes.jsonl")}
            for label in ("careful", "sloppy")}


def test_each_pool_plays_its_own_stage_and_both_fail_somewhere(two_pools):
    runs = pool_runs(two_pools)
    for label, run in runs.items():
        assert len(run) == 6 and any(not r["success"] for r in run.values()), label
    assert not (two_pools / "expert").exists()


def test_sft_keeps_the_successes_of_the_first_pool_that_solved_a_subtask(two_pools):
    runs = pool_runs(two_pools)
    solved = {label: {r["subtask_id"] for r in run.values() if r["success"]} for label, run in runs.items()}
    data = records(two_pools / "iter0" / "train" / "data.jsonl")
    want = ([f"careful:{r['id']}" for r in runs["careful"].values() if r["success"]]
            + [f"sloppy:{r['id']}" for r in runs["sloppy"].values()
               if r["success"] and r["subtask_id"] not in solved["careful"]])
    assert sorted(d["id"] for d in data) == sorted(want)
    assert all(d["pool"] == d["id"].split(":")[0] for d in data)
    assert solved["sloppy"] - solved["careful"] and solved["careful"] & solved["sloppy"]  # the rule had work to do


def test_eef_explores_the_failures_of_every_pool_and_its_log_names_the_pool(two_pools):
    runs = pool_runs(two_pools)
    logs = records(two_pools / "iter1" / "eef_log.jsonl")
    failed = sorted(f"{label}:{i}" for label, run in runs.items() for i, r in run.items()
                    if not r["success"] and len(r["steps"]) > 1)
    assert sorted(lg["expert"] for lg in logs) == failed and {lg["pool"] for lg in logs} == {"careful", "sloppy"}
    for lg in logs:
        assert lg["expert"].startswith(lg["pool"] + ":")
        for ex in lg["examples"]:  # an example is named after the expert trajectory it was built from
            assert ex["example"].startswith(f"eef:{lg['pool']}:")
    explored = records(two_pools / "iter1" / "explore" / "episodes.jsonl")
    assert {r["parent"].split(":")[0] for r in explored} == {"careful", "sloppy"}
    data = records(two_pools / "iter1" / "train" / "data.jsonl")
    eef = [d for d in data if ":eef:" in d["id"]]
    assert eef and all(d["pool"] == d["id"].split(":eef:")[1].split(":")[0] for d in eef)


def test_a_pool_without_clone_is_explored_but_not_imitated(tmp_path):
    exp = run_train(tmp_path, "noclone", clone=", clone: false")
    data = records(exp / "iter0" / "train" / "data.jsonl")
    assert data and {d["pool"] for d in data} == {"careful"}
    logs = records(exp / "iter1" / "eef_log.jsonl")
    assert {lg["pool"] for lg in logs} == {"careful", "sloppy"}


def test_spec_errors_name_the_pool(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("task: {name: harness_toy:CounterTask}\nexpert: {name: expert}\n"
                 "experts: [{label: a, agent: {name: expert}}]\ntrainer: {name: sft}\n")
    with pytest.raises(SpecError, match="not both"):
        load_experiment_spec(f)
    f.write_text("task: {name: harness_toy:CounterTask}\ntrainer: {name: sft}\n"
                 "experts: [{label: a, agent: {name: expert}}, {label: a, run: %s}]\n" % tmp_path)
    with pytest.raises(SpecError, match=r"experts\[1\]: run: .* is not a run directory"):
        load_experiment_spec(f)
    f.write_text("task: {name: harness_toy:CounterTask}\ntrainer: {name: sft}\n"
                 "experts: [{label: a, agent: {name: expert}}, {label: a, agent: {name: expert}}]\n")
    with pytest.raises(SpecError, match="labels must differ"):
        load_experiment_spec(f)
