"""The hf agent on the tiny random model: KV-cache reuse gives the same greedy output as re-encoding."""
import pytest

pytest.importorskip("transformers")

from harness.agents.hf import HFAgent, HFConfig, cut_after_action  # noqa: E402
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
    ids, cache = cached._kv["e#0"]
    assert cache.get_seq_length() == len(ids) - 1  # generate filled the kept cache (the last token is never fed)
    cached.episode_done("e#0")
    assert "e#0" not in cached._kv


def test_cut_after_action():
    assert cut_after_action("Thought: a\nAction: go north\nObservation: x") == "Thought: a\nAction: go north"
    assert cut_after_action("no action here\n") == "no action here"


def test_past_max_context_old_turns_go_in_blocks_so_the_prompt_prefix_holds():
    def prompts(drop_turns):
        agent = HFAgent(HFConfig(model="tiny-random", max_context=1024, drop_turns=drop_turns))  # ~13 turns fit
        return agent, [agent._prompt_ids(conversation(t)) for t in range(2, 40)]

    agent, blocked = prompts(4)
    assert len(agent._prompt_ids(conversation(39))) < len(agent.tokenizer.apply_chat_template(
        conversation(39), add_generation_prompt=True, tokenize=True, return_dict=False))  # it did truncate
    for p in blocked:
        assert len(p) <= 1024
        assert "boil water" in agent.tokenizer.decode(p)  # the task is never dropped

    def broken(ps):  # turns whose prompt does not extend the previous one (the KV cache is lost)
        return sum(not b[:len(a)] == a for a, b in zip(ps, ps[1:]))
    _, one_by_one = prompts(1)
    assert broken(one_by_one) >= 15
    assert broken(blocked) <= broken(one_by_one) // 4 + 1
