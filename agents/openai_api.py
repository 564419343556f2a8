"""Any OpenAI-compatible chat endpoint (OpenAI, `vllm serve`, `transformers serve`, ...).

The key is read from the environment variable the spec names (never from the spec itself, and it
never reaches a file or a log; a spec whose `api_key_env` looks like a key rather than a variable
name is refused without echoing it). The official client retries 429/5xx/timeouts/dropped
connections with backoff and honours Retry-After; a 200 whose body is not a completion (cut-off
JSON, no choices) is retried too. All of these share one budget: at most `max_retries` retries,
i.e. `max_retries + 1` HTTP attempts per request. After that the episode is recorded as errored
(not failed) and `--resume` plays it again. Requests run concurrently, at most `concurrency` at
once. Usage is counted from the responses that were used, so failed attempts cost nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from harness import Agent, AgentReply, AgentRequest, AgentSpec, Usage, register_agent
from harness.errors import SpecError


class OpenAIConfig(AgentSpec):
    name: str = "openai"
    model: str = Field(description="model name as the endpoint knows it")
    base_url: str | None = Field(
        None, description="endpoint URL (default: the client's, i.e. OpenAI or $OPENAI_BASE_URL)")
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
    continuous: bool = Field(
        True, description="each episode sends its next request as soon as its env has stepped (a server's "
                          "continuous batching); false: one batch per turn over every live episode")
    adapter: Path | None = Field(
        None, description="a LoRA adapter folder for a vLLM server (`--enable-lora`, started with "
                          "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True): loaded at start through /v1/load_lora_adapter and "
                          "requested by its name instead of `model` (what an experiment's iterations use)")

    @model_validator(mode="before")
    @classmethod
    def _never_echo_a_key(cls, data):
        # A key pasted into api_key_env must not reach spec.yaml, nor the error message (which
        # quotes the offending value): swap it for a placeholder that then fails validation.
        if isinstance(data, dict) and _looks_like_a_key(data.get("api_key_env")):
            data = {**data, "api_key_env": _NOT_A_NAME}
        return data

    @field_validator("api_key_env")
    @classmethod
    def _a_variable_name(cls, v: str) -> str:
        if v == _NOT_A_NAME or _looks_like_a_key(v):
            raise ValueError("must be the NAME of the environment variable that holds the key (e.g. "
                             "OPENAI_API_KEY), not the key itself; the value given is not shown")
        return v


_NOT_A_NAME = "<not an environment variable name; value withheld>"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _looks_like_a_key(v) -> bool:
    """Not a variable name (``sk-...``, ``AIza...-...``), or long and mixed like a token (``gsk_...``)."""
    if not isinstance(v, str) or v == _NOT_A_NAME:
        return False
    if not _ENV_NAME.fullmatch(v):
        return True
    mixed = any(ch.islower() for ch in v) and any(ch.isupper() for ch in v) and any(ch.isdigit() for ch in v)
    return len(v) >= 32 and mixed


def _redact(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[REDACTED]")
    return re.sub(r"sk-[A-Za-z0-9_\-]{8,}", "[REDACTED]", text)


def _storable(text: str) -> str:
    """Lone surrogates (e.g. half an emoji from an endpoint that escapes UTF-16 code units and cut
    the pair) become U+FFFD: a trajectory holding one cannot be written as UTF-8 JSON, and the run
    store's append would take the whole run down."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


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
        self.model_name = config.model if config.adapter is None else self._load_adapter(Path(config.adapter))
        self.batched = not config.continuous  # unbatched: the engine plays each episode in its own thread
        self.pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="openai")
        if config.cache_dir is not None:
            Path(config.cache_dir).mkdir(parents=True, exist_ok=True)

    def _load_adapter(self, adapter: Path) -> str:
        """Ask a vLLM server to load ``adapter``; returns the name requests then use (one per folder)."""
        import httpx

        path = str(adapter.resolve())
        name = "harness-lora-" + hashlib.sha256(path.encode()).hexdigest()[:12]
        url = str(self.client.base_url).rstrip("/") + "/load_lora_adapter"
        try:
            res = httpx.post(url, json={"lora_name": name, "lora_path": path}, timeout=self.config.timeout_s,
                             headers={"Authorization": f"Bearer {self._key}"})
        except httpx.HTTPError as exc:
            raise SpecError(f"agent.adapter: cannot reach {url} to load the adapter: {exc}") from None
        if res.status_code != 200 and "already" not in res.text:  # loaded before: the same name, reused
            raise SpecError(f"agent.adapter: {url} answered {res.status_code}: {_redact(res.text[:300], self._key)} "
                            "(vLLM loads adapters at run time only with --enable-lora and "
                            "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)")
        return name

    def _cache_file(self, req: AgentRequest) -> Path | None:
        if self.config.cache_dir is None:
            return None
        c = self.config
        sample = req.episode_id.rsplit("#", 1)[-1]
        key = json.dumps([c.base_url, self.model_name, c.temperature, c.top_p, c.max_tokens, c.stop, sample,
                          req.messages])
        return Path(c.cache_dir) / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def _one(self, req: AgentRequest) -> AgentReply:
        cache = self._cache_file(req)
        if cache is not None and cache.is_file():
            d = json.loads(cache.read_text())
            return AgentReply(text=d["text"])  # a cached answer costs no tokens
        c = self.config
        try:
            resp = self._complete(req)
        except Exception as exc:  # openai.APIError and transport errors, after the client's retries
            return AgentReply(text="", error=_storable(_redact(f"{type(exc).__name__}: {exc}", self._key)))
        text = _storable((resp.choices[0].message.content or "").strip())
        u = resp.usage
        usage = Usage(prompt_tokens=u.prompt_tokens if u else 0, completion_tokens=u.completion_tokens if u else 0)
        usage.cost = (usage.prompt_tokens * c.price_prompt_per_1k
                      + usage.completion_tokens * c.price_completion_per_1k) / 1000
        if cache is not None:
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps({"text": text}))
            os.replace(tmp, cache)
        return AgentReply(text=text, usage=usage)

    def _complete(self, req: AgentRequest):
        """One chat completion within the retry budget (``max_retries + 1`` HTTP attempts at most).

        The client retries transport errors, timeouts, 429 and 5xx itself and reports how many
        retries it took; a 200 whose body is not a completion is retried here, from what is left.
        """
        from openai import APIResponseValidationError
        from openai.types.chat import ChatCompletion

        c = self.config
        left = c.max_retries
        while True:
            client = self.client if left == c.max_retries else self.client.with_options(max_retries=left)
            raw = client.chat.completions.with_raw_response.create(
                model=self.model_name, messages=req.messages, temperature=c.temperature, top_p=c.top_p,
                max_tokens=c.max_tokens, stop=c.stop)
            left -= raw.retries_taken
            try:
                resp = raw.parse()
            except (ValueError, APIResponseValidationError) as exc:  # e.g. a cut-off JSON body
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if isinstance(resp, ChatCompletion) and resp.choices:
                    return resp
                problem = "no choices" if isinstance(resp, ChatCompletion) else "not JSON"
            if left <= 0:
                raise MalformedResponse(f"HTTP {raw.status_code} whose body is not a chat completion ({problem}); "
                                        f"{c.max_retries} retries used")
            retried = c.max_retries - left
            left -= 1
            time.sleep(min(0.5 * 2 ** retried, 8.0) * (1 - 0.25 * random.random()))  # the client's backoff

    continuous = True  # each episode's request goes out as soon as its env has stepped

    def act(self, requests: list[AgentRequest]) -> list[AgentReply]:
        return list(self.pool.map(self._one, requests))

    def submit(self, request: AgentRequest) -> Future:
        return self.pool.submit(self._one, request)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()  # the connection pool


class MalformedResponse(RuntimeError):
    """The endpoint answered 200 with something that is not a chat completion, on every attempt."""
