"""Generation with the local model (SmolLM2-135M-Instruct, CPU, fp32).

(a) B concurrent episodes: one batched generate call vs B sequential calls; tokens/s.
    Target >= 2x at B = 8.
(b) Cost of a step late in an episode: the naive loop re-encodes the whole growing conversation
    every turn; ours keeps each episode's KV cache and encodes only the new turn. Past max_context
    old turns are dropped in blocks, and the turn that drops them re-encodes the kept prompt: the
    mean over the late steps shows that cost amortized.
    step-20 time / step-1 time; target <= 1.5x, against the naive loop in the same run.

    python bench/bench_generation.py [--quick]
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import quick_mode, median_of, report, timed  # noqa: E402

from harness.agents.hf import HFAgent, HFConfig  # noqa: E402
from harness.agent import AgentRequest  # noqa: E402
from harness.tasks.sciworld.prompt import first_message  # noqa: E402

OBS = ("Observation: This room is called the kitchen. In it, you see: the agent, a substance called air, "
       "a chair. On the chair is: nothing. a counter. On the counter is: a bowl (containing a red apple, "
       "a banana, an orange), a drawer. a cupboard. The cupboard door is open. In the cupboard is: a tin cup, "
       "a ceramic cup, a drawer. a freezer. The freezer door is closed. a fridge. a glass jar (containing a "
       "substance called sodium chloride) a lighter a oven, which is turned off. a sink, which is turned off. "
       "a stove, which is turned off. a table. On the table is: a glass cup (containing nothing). You also "
       "see: A door to the outside (that is open) A door to the bathroom (that is open)")


def episode(turns: int, i: int = 0) -> list[dict]:
    msgs = [{"role": "user",
             "content": first_message(f"Your task is to boil water (episode {i}).", with_example=False)}]
    for _ in range(turns):
        msgs.append({"role": "assistant", "content": "Thought: I need to find the stove.\nAction: look around"})
        msgs.append({"role": "user", "content": OBS})
    return msgs


def main() -> None:
    quick = quick_mode()
    B = 4 if quick else 8
    reps = 1 if quick else 3
    late = 8 if quick else 20
    new_tokens = 16 if quick else 32

    # (a) batching: short prompts, where decoding dominates
    batched = HFAgent(HFConfig(model="smollm2", max_new_tokens=new_tokens, kv_cache=False, batch_size=B))
    reqs = [AgentRequest(episode_id=f"e{i}#0", messages=episode(0, i), seed=i) for i in range(B)]
    batched.act(reqs[:1])  # warm-up

    def one_call() -> float:
        return timed(lambda: batched.act(reqs))[0]

    def sequential() -> float:
        return timed(lambda: [batched.act([r]) for r in reqs])[0]

    toks = sum(r.usage.completion_tokens for r in batched.act(reqs))
    t_batch, xs_b = median_of(reps, one_call)
    t_seq, xs_s = median_of(reps, sequential)
    rows = [{"mode": f"one batched call, B={B}", "median_s": t_batch, "new_tokens_per_s": toks / t_batch,
             "raw_s": [round(x, 2) for x in xs_b]},
            {"mode": f"{B} sequential calls", "median_s": t_seq, "new_tokens_per_s": toks / t_seq,
             "raw_s": [round(x, 2) for x in xs_s]}]

    # (b) late steps: one episode played turn by turn to step `late`
    cached = HFAgent(HFConfig(model="smollm2", max_new_tokens=new_tokens, kv_cache=True))
    naive = batched

    window = range(late - 7, late + 1)  # two blocks of dropped turns, once the prompt is past max_context

    def play(agent) -> dict[int, float]:
        times = {}
        # the naive loop keeps no state between turns: only the measured steps need playing
        steps = range(late + 1) if agent.config.kv_cache else sorted({0, 1, *window})
        for step in steps:
            req = AgentRequest(episode_id="long#0", messages=episode(step), seed=0, step=step)
            times[step], _ = timed(lambda req=req: agent.act([req]))
        agent.episode_done("long#0")
        return times

    ratios = {"batched/sequential (a)": t_seq / t_batch}
    for name, agent in (("kv-cache", cached), ("naive re-encode", naive)):
        runs = [play(agent) for _ in range(reps)]

        def med(step, runs=runs):
            return statistics.median(r[step] for r in runs)
        first, last = med(1), med(late)  # step 1: after one turn, both have a warm start
        mean_late = statistics.mean(med(s) for s in window)
        prompt = len(agent._prompt_ids(episode(late)))
        rows.append({"mode": name, "step1_s": first, f"step{late}_s": last,
                     f"mean_steps{window[0]}-{late}_s": mean_late, f"step{late}_prompt_tokens": prompt})
        ratios[f"{name} step{late}/step1 (b)"] = last / first
        ratios[f"{name} mean step{window[0]}-{late}/step1 (b)"] = mean_late / first
    report("generation (SmolLM2-135M, CPU fp32)", rows, ratios,
           {"batched/sequential (a)": ">= 2", f"kv-cache step{late}/step1 (b)": "<= 1.5"})


if __name__ == "__main__":
    main()
