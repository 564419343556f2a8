"""The vllm agent for real, on vLLM's CPU build: SmolLM2 with a LoRA adapter from our own SFT stage
plays webshop-mini episodes, greedy, with the same actions as the hf agent and the same adapter;
with `adapter_mode: lora` one engine serves every stage of an experiment and each iteration's adapter
per request, with `merge` (the CPU default) each iteration's adapter is merged into its own engine."""
import subprocess

import pytest

from conftest import REPO, cli_env, harness_cmd

pytestmark = pytest.mark.slow
pytest.importorskip("vllm")
pytest.importorskip("peft")

from harness.run import execute  # noqa: E402
from harness.specs import load_run_spec  # noqa: E402
from harness.trainers.finetune import TrainOptions, fine_tune  # noqa: E402

TASK = {"name": "webshop-mini", "icl_example": False, "max_steps": 4}


def play(tmp_path, name, agent, split="test", limit=3, max_steps=4):
    task = {**TASK, "split": split, "limit": limit, "max_steps": max_steps}
    spec = load_run_spec(None, defaults={"task": task, "agent": agent},
                         run=[f"out_dir={tmp_path}", f"name={name}", "progress=false", "num_envs=3"])
    return {t.id: t for t in execute(spec).latest().values()}


@pytest.fixture
def engines():
    """The engine test 1 starts lives in this process: stop it, or its spinning threads slow
    every later test (and the server test's engine) down on a 2-core machine."""
    from harness.agents.vllm_agent import shutdown_engines
    yield
    shutdown_engines()


@pytest.mark.parametrize("mode", ["merge", "lora"])
def test_vllm_agent_with_our_sft_adapter_acts_as_the_hf_agent(tmp_path, engines, mode, capfd):
    experts = play(tmp_path, "expert", {"name": "expert"}, split="train", limit=4, max_steps=15)
    wins = [t for t in experts.values() if t.success]
    assert len(wins) == 4
    result = fine_tune(wins, TrainOptions(max_steps=3, batch_size=2, max_len=1536, lr=1e-3), tmp_path / "sft")
    adapter = result["model_dir"]
    greedy = {"temperature": 0.0, "max_new_tokens": 48, "model": "smollm2", "adapter": adapter}
    hf = play(tmp_path, "hf", {"name": "hf", **greedy})
    vl = play(tmp_path, "vllm", {"name": "vllm", **greedy, "max_model_len": 4096, "adapter_mode": mode})
    assert hf.keys() == vl.keys() and len(hf) == 3
    for eid in hf:
        assert vl[eid].actions == hf[eid].actions, eid
        assert [m.content for m in vl[eid].messages] == [m.content for m in hf[eid].messages], eid
    assert all(t.usage.completion_tokens > 0 for t in vl.values())
    assert any(a is not None for t in vl.values() for a in t.actions)  # the adapter taught the format
    assert "Passing raw prompts" not in capfd.readouterr().err  # prompts go in rendered by the engine


SPEC = """
task: {name: webshop-mini, split: train, limit: 2, icl_example: false, max_steps: 10}
eval_task: {split: test, limit: 2, max_steps: 3}
expert: {name: expert}
trainer:
  name: rft
  iterations: 1
  temperature: 0.0
  rollout_agent: {name: vllm, max_new_tokens: 48, max_model_len: 4096, adapter_mode: MODE}
  train: {model: smollm2, max_steps: 2, batch_size: 2, max_len: 1536, lr: 0.001}
run: {num_envs: 3, progress: false}
"""


@pytest.mark.parametrize("mode", ["lora", "merge"])
def test_an_experiment_gives_each_iteration_its_adapter(tmp_path, mode):
    (tmp_path / "rft.yaml").write_text(SPEC.replace("MODE", mode))
    res = subprocess.run(harness_cmd() + ["-v", "train", str(tmp_path / "rft.yaml"), "-R", f"out_dir={tmp_path}",
                                          "-R", "name=exp"], env=cli_env(), cwd=REPO, capture_output=True,
                         text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    exp = tmp_path / "exp"
    import yaml
    adapters = {rel: yaml.safe_load((exp / rel / "spec.yaml").read_text())["agent"]["adapter"]
                for rel in ("iter0/eval", "iter1/rollouts", "iter1/eval")}
    assert adapters["iter0/eval"] == adapters["iter1/rollouts"] == str(exp / "iter0" / "train" / "model")
    assert adapters["iter1/eval"] == str(exp / "iter1" / "train" / "model")
    if mode == "lora":
        assert res.stderr.count("vllm engine started") == 1  # one engine for the three stages
        assert f"vllm LoRA adapter 1: {exp / 'iter0' / 'train' / 'model'}" in res.stderr
        assert f"vllm LoRA adapter 2: {exp / 'iter1' / 'train' / 'model'}" in res.stderr  # a new request, same engine
    else:
        assert res.stderr.count("vllm engine started") == 2  # iter0's merged model served two stages
        assert res.stderr.count("vllm merged adapter") == 2
        assert f"vllm merged adapter: {exp / 'iter0' / 'train' / 'model'}" in res.stderr
        assert f"vllm merged adapter: {exp / 'iter1' / 'train' / 'model'}" in res.stderr
        assert "LoRA adapter" not in res.stderr


def test_sampled_episodes_are_the_same_with_continuous_and_per_turn_batching(tmp_path, engines):
    """Temperature 0.8, seeded per request: the continuously stepped engine (each episode's turn joins
    the running batch when its env has stepped) plays the episodes that one generate() per turn does."""
    sampled = {"name": "vllm", "model": "smollm2", "temperature": 0.8, "max_new_tokens": 24, "max_model_len": 4096}
    runs = {c: play(tmp_path, f"continuous-{c}", {**sampled, "continuous": c}, limit=4, max_steps=3)
            for c in (True, False)}
    assert runs[True].keys() == runs[False].keys() and len(runs[True]) == 4
    for eid, t in runs[True].items():
        assert [m.content for m in t.messages] == [m.content for m in runs[False][eid].messages], eid
        assert [m.token_ids for m in t.messages] == [m.token_ids for m in runs[False][eid].messages], eid
    replies = {m.content for t in runs[True].values() for m in t.messages if m.role == "assistant"}
    assert len(replies) > 4  # sampled: the replies differ
