"""Offline batched generation with vLLM (GPU machines; vLLM also has a CPU build).

Prefix caching is on: EEF restarts share long expert prefixes, and every turn of an episode
shares the previous turn's prompt. A LoRA adapter from our trainers is applied per request.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from harness import Agent, AgentReply, AgentRequest, AgentSpec, Usage, register_agent
from harness.models import resolve_model


class VLLMConfig(AgentSpec):
    name: str = "vllm"
    model: str = Field(description="model folder (or 'smollm2')")
    adapter: Path | None = Field(None, description="LoRA adapter folder to apply")
    max_lora_rank: int = 64
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(128, ge=1)
    max_model_len: int = 8192
    dtype: str = "auto"
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    tensor_parallel_size: int = Field(1, ge=1)
    enforce_eager: bool = False


@register_agent("vllm")
class VLLMAgent(Agent):
    """vLLM offline engine (`vllm.LLM`), batched over all live episodes."""

    Config = VLLMConfig

    def __init__(self, config: VLLMConfig):
        super().__init__(config)
        from vllm import LLM

        self.llm = LLM(model=resolve_model(config.model), dtype=config.dtype, max_model_len=config.max_model_len,
                       enable_prefix_caching=True, enable_lora=config.adapter is not None,
                       max_lora_rank=config.max_lora_rank, gpu_memory_utilization=config.gpu_memory_utilization,
                       tensor_parallel_size=config.tensor_parallel_size, enforce_eager=config.enforce_eager)
        self.lora = None
        if config.adapter is not None:
            from vllm.lora.request import LoRARequest
            self.lora = LoRARequest("adapter", 1, str(config.adapter))

    def act(self, requests: list[AgentRequest]) -> list[AgentReply]:
        from vllm import SamplingParams

        c = self.config
        params = [SamplingParams(temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_new_tokens,
                                 stop=["\nObservation"], seed=r.seed + r.step) for r in requests]
        outputs = self.llm.chat([r.messages for r in requests], params, lora_request=self.lora, use_tqdm=False)
        replies = []
        for out in outputs:
            gen = out.outputs[0]
            replies.append(AgentReply(text=gen.text.strip(), usage=Usage(prompt_tokens=len(out.prompt_token_ids),
                                                                         completion_tokens=len(gen.token_ids))))
        return replies
