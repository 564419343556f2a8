"""Any OpenAI-compatible chat endpoint (OpenAI, `vllm serve`, `transformers serve`, ...).

The key is read from the environment variable the spec names (never from the spec itself, and it
never reaches a file or a log). The official client retries 429/5xx/timeouts with backoff and
honours Retry-After, up to `max_retries`; after that the episode is recorded as errored (not
failed) and `--resume` plays it again. Requests run concurrently, at most `concurrency` at once.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import Field

from harness import Agent, AgentReply, AgentRequest, AgentSpec, Usage, register_agent
from harness.errors import SpecError


class OpenAIConfig(AgentSpec):
    name: str = "openai"
    model: str = Field(description="model name as the endpoint knows it")
    base_url: str | None = Field(None, description="endpoint URL (default: the client's, i.e. OpenAI or $OPENAI_BASE_URL)")
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the environment variable holding the key")
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=1)
    stop: list[str] | None = Field(default_factory=lambda: ["\nObservation"])
    max_retries: int = Field(3, ge=0, description="retries of one request before the episode is recorded as errored")
    timeout_s: float = Field(60.0, gt=0)
    concurrency: int = Field(8, ge=1, description="requests in flight at once")
    price_prompt_per_1k: float = Field(0.0, ge=0.0, description="USD per 1k prompt tokens, for cost accounting")
    price_completion_per_1k: float = Field(0.0, ge=0.0)
    cache_dir: Path | None = Field(None, description="on-disk response cache (key includes the episode sample index)")


def _redact(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[REDACTED]")
    return re.sub(r"sk-[A-Za-z0-9_\-]{8,}", "[REDACTED]", text)


@register_agent("openai")
class OpenAIAgent(Agent):
    """An OpenAI-compatible chat endpoint through the official `openai` client."""

    Config = OpenAIConfig

    def __init__(self, config: OpenAIConfig):
        super().__init__(config)
        from openai import OpenAI

        key = os.environ.get(config.api_key_env)
        if not key:
            raise SpecError(f"agent.api_key_env: the environment variable {config.api_key_env} is not set "
                            "(local servers accept any non-empty value)")
        self._key = key
        self.client = OpenAI(api_key=key, base_url=config.base_url, max_retries=config.max_retries,
                             timeout=config.timeout_s)
        self.pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="openai")
        if config.cache_dir is not None:
            Path(config.cache_dir).mkdir(parents=True, exist_ok=True)

    def _cache_file(self, req: AgentRequest) -> Path | None:
        if self.config.cache_dir is None:
            return None
        c = self.config
        sample = req.episode_id.rsplit("#", 1)[-1]
        key = json.dumps([c.base_url, c.model, c.temperature, c.top_p, c.max_tokens, c.stop, sample, req.messages])
        return Path(c.cache_dir) / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def _one(self, req: AgentRequest) -> AgentReply:
        cache = self._cache_file(req)
        if cache is not None and cache.is_file():
            d = json.loads(cache.read_text())
            return AgentReply(text=d["text"])  # a cached answer costs no tokens
        c = self.config
        try:
            resp = self.client.chat.completions.create(
                model=c.model, messages=req.messages, temperature=c.temperature, top_p=c.top_p,
                max_tokens=c.max_tokens, stop=c.stop)
        except Exception as exc:  # openai.APIError and transport errors, after the client's retries
            return AgentReply(text="", error=_redact(f"{type(exc).__name__}: {exc}", self._key))
        if not resp.choices:
            return AgentReply(text="", error="the endpoint returned no choices")
        text = (resp.choices[0].message.content or "").strip()
        u = resp.usage
        usage = Usage(prompt_tokens=u.prompt_tokens if u else 0, completion_tokens=u.completion_tokens if u else 0)
        usage.cost = (usage.prompt_tokens * c.price_prompt_per_1k + usage.completion_tokens * c.price_completion_per_1k) / 1000
        if cache is not None:
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps({"text": text}))
            os.replace(tmp, cache)
        return AgentReply(text=text, usage=usage)

    def act(self, requests: list[AgentRequest]) -> list[AgentReply]:
        return list(self.pool.map(self._one, requests))

    def close(self) -> None:
        self.pool.shutdown(wait=True)
