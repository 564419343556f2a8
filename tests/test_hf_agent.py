"""The hf agent on the tiny random model: KV-cache reuse gives the same greedy output as re-encoding."""
import pytest

pytest.importorskip("transformers")

from agents.hf import HFAgent, HFConfig, cut_after_action  # noqa: E402
from harness.agent import AgentRequest  # noqa: E402


def conversation(turns):
    msgs = [{"role": "user", "content": "Your task is to boil water. Reply with Thought: and Action: lines."}]
    for i in range(turns):
        msgs.append({"role": "assistant", "content": f"Thought: step {i}\nAction: look around"})
        msgs.append({"role": "user", "content": f"Observation: You are in room {i}. You see a stove and a pot."})
    return msgs


def test_kv_cache_reuse_matches_full_reencoding():
    cached = HFAgent(HFConfig(model="tiny-random", max_new_tokens=12, kv_cache=True))
    plain = HFAgent(HFConfig(model="tiny-random", max_new_tokens=12, kv_cache=False))
    for turns in range(4):  # the episode grows turn by turn, as in a rollout
        msgs = conversation(turns)
        a = cached.act([AgentRequest(episode_id="e#0", messages=msgs, seed=0, step=turns)])[0]
        b = plain.act([AgentRequest(episode_id="e#0", messages=msgs, seed=0, step=turns)])[0]
        assert a.text == b.text and a.usage == b.usage
    assert cached.reused_tokens > 0  # later turns were served from the cache
    cached.episode_done("e#0")
    assert "e#0" not in cached._kv


def test_cut_after_action():
    assert cut_after_action("Thought: a\nAction: go north\nObservation: x") == "Thought: a\nAction: go north"
    assert cut_after_action("no action here\n") == "no action here"
