"""Tuned-model rollouts: the `vllm` agent vs the `hf` agent on the same webshop-mini and ScienceWorld subtasks.

Per task, SmolLM2-135M-Instruct with a LoRA adapter from our own SFT stage on that task's expert
successes (a few steps: what matters here is the cost per episode, not what the model learned),
greedy, the same episodes and seeds through the same engine; the vllm agent in its default
adapter mode (on CPU: merged into the weights), stepped continuously, and once more with one
generate() per turn. Prints episodes/s of each, their ratios (goal >= 3x vllm/hf on webshop-mini),
whether the greedy actions agree, and how many env workers one engine keeps busy
(generation turns/s of the engine over env steps/s of one worker: the sizing figure for GPUs).
Needs vLLM (`bash scripts/setup.sh --vllm` on CPU); the ScienceWorld half needs Java.

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


# per task: (the test subtasks' spec, the expert's training subtasks for the adapter)
TASKS = {
    "webshop-mini": ({"name": "webshop-mini", "split": "test", "icl_example": False},
                     {"name": "webshop-mini", "split": "train", "limit": 8, "icl_example": False}),
    "sciworld": ({"name": "sciworld", "split": "dev", "task_types": ["find-living-thing", "find-plant"],
                  "icl_example": False},
                 {"name": "sciworld", "split": "train", "task_types": ["find-living-thing", "find-plant"],
                  "variations": 4, "icl_example": False}),
}


def sized(task: dict, n: int, steps: int) -> dict:
    """The first n subtasks of a test spec (sciworld: n / task types variations each), at most `steps` steps."""
    if task["name"] == "sciworld":
        return {**task, "variations": max(1, n // len(task["task_types"])), "max_steps": steps}
    return {**task, "limit": n, "max_steps": steps}


def run(out: Path, name: str, agent: dict, task: dict, num_envs: int):
    spec = load_run_spec(None, defaults={"task": task, "agent": agent},
                         run=[f"out_dir={out}", f"name={name}", "progress=false", f"num_envs={num_envs}"])
    t0 = time.perf_counter()
    episodes = list(execute(spec).latest().values())
    return time.perf_counter() - t0, episodes


def bench_task(out: Path, task: str, n: int, steps: int) -> None:
    from harness.agents.vllm_agent import shutdown_engines
    from harness.trainers.finetune import TrainOptions, fine_tune
    test, train = TASKS[task]
    _, experts = run(out, f"{task}-expert", {"name": "expert"}, train, 4)
    result = fine_tune([t for t in experts if t.success], TrainOptions(max_steps=2, batch_size=2, max_len=1536,
                                                                       lr=1e-3), out / f"{task}-sft")
    greedy = {"model": "smollm2", "adapter": result["model_dir"], "temperature": 0.0, "max_new_tokens": 48}
    test = sized(test, n, steps)
    env_s, env_eps = run(out, f"{task}-env", {"name": "expert"}, test, 1)  # env alone: one worker
    env_steps = sum(len(t.steps) for t in env_eps)
    envs = n if task == "webshop-mini" else min(n, 8)  # a ScienceWorld env is a JVM (~0.4 GB)
    hf_s, hf = run(out, f"{task}-hf", {"name": "hf", **greedy}, test, envs)
    vllm = {"name": "vllm", **greedy, "max_model_len": 4096}
    run(out, f"{task}-vllm-warm", vllm, sized(test, 1, 1), 1)  # engine start (and the adapter's merge)
    vl_s, vl = run(out, f"{task}-vllm", vllm, test, envs)
    turn_s, per_turn = run(out, f"{task}-vllm-per-turn", {**vllm, "continuous": False}, test, envs)
    shutdown_engines()  # its threads would slow the next task's hf run down
    same = sum(a.actions == b.actions for a, b in zip(sorted(hf, key=lambda t: t.id), sorted(vl, key=lambda t: t.id)))
    turns = sum(len(t.steps) for t in vl)
    rows = [{"agent": "hf", "episodes": len(hf), "seconds": hf_s, "episodes_per_s": len(hf) / hf_s},
            {"agent": "vllm", "episodes": len(vl), "seconds": vl_s, "episodes_per_s": len(vl) / vl_s,
             "greedy_actions_equal": f"{same}/{len(vl)}"},
            {"agent": "vllm, one generate() per turn", "episodes": len(per_turn), "seconds": turn_s,
             "episodes_per_s": len(per_turn) / turn_s},
            {"agent": "env only (expert, 1 worker)", "steps": env_steps, "steps_per_s": env_steps / env_s}]
    report(f"tuned-model rollouts ({task}, SmolLM2-135M + LoRA, greedy)", rows,
           {"vllm/hf episodes per second": hf_s / vl_s,
            "vllm continuous / one generate() per turn": turn_s / vl_s,
            "env workers one engine keeps busy (engine turns/s / one worker's env steps/s)":
                (turns / vl_s) / (env_steps / env_s)},
           {"vllm/hf episodes per second": ">= 3" if task == "webshop-mini" else "-"})


def main() -> None:
    quick = quick_mode()
    from importlib.util import find_spec
    if find_spec("vllm") is None:
        print("bench_rollout: skipped, vLLM is not installed (bash scripts/setup.sh --vllm)")
        return
    n, steps = (4, 4) if quick else (16, 8)
    with tempfile.TemporaryDirectory() as tmp:
        for task in TASKS:
            bench_task(Path(tmp), task, n, steps)


if __name__ == "__main__":  # vLLM's engine core starts by spawn and re-imports this script
    main()
