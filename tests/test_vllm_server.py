"""The openai agent against a real `vllm serve` (vLLM's CPU build) on 127.0.0.1: an adapter served
by name, a second one loaded at run time by the agent, and token accounting equal to the server's."""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("vllm")
pytest.importorskip("peft")

from harness.models import resolve_model  # noqa: E402
from harness.run import execute  # noqa: E402
from harness.specs import load_run_spec  # noqa: E402
from harness.trainers.finetune import TrainOptions, fine_tune  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tokens_served(base: str) -> tuple[float, float]:
    """vLLM's own counters: prompt and generated tokens over all requests so far."""
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    total = {}
    for name in ("prompt_tokens_total", "generation_tokens_total"):
        total[name] = sum(float(m) for m in re.findall(rf"^vllm:{name}{{[^}}]*}} ([0-9.e+]+)$", text, re.M))
    return total["prompt_tokens_total"], total["generation_tokens_total"]


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("adapters")
    spec = load_run_spec(None, defaults={"task": {"name": "webshop-mini", "split": "train", "limit": 2,
                                                  "icl_example": False}, "agent": {"name": "expert"}},
                         run=[f"out_dir={tmp}", "name=expert", "progress=false"])
    wins = [t for t in execute(spec).latest().values() if t.success]
    return [fine_tune(wins, TrainOptions(max_steps=steps, batch_size=2, max_len=1536, lr=1e-3, lora={"r": 8}),
                      tmp / f"sft{steps}")["model_dir"] for steps in (1, 2)]


def test_openai_agent_against_vllm_serve_with_adapters_by_name(tmp_path, adapters, monkeypatch):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
           "VLLM_CPU_OMP_THREADS_BIND": f"0-{os.cpu_count() - 1}", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", resolve_model("smollm2"),
         "--dtype", "float32", "--enforce-eager", "--max-model-len", "4096", "--enable-lora", "--max-lora-rank", "8",
         "--lora-modules", f"first={adapters[0]}", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base + "/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
                time.sleep(2)
        monkeypatch.setenv("LOCAL_KEY", "not-a-secret")
        common = {"name": "openai", "base_url": base + "/v1", "api_key_env": "LOCAL_KEY", "max_tokens": 48}

        def play(name, agent):
            spec = load_run_spec(None, defaults={"task": {"name": "webshop-mini", "limit": 2, "icl_example": False,
                                                          "max_steps": 3}, "agent": {**common, **agent}},
                                 run=[f"out_dir={tmp_path}", f"name={name}", "progress=false"])
            before = tokens_served(base)
            store = execute(spec)
            after = tokens_served(base)
            eps = list(store.latest().values())
            assert all(t.status == "ok" for t in eps), [t.error for t in eps]
            counted = (sum(t.usage.prompt_tokens for t in eps), sum(t.usage.completion_tokens for t in eps))
            assert counted == (after[0] - before[0], after[1] - before[1])  # exactly what the server served
            return eps

        by_name = play("first", {"model": "first"})
        loaded = play("second", {"model": "unused-with-an-adapter", "adapter": adapters[1]})
        models = urllib.request.urlopen(base + "/v1/models", timeout=10).read().decode()
        assert '"first"' in models and "harness-lora-" in models  # the second adapter, loaded at run time
        assert by_name and loaded and sum(t.usage.completion_tokens for t in by_name + loaded) > 0
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
