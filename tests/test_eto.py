"""ETO: expert-vs-failure preference pairs, their tokens, and DPO end to end on webshop-mini.

The pair rules and the token split are checked on hand-made trajectories (fast); the experiment runs
SFT + one ETO iteration with the tiny random model, whose rollouts all fail, so every subtask the
expert solved gives a pair.
"""
import json
import math
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import REPO, cli_env, harness_cmd

pytest.importorskip("trl")

from harness.models import resolve_model  # noqa: E402
from harness.tokens import prompt_ids  # noqa: E402
from harness.trajectory import Message, Step, Trajectory  # noqa: E402
from harness.trainers.data import IGNORE, Pair, encode, encode_pair  # noqa: E402
from harness.trainers.eto import build_pairs, make_pair  # noqa: E402


def traj(tid, actions, *, success=False, score=0.0, observations=None, thoughts=None, subtask="s1", source="self"):
    """A trajectory with one prompt message and a turn per action; observations default to 'saw <action>'."""
    observations = observations or [f"saw {a}" for a in actions]
    thoughts = thoughts or ["I act."] * len(actions)
    msgs = [Message(role="user", content=f"Task {subtask}.")]
    for th, a, o in zip(thoughts, actions, observations):
        msgs += [Message(role="assistant", content=f"Thought: {th}\nAction: {a}", train=True),
                 Message(role="user", content=f"Observation: {o}")]
    return Trajectory(id=tid, task="t", subtask_id=subtask, category="c", messages=msgs, prompt_len=1,
                      steps=[Step(action=a, observation=o) for a, o in zip(actions, observations)],
                      success=success, score=score, source=source)


def turns(messages):
    return [m.content.split("Action: ")[1] for m in messages if m.role == "assistant"]


def test_pair_shares_the_conversation_up_to_the_first_differing_turn_and_cuts_the_loser():
    expert = traj("e", ["a", "b", "c"], success=True, score=100, source="expert")
    failed = traj("r", ["a", "b", "x"] + [f"y{i}" for i in range(12)], score=20)
    pair = make_pair(expert, failed, extra_turns=5)
    assert turns(pair.prompt) == ["a", "b"] and pair.prompt == failed.messages[:5]  # the agent's own turns
    assert turns(pair.chosen) == ["c"] and pair.chosen[-1].role == "assistant"  # final observation dropped
    assert len(turns(failed.messages)) == 15
    assert turns(pair.rejected) == ["x", "y0", "y1", "y2", "y3", "y4"]  # 3 expert turns + 5, counted from the start
    assert pair.rejected[-1].role == "assistant"
    assert pair.meta | {"chosen_id": "e", "rejected_id": "r", "chosen_turns": 3, "rejected_turns_played": 15,
                        "rejected_turns": 8, "shared_turns": 2} == pair.meta

    # an equal action after a different thought: that turn already differs
    rethought = traj("r2", ["a", "z"], thoughts=["I act.", "Hmm."], score=0)
    assert turns(make_pair(expert, rethought, 5).prompt) == ["a"]
    # the same turn met another observation: the prompt ends before that turn, both continuations hold it
    other_obs = traj("r3", ["a", "b", "q"], observations=["saw a", "changed", "saw q"])
    pair = make_pair(expert, other_obs, 5)
    assert turns(pair.prompt) == ["a"] and turns(pair.chosen) == ["b", "c"] and turns(pair.rejected) == ["b", "q"]
    assert make_pair(expert, traj("r4", []), 5) is None  # no turn of its own


def test_build_pairs_pairs_failures_below_the_shortest_expert_success():
    experts = [traj("e-long", ["a", "b", "c", "d"], success=True, score=100, source="expert"),
               traj("e-short", ["a", "c"], success=True, score=100, source="expert"),
               traj("e-fail", ["q"], score=10, subtask="s2", source="expert")]
    rollouts = [traj("r1", ["a", "x"], score=30),
                traj("r2", ["a", "c"], success=True, score=100, subtask="s3"),
                traj("r3", ["z"], subtask="s2"),
                traj("r4", ["z"], subtask="s4").model_copy(update={"status": "error"})]
    wins = [t for t in experts if t.success]
    pairs, counts = build_pairs(wins, rollouts, extra_turns=5)
    assert [(p.meta["chosen_id"], p.meta["rejected_id"]) for p in pairs] == [("e-short", "r1")]
    assert counts == {"rollouts": 4, "errored": 1, "self_successes": 1, "no_expert_success": 1, "not_worse": 0,
                      "prompt_differs": 0, "no_own_turn": 0, "pairs": 1}
    _, counts = build_pairs(wins, [traj("r5", ["x"], score=100)], extra_turns=5)
    assert counts["not_worse"] == 1  # a failure that scores as well as the expert is no "lose" case


def test_pair_tokens_split_token_by_token_as_sft_data():
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(resolve_model("tiny-random"))
    prompt = traj("p", ["a"]).messages
    # the agent's first turn carries the ids it sampled, spelled otherwise than the template would
    text = prompt[1].content
    sampled = [i for ch in text for i in tok.encode(ch, add_special_tokens=False)]
    assert tok.decode(sampled) == text and sampled != tok.encode(text, add_special_tokens=False)
    prompt[1] = prompt[1].model_copy(update={"token_ids": sampled})
    chosen = [Message(role="assistant", content="Thought: go\nAction: b"), Message(role="user", content="Obs: ok"),
              Message(role="assistant", content="Thought: buy\nAction: c")]
    rejected = [Message(role="assistant", content="Thought: no\nAction: x")]
    ex = encode_pair(Pair(id="p", prompt=prompt, chosen=chosen, rejected=rejected, meta={}), tok)

    # the prompt is what the agent was asked to continue: its own prompt rendering, sampled ids in place
    assert ex.prompt_ids == prompt_ids(tok, [m.model_dump() for m in prompt])
    assert ex.prompt_ids[-3:] == tok.encode("<|im_start|>assistant\n", add_special_tokens=False)[-3:]
    for cont, ids, mask in ((chosen, ex.chosen_ids, ex.chosen_mask), (rejected, ex.rejected_ids, ex.rejected_mask)):
        whole = Trajectory(id="w", task="t", subtask_id="s", category="c", prompt_len=1,
                           messages=[m.model_copy(update={"train": False}) for m in prompt]
                           + [m.model_copy(update={"train": m.role == "assistant"}) for m in cont])
        sft = encode(whole, tok, max_len=4096)  # the SFT pipeline on the same conversation
        assert ex.prompt_ids + ids == sft.input_ids
        assert [0] * len(ex.prompt_ids) + mask == [int(x != IGNORE) for x in sft.labels]
        runs, cur = [], []  # masked runs = the continuation's assistant turns, each with its end-of-turn token
        for i, m in enumerate(mask):
            if m:
                cur.append(ids[i])
            elif cur:
                runs.append(cur)
                cur = []
        runs += [cur] if cur else []
        assert [tok.decode(r) for r in runs] == [m.content + tok.eos_token for m in cont if m.role == "assistant"]


# ---------------------------------------------------------------- end to end on webshop-mini

SPEC = """
task: {name: webshop-mini, split: train, goals: [2, 4], icl_example: false, max_steps: 12}
eval_task: {split: test, goals: [0], max_steps: 3}
expert: {name: expert}
trainer:
  name: eto
  iterations: 1
  rollout_agent: {name: hf, max_new_tokens: 8}
  train: {model: tiny-random, epochs: 1, batch_size: 1, max_len: 8192, lr: 0.001, save_steps: 1}
  dpo: {lr_first: 0.002, epochs: 3}
run: {num_envs: 2, progress: false, seed: 0}
"""


def run_train(tmp_path, name, check=True):
    spec = tmp_path / "eto.yaml"
    spec.write_text(SPEC)
    res = subprocess.run(harness_cmd() + ["train", str(spec), "-R", f"out_dir={tmp_path}", "-R", f"name={name}"],
                         env=cli_env(CI="true"), cwd=REPO, capture_output=True, text=True, timeout=900)
    if check:
        assert res.returncode == 0, res.stderr[-4000:]
    return tmp_path / name


def records(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def eto_exp(tmp_path_factory):
    return run_train(tmp_path_factory.mktemp("eto"), "eto")


@pytest.mark.slow
def test_pairs_are_expert_successes_against_failed_rollouts_of_the_subtask(eto_exp):
    experts = {e["id"]: e for e in records(eto_exp / "expert" / "episodes.jsonl")}
    rollouts = {r["id"]: r for r in records(eto_exp / "iter1" / "rollouts" / "episodes.jsonl")}
    pairs = records(eto_exp / "iter1" / "pairs.jsonl")
    assert len(pairs) == len(rollouts) == 2  # the random model fails both subtasks; the expert solves them
    for p in pairs:
        e, r = experts[p["chosen_id"]], rollouts[p["rejected_id"]]
        assert e["success"] and e["source"] == "expert" and not r["success"] and r["source"] == "self"
        assert e["subtask_id"] == r["subtask_id"] == p["subtask_id"]
        # the cut: at most the expert's turns + 5 (the random model plays all 12 steps)
        assert len(r["steps"]) == 12 and p["rejected_turns"] == len(e["steps"]) + 5 < 12
        plain = [{"role": m["role"], "content": m["content"]} for m in r["messages"]]
        n = len(p["prompt"])
        assert p["prompt"] + p["rejected"] == plain[: n + len(p["rejected"])]
        assert p["rejected"][-1]["role"] == "assistant" and p["chosen"][-1]["role"] == "assistant"
        assert p["prompt"] + p["chosen"] == [{"role": m["role"], "content": m["content"]}
                                             for m in e["messages"]][:-1]  # without the final observation
    summary = json.loads((eto_exp / "summary.json").read_text())
    assert summary["trainer"] == "eto" and summary["iterations"][1]["pairs"]["pairs"] == 2


def _dpo_loss(model_dir, ref_dir, base, pairs, beta):
    """DPO loss on the pairs, recomputed here: summed log-probs of the masked continuation tokens."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(base)
    policy, ref = (PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), d)
                   for d in (model_dir, ref_dir))

    def logps(model, ids, mask):
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, :-1].log_softmax(-1)
        picked = logits.gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
        return float((picked * torch.tensor(mask[1:], dtype=torch.float32)).sum())

    losses = []
    for p in pairs:
        ex = encode_pair(p, tok)
        n = len(ex.prompt_ids)
        c = ex.prompt_ids + ex.chosen_ids, [0] * n + ex.chosen_mask
        r = ex.prompt_ids + ex.rejected_ids, [0] * n + ex.rejected_mask
        margin = (logps(policy, *c) - logps(ref, *c)) - (logps(policy, *r) - logps(ref, *r))
        losses.append(-math.log(1 / (1 + math.exp(-beta * margin))))
    return sum(losses) / len(losses)


@pytest.mark.slow
def test_dpo_loss_goes_down_on_the_pairs_against_the_sft_policy(eto_exp):
    from harness.trainers.eto import build_pairs as rebuild
    sft = json.loads((eto_exp / "iter0" / "train" / "result.json").read_text())
    dpo = json.loads((eto_exp / "iter1" / "train" / "result.json").read_text())
    assert dpo["init_adapter"] == dpo["reference"] == sft["model_dir"] and dpo["beta"] == 0.1
    assert dpo["data"]["pairs"] == 2 and dpo["steps"] == 6  # 2 pairs, batch 1, 3 epochs
    experts = [Trajectory.model_validate(e) for e in records(eto_exp / "expert" / "episodes.jsonl")]
    rollouts = [Trajectory.model_validate(r) for r in records(eto_exp / "iter1" / "rollouts" / "episodes.jsonl")]
    pairs, _ = rebuild([e for e in experts if e.success], rollouts, extra_turns=5)
    before = _dpo_loss(sft["model_dir"], sft["model_dir"], sft["base_model"], pairs, 0.1)
    after = _dpo_loss(dpo["model_dir"], sft["model_dir"], sft["base_model"], pairs, 0.1)
    assert before == pytest.approx(math.log(2), abs=1e-6)
    print(f"DPO loss on the {len(pairs)} pairs: {before:.4f} before, {after:.4f} after")
    assert after < 0.5 * before, (before, after)
    assert dpo["first_loss"] == pytest.approx(math.log(2), abs=1e-4) and dpo["last_loss"] < dpo["first_loss"]


@pytest.mark.slow
def test_eval_rows_in_the_leaderboard(eto_exp):
    res = subprocess.run(harness_cmd() + ["leaderboard", str(eto_exp), "--format", "csv"], env=cli_env(), cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    labels = [line.split(",")[0] for line in res.stdout.splitlines()[1:]]
    assert labels == ["eto iter0 (SFT)", "eto iter1"]


@pytest.mark.slow
def test_a_killed_dpo_stage_resumes_from_its_checkpoint(eto_exp, tmp_path):
    """The finished experiment without its DPO stage and what follows, played again and killed once the
    DPO stage has a checkpoint: the next run resumes there, and trains as the uninterrupted run did."""
    killed = tmp_path / "killed"
    shutil.copytree(eto_exp, killed)
    for rel in ("iter1/train", "iter1/eval", "summary.json"):
        shutil.rmtree(killed / rel) if (killed / rel).is_dir() else (killed / rel).unlink()
    spec = tmp_path / "eto.yaml"
    spec.write_text(SPEC)
    cmd = harness_cmd() + ["train", str(spec), "-R", f"out_dir={tmp_path}", "-R", "name=killed"]
    proc = subprocess.Popen(cmd, env=cli_env(CI="true"), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    first_checkpoint = killed / "iter1" / "train" / "checkpoints" / "checkpoint-1" / "trainer_state.json"
    deadline = time.monotonic() + 600
    while proc.poll() is None and not first_checkpoint.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first_checkpoint.is_file() and not (killed / "iter1" / "train" / "result.json").exists()
    run_train(tmp_path, "killed")
    resumed = json.loads((killed / "iter1" / "train" / "result.json").read_text())
    straight = json.loads((eto_exp / "iter1" / "train" / "result.json").read_text())
    assert resumed["resumed_from"] is not None and resumed["steps"] == straight["steps"]
    assert resumed["last_loss"] == pytest.approx(straight["last_loss"], rel=1e-3)
    assert (killed / "iter1" / "pairs.jsonl").read_text() == (eto_exp / "iter1" / "pairs.jsonl").read_text()
    for rel in ("expert", "iter1/rollouts"):  # finished stages are not played again
        assert (killed / rel / "episodes.jsonl").read_text() == (eto_exp / rel / "episodes.jsonl").read_text()
