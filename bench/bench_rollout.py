"""Tuned-model rollouts: the `vllm` agent vs the `hf` agent on the same webshop-mini subtasks.

SmolLM2-135M-Instruct with a LoRA adapter from our own SFT stage (a few steps on expert
successes: what matters here is the cost per episode, not what the model learned), greedy, the
same episodes and seeds through the same engine. Prints episodes/s of each, their ratio
(goal >= 3x), whether the greedy actions agree, and how many env workers one engine keeps busy
(generation turns/s of the engine over env steps/s of one worker: the sizing figure for GPUs).
Needs vLLM (`bash scripts/setup.sh --vllm` on CPU).

    python bench/bench_rollout.py [--quick]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import quick_mode, report  # noqa: E402

from harness.run import execute  # noqa: E402
from harness.specs import load_run_spec  # noqa: E402


def run(out: Path, name: str, agent: dict, split: str, limit: int, max_steps: int, num_envs: int):
    spec = load_run_spec(None, defaults={"task": {"name": "webshop-mini", "split": split, "limit": limit,
                                                  "icl_example": False, "max_steps": max_steps},
                                         "agent": agent},
                         run=[f"out_dir={out}", f"name={name}", "progress=false", f"num_envs={num_envs}"])
    t0 = time.perf_counter()
    episodes = list(execute(spec).latest().values())
    return time.perf_counter() - t0, episodes


def main() -> None:
    quick = quick_mode()
    from importlib.util import find_spec
    if find_spec("vllm") is None:
        print("bench_rollout: skipped, vLLM is not installed (bash scripts/setup.sh --vllm)")
        return
    n, steps = (4, 4) if quick else (16, 8)
    from harness.trainers.finetune import TrainOptions, fine_tune
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _, experts = run(out, "expert", {"name": "expert"}, "train", 8, 15, 4)
        result = fine_tune([t for t in experts if t.success], TrainOptions(max_steps=2, batch_size=2, max_len=1536,
                                                                           lr=1e-3), out / "sft")
        greedy = {"model": "smollm2", "adapter": result["model_dir"], "temperature": 0.0, "max_new_tokens": 48}
        env_s, env_eps = run(out, "env", {"name": "expert"}, "test", n, steps, 1)  # env alone: one worker
        env_steps = sum(len(t.steps) for t in env_eps)
        hf_s, hf = run(out, "hf", {"name": "hf", **greedy}, "test", n, steps, n)
        run(out, "vllm-warm", {"name": "vllm", **greedy, "max_model_len": 4096}, "test", 1, 1, 1)  # engine start
        vl_s, vl = run(out, "vllm", {"name": "vllm", **greedy, "max_model_len": 4096}, "test", n, steps, n)
    same = sum(a.actions == b.actions for a, b in zip(sorted(hf, key=lambda t: t.id), sorted(vl, key=lambda t: t.id)))
    turns = sum(len(t.steps) for t in vl)
    rows = [{"agent": "hf", "episodes": len(hf), "seconds": hf_s, "episodes_per_s": len(hf) / hf_s},
            {"agent": "vllm", "episodes": len(vl), "seconds": vl_s, "episodes_per_s": len(vl) / vl_s,
             "greedy_actions_equal": f"{same}/{len(vl)}"},
            {"agent": "env only (expert, 1 worker)", "steps": env_steps, "steps_per_s": env_steps / env_s}]
    report("tuned-model rollouts (webshop-mini, SmolLM2-135M + LoRA, greedy)", rows,
           {"vllm/hf episodes per second": hf_s / vl_s,
            "env workers one engine keeps busy (engine turns/s / one worker's env steps/s)":
                (turns / vl_s) / (env_steps / env_s)},
           {"vllm/hf episodes per second": ">= 3"})


if __name__ == "__main__":  # vLLM's engine core starts by spawn and re-imports this script
    main()
