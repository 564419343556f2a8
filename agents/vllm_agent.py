"""Batched generation with vLLM's offline engine (`vllm.LLM`): GPU machines, and vLLM's CPU build.

- Adapters, `adapter_mode`:
  - `lora` (the default on GPUs): one engine per process and model serves every stage of an
    experiment (rollouts, exploration, evaluation), and each iteration's LoRA adapter is applied per
    request through its own `LoRARequest` (a new id per adapter folder): no engine restarts.
  - `merge` (the default on CPUs): the adapter is merged into a copy of the base weights (peft's
    `merge_and_unload`, in a temporary folder removed when the engine stops) and an engine serves
    that; a new adapter stops the previous merged engine and starts one (~30 s). The CPU build's LoRA
    kernels made generation 10-21x slower than the plain model (16 webshop-mini prompts, 48 new
    tokens: 10.9 s plain, 20.8 s merged, 106 s LoRA at max_lora_rank 16, 231 s at 64).
- Prefix caching is on: EEF restarts share long expert prefixes, and every turn of an episode
  shares the previous turn's prompt.
- Sampling is seeded per request (episode seed + turn), so results do not depend on batching.
- `continuous` (default on): a thread steps the engine without pause and each episode's request
  joins the running batch as soon as its env has stepped (`LLMEngine.add_request` / `step`), so no
  episode waits for the slowest of a turn; off, every turn is one `LLM.generate` over all live episodes.
- Token-exact (harness.tokens): prompts go in as token ids, rendered by the model's own
  transformers tokenizer with the ids sampled for earlier turns in place (the same rendering the
  hf agent and the training data use), and each reply carries the ids kept after the cut at its
  action line.
- On a CPU (no CUDA device): fp32 (bf16 matmuls are ~200x slower there) and every core computes
  (the CPU build reserves one by default); `VLLM_CPU_*` variables already set are kept.
- vLLM starts its engine core by spawn, which re-imports the main script: a script that builds
  this agent needs an `if __name__ == "__main__":` guard (the `harness` command has one).
"""
from __future__ import annotations

import atexit
import itertools
import logging
import os
import queue
import shutil
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Literal

from pydantic import Field

from harness import Agent, AgentReply, AgentRequest, AgentSpec, Usage, register_agent
from harness.agent import before_training
from harness.specs import added_later
from harness.models import resolve_model
from harness.react import cut_after_action
from harness.tokens import prompt_ids, sampled_reply


class VLLMConfig(AgentSpec):
    name: str = "vllm"
    model: str = Field(description="model folder (or 'smollm2')")
    adapter: Path | None = Field(None, description="LoRA adapter folder to apply (per request)")
    enable_lora: bool = Field(True, description="start the engine able to take adapters (an experiment's "
                                                "iterations then share it)")
    max_lora_rank: int = 64
    adapter_mode: Literal["auto", "lora", "merge"] = Field(
        "auto", description="lora: LoRARequest per request, one engine for every adapter; merge: an engine on the "
                            "adapter merged into the weights (fast on CPU, one engine per adapter); auto: merge on "
                            "CPU, lora on GPU")
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(128, ge=1)
    max_model_len: int = 8192
    dtype: str = Field("auto", description="auto: float32 on CPU, the model's own dtype on GPU")
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    tensor_parallel_size: int = Field(1, ge=1)
    enforce_eager: bool = Field(False, description="no CUDA graphs / compilation (on CPU: always)")
    cpu_kv_cache_gb: int = Field(2, ge=1, description="KV cache of the CPU build (VLLM_CPU_KVCACHE_SPACE)")
    continuous: bool = added_later(True, description="submit each episode's turn as soon as its env has stepped "
                                               "(continuous batching); false: one generate() call per turn")


log = logging.getLogger(__name__)
_ENGINES: dict[tuple, object] = {}  # engine arguments -> vllm.LLM, for the life of the process
_LORA_IDS: dict[str, int] = {}  # adapter folder -> LoRA id (ids must stay distinct per adapter)
_MERGED: dict[str, tempfile.TemporaryDirectory] = {}  # adapter folder -> its merged weights, while an engine uses them


def _on_cpu() -> bool:
    import torch
    return not torch.cuda.is_available()


def merges(c: VLLMConfig) -> bool:
    """Whether this agent serves its adapter merged into the weights (see `adapter_mode`)."""
    return c.adapter is not None and (c.adapter_mode == "merge" or (c.adapter_mode == "auto" and _on_cpu()))


def _engine(c: VLLMConfig):
    cpu = _on_cpu()
    if cpu:
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{(os.cpu_count() or 1) - 1}")
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(c.cpu_kv_cache_gb))
    merged = merges(c)
    model = _merged_folder(c) if merged else resolve_model(c.model)
    args = dict(model=model, dtype="float32" if cpu and c.dtype == "auto" else c.dtype,
                max_model_len=c.max_model_len, enable_prefix_caching=True,
                enable_lora=not merged and (c.enable_lora or c.adapter is not None), max_lora_rank=c.max_lora_rank,
                tensor_parallel_size=c.tensor_parallel_size, enforce_eager=c.enforce_eager or cpu)
    if not cpu:
        args["gpu_memory_utilization"] = c.gpu_memory_utilization
    else:  # the CPU build crashes when it splits the prefill of a seeded request ("CPU Generator does not use offset")
        args["enable_chunked_prefill"] = False
    key = tuple(sorted(args.items()))
    if key not in _ENGINES:
        if merged:  # one merged engine at a time: the previous iteration's is not played again
            shutdown_engines(keep=_MERGED.keys() & {str(Path(c.adapter).resolve())})
        from vllm import LLM
        _ENGINES[key] = LLM(**args)
        log.info("vllm engine started: %s", args["model"])
    return _ENGINES[key]


def _merged_folder(c: VLLMConfig) -> str:
    """The base model with the adapter merged in, written once per adapter while an engine serves it."""
    adapter = str(Path(c.adapter).resolve())
    if adapter not in _MERGED:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        base = resolve_model(c.model)
        folder = tempfile.TemporaryDirectory(prefix="harness-vllm-merged-")
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        PeftModel.from_pretrained(model, adapter).merge_and_unload().save_pretrained(folder.name)
        AutoTokenizer.from_pretrained(base).save_pretrained(folder.name)
        for extra in ("generation_config.json",):  # the engine reads the model's sampling defaults from it
            if (Path(base) / extra).is_file():
                shutil.copy(Path(base) / extra, folder.name)
        _MERGED[adapter] = folder
        log.info("vllm merged adapter: %s", adapter)
    return _MERGED[adapter].name


class _Stepper:
    """Steps one engine continuously in a thread of its own: a request joins the running batch when
    it is submitted, and its future is resolved when it finishes. Only this thread touches the engine
    while requests are pending (`LLM.generate` would take their outputs)."""

    def __init__(self, llm):
        self.engine = llm.llm_engine
        self.inbox: queue.Queue = queue.Queue()
        self.pending: dict[str, Future] = {}
        self.ids = itertools.count()
        self.thread = threading.Thread(target=self._loop, name="vllm-stepper", daemon=True)
        self.thread.start()

    def submit(self, prompt: dict, params, lora) -> Future:
        fut: Future = Future()
        self.inbox.put((prompt, params, lora, fut))
        return fut

    def stop(self) -> None:
        self.inbox.put(None)
        self.thread.join()

    def _render(self, prompt: dict):
        """The engine's input for a token prompt: vLLM >= 0.32 takes it rendered by the engine's Renderer
        (a raw dict still works there, with a deprecation warning); older engines take the raw dict."""
        renderer = getattr(self.engine, "renderer", None)
        return renderer.render_cmpl([prompt])[0] if hasattr(renderer, "render_cmpl") else prompt

    def _loop(self) -> None:
        from vllm.sampling_params import RequestOutputKind
        while True:
            try:  # wait for work only when nothing is running; else take what came and step
                item = self.inbox.get(block=not self.pending)
                while True:
                    if item is None:
                        return
                    prompt, params, lora, fut = item
                    rid = f"harness-{next(self.ids)}"
                    params.output_kind = RequestOutputKind.FINAL_ONLY
                    try:
                        self.engine.add_request(rid, self._render(prompt), params, lora_request=lora)
                        self.pending[rid] = fut
                    except Exception as exc:  # a bad request fails alone
                        fut.set_exception(exc)
                    item = self.inbox.get_nowait()
            except queue.Empty:
                pass
            if not self.pending:
                continue
            try:
                for out in self.engine.step():
                    if out.finished:
                        self.pending.pop(out.request_id).set_result(out)
            except Exception as exc:  # the engine died: every waiting episode hears it
                for fut in self.pending.values():
                    fut.set_exception(exc)
                self.pending.clear()


_STEPPERS: dict[int, _Stepper] = {}  # id(vllm.LLM) -> its stepper, started on first use


def _stepper(llm) -> _Stepper:
    if id(llm) not in _STEPPERS:
        _STEPPERS[id(llm)] = _Stepper(llm)
    return _STEPPERS[id(llm)]


def _stop(key: tuple) -> None:
    llm = _ENGINES.pop(key)
    if id(llm) in _STEPPERS:
        _STEPPERS.pop(id(llm)).stop()
    llm.llm_engine.engine_core.shutdown()
    log.info("vllm engine stopped: %s", dict(key)["model"])


def shutdown_engines(keep=()) -> None:
    """Stop this process's engines (but those serving the merged adapters in `keep`). On a CPU an idle
    engine's threads still spin on their cores, so a process that is done with vLLM (a test, a
    notebook) should stop it before other work."""
    kept = {_MERGED[a].name for a in keep}
    for key in [k for k in _ENGINES if dict(k)["model"] not in kept]:
        _stop(key)
    for adapter in [a for a in _MERGED if a not in keep]:
        _MERGED.pop(adapter).cleanup()
    if not keep:
        _LORA_IDS.clear()


@before_training
def _stop_merged_engines() -> None:
    """A merged engine serves one adapter, and training makes the next: it is not asked again, and on
    a CPU its idle threads took ~20% of a core (and 4 GB) from the training stage that follows.
    Engines that take adapters per request (lora mode) stay: the next iteration uses them."""
    merged = {f.name for f in _MERGED.values()}
    for key in [k for k in _ENGINES if dict(k)["model"] in merged]:
        _stop(key)
    while _MERGED:
        _MERGED.popitem()[1].cleanup()


atexit.register(shutdown_engines)  # before vLLM's own finalizers: a process must not hang on exit


def lora_request(adapter: Path | None):
    """The LoRARequest of an adapter folder: the same id every time it is asked for in this process."""
    if adapter is None:
        return None
    from vllm.lora.request import LoRARequest
    path = str(Path(adapter).resolve())
    if path not in _LORA_IDS:
        _LORA_IDS[path] = len(_LORA_IDS) + 1
        log.info("vllm LoRA adapter %d: %s", _LORA_IDS[path], path)
    return LoRARequest(f"adapter-{_LORA_IDS[path]}", _LORA_IDS[path], path)


@register_agent("vllm")
class VLLMAgent(Agent):
    """vLLM offline engine (`vllm.LLM`), batched over all live episodes, LoRA adapter per request."""

    Config = VLLMConfig

    def __init__(self, config: VLLMConfig):
        super().__init__(config)
        self.llm = _engine(config)
        self.lora = None if merges(config) else lora_request(config.adapter)
        from transformers import AutoTokenizer
        self.tokenizer = AutoTokenizer.from_pretrained(resolve_model(config.model))
        self._tokenizing = threading.Lock()  # replies are decoded in the stepper's thread, prompts here

    @property
    def continuous(self) -> bool:
        return self.config.continuous

    def _params(self, r: AgentRequest):
        from vllm import SamplingParams
        c = self.config
        return SamplingParams(temperature=c.temperature, top_p=c.top_p, max_tokens=c.max_new_tokens,
                              stop=["\nObservation"], seed=r.seed + r.step)

    def _prompt(self, r: AgentRequest) -> dict:
        with self._tokenizing:
            return {"prompt_token_ids": prompt_ids(self.tokenizer, r.messages_with_ids())}

    def act(self, requests: list[AgentRequest]) -> list[AgentReply]:
        outputs = self.llm.generate([self._prompt(r) for r in requests], [self._params(r) for r in requests],
                                    lora_request=self.lora, use_tqdm=False)
        return [self._reply(out) for out in outputs]

    def submit(self, request: AgentRequest) -> Future:
        reply: Future = Future()
        out = _stepper(self.llm).submit(self._prompt(request), self._params(request), self.lora)

        def done(f: Future) -> None:  # in the stepper's thread: the decoding is cheap
            try:
                reply.set_result(self._reply(f.result()))
            except Exception as exc:
                reply.set_exception(exc)
        out.add_done_callback(done)
        return reply

    def _reply(self, out) -> AgentReply:
        """A vLLM RequestOutput as a reply: the sampled ids (through any stop string or end of turn)
        are cut to the shortest prefix that holds the text kept after the action line."""
        gen = out.outputs[0]
        with self._tokenizing:
            text, ids = sampled_reply(self.tokenizer, list(gen.token_ids), cut_after_action(gen.text))
        n = len(out.prompt_token_ids)
        return AgentReply(text=text, token_ids=ids, prompt_tokens=n if ids is not None else None,
                          usage=Usage(prompt_tokens=n, completion_tokens=len(gen.token_ids)))
