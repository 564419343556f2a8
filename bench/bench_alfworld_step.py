"""ALFWorld stepping: the harness vs the engine's default step loop, on the same games and actions.

  engine   what ALFWorld's AlfredTWEnv plays (TextWorld's PddlEnv with the AlfredDemangler and
           AlfredInfos wrappers, admissible commands requested, in process without the gym's
           worker): load the game, reset, step. Every step lists and renders all admissible commands
  harness  our RolloutEngine with one env and an agent replaying the same actions: prompts, parsing,
           trajectories, everything but a model. Renders only the commands a step looks up
  cold     each game played for the first time in the process (the engine wrapper's kept
           translations, grammars and rendered commands cleared before every repetition)
  warm     games played again (samples > 1, EEF restarts, the next iteration): all of those kept
Episodes (alfworld-mini test games, generated on first use): the game's expert walkthrough, and
40-step episodes of seeded random admissible commands (a weak model at the step limit).
Target: harness >= 2x engine.

    python bench/bench_alfworld_step.py [--quick]
"""
from __future__ import annotations

import random
import statistics
import sys
from importlib.util import find_spec
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import FixedActions, interleaved, keep_envs_across_runs, quick_mode, report, timed  # noqa: E402

from harness.rollout import EpisodeJob, RolloutEngine  # noqa: E402
from harness.tasks.alfworld import AlfWorldMiniConfig, AlfWorldMiniTask  # noqa: E402
from harness.tasks.alfworld import engine as engine_module  # noqa: E402




def engine_env(game_file: str):
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
    from textworld.envs.pddl import PddlEnv
    env = AlfredInfos(AlfredDemangler(PddlEnv(textworld.EnvInfos(won=True, admissible_commands=True,
                                                                 extras=["gamefile"]))))
    env.load(game_file)
    return env


def random_plans(subtasks, n: int) -> dict[str, list[str]]:
    """n seeded random admissible commands per game (played on our engine, which the tests compare)."""
    plans = {}
    for i, st in enumerate(subtasks):
        eng = engine_module.Engine()
        eng.load(st.data["game_file"])
        eng.reset()
        rng, plan = random.Random(i), []
        while len(plan) < n and not eng.won:
            plan.append(rng.choice(eng.admissible_commands()))
            eng.step(plan[-1])
        plans[st.id] = plan
    return plans


def main() -> None:
    quick = quick_mode()
    if find_spec("alfworld") is None:
        print("bench_alfworld_step: skipped, alfworld is not installed (pip install 'harness[alfworld]')")
        return
    task = AlfWorldMiniTask(AlfWorldMiniConfig(split="test"))
    subtasks = task.subtasks()[:4] if quick else task.subtasks()
    reps = 2 if quick else 5
    walkthroughs = {}
    for st in subtasks:
        env = task.make_env()
        walkthroughs[st.id] = env.reset(st, want_oracle=True).oracle.actions
        env.close()
    scenarios = {"expert walkthroughs, episodes incl. load+reset": walkthroughs,
                 "40 random admissible commands an episode": random_plans(subtasks, 40)}
    for title, plan in scenarios.items():
        run_scenario(title, plan, subtasks, task, reps)


def run_scenario(title, plan, subtasks, task, reps) -> None:
    n_steps = sum(len(a) for a in plan.values())

    def engine() -> float:
        def loop():
            for st in subtasks:
                env = engine_env(st.data["game_file"])  # the gym env loads each game it resets to
                env.reset()
                for a in plan[st.id]:
                    env.step(a)
        return timed(loop)[0]

    limited = AlfWorldMiniTask(task.config.model_copy(update={"max_steps": max(len(a) for a in plan.values())}))

    def harness(cold: bool):
        rollout = RolloutEngine(limited, FixedActions(plan), num_envs=1)
        keep_envs_across_runs(rollout)  # one engine across repetitions (cleared for cold runs)

        def loop() -> float:
            if cold:  # a fresh engine and no kept translation: every game is new to the process
                engine_module._TRANSLATIONS.clear()
                engine_module._LOGICS.clear()
                engine_module._RENDERED.clear()
                if rollout._envs[0] is not None:
                    rollout._envs[0].close()
                rollout._envs[0] = None
            out = []
            dt, _ = timed(lambda: rollout.run([EpisodeJob(subtask=st) for st in subtasks], out.append))
            assert sum(len(t.steps) for t in out) == n_steps, "an episode ended early"
            return dt
        return loop

    loops = {"engine": engine, "harness (cold)": harness(True), "harness (warm)": harness(False)}
    times = interleaved(loops, reps)
    rows, rates = [], {}
    for name, xs in times.items():
        med = statistics.median(xs)
        rates[name] = n_steps / med
        rows.append({"loop": name, "episodes": len(subtasks), "steps": n_steps, "median_s": med,
                     "steps_per_s": rates[name], "raw_s": [round(x, 3) for x in xs]})
    report(f"env stepping (ALFWorld, alfworld-mini test games, {title})", rows,
           {"harness (cold)/engine": rates["harness (cold)"] / rates["engine"],
            "harness (warm)/engine": rates["harness (warm)"] / rates["engine"]},
           {"harness (cold)/engine": ">= 2", "harness (warm)/engine": ">= 2"})


if __name__ == "__main__":
    main()
