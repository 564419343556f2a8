"""The vllm agent's engines around training, without vLLM: a training stage stops the engines that
serve a merged adapter (never asked again; on a CPU their idle threads spin) and keeps those that
take adapters per request."""
import tempfile
from types import SimpleNamespace

from harness.agent import free_for_training
from harness.agents import vllm_agent


def fake_engine(stopped: list, name: str):
    core = SimpleNamespace(shutdown=lambda: stopped.append(name))
    return SimpleNamespace(llm_engine=SimpleNamespace(engine_core=core))


def test_a_training_stage_stops_merged_engines_and_keeps_lora_ones(monkeypatch):
    stopped = []
    merged = tempfile.TemporaryDirectory(prefix="harness-test-merged-")
    folder = merged.name
    monkeypatch.setattr(vllm_agent, "_ENGINES", {(("model", folder),): fake_engine(stopped, "merged"),
                                                 (("model", "/models/base"),): fake_engine(stopped, "lora")})
    monkeypatch.setattr(vllm_agent, "_MERGED", {"/runs/iter0/train/model": merged})
    free_for_training()
    assert stopped == ["merged"]
    assert list(vllm_agent._ENGINES) == [(("model", "/models/base"),)]
    assert vllm_agent._MERGED == {}
    import os
    assert not os.path.exists(folder)  # the merged weights are removed with their engine
    free_for_training()  # nothing merged left: nothing more stops
    assert stopped == ["merged"]
