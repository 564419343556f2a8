"""RFT (rejection-sampling fine-tuning): SFT, then I iterations of roll out -> keep successes -> fine-tune.

Choices the papers leave open are options: `retrain_from` (base: each iteration trains a fresh
adapter on the whole set, the RFT papers' default; previous: continue the last adapter),
`accumulate` (keep the solutions of earlier iterations: one per state, see
`eef_logic.one_per_state`), `prefer` (which solution of a state to keep: the shortest, or the first).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field
from rich.console import Console

from harness import register_trainer
from harness.experiment import Experiment, Trainer
from harness.trajectory import Trajectory

from .eef_logic import build_training_set, one_per_state
from .finetune import fine_tune
from .sft import SFTConfig, brief, sft_iteration


class RFTConfig(SFTConfig):
    name: str = "rft"
    iterations: int = Field(3, ge=1)
    samples: int = Field(1, ge=1, description="rollouts per training subtask per iteration (RFT x6: 6)")
    temperature: float = Field(0.7, ge=0.0, description="sampling temperature of the rollouts")
    retrain_from: Literal["base", "previous"] = "base"
    accumulate: bool = Field(True, description="keep self successes (and EEF examples) of earlier iterations")
    prefer: Literal["shortest", "first"] = "shortest"


def _tag(t: Trajectory, it: int) -> Trajectory:
    return t.model_copy(update={"id": f"iter{it}:{t.id}"})


@register_trainer("rft")
class RFTTrainer(Trainer):
    """SFT on expert successes, then iterations of self-generated successes."""

    Config = RFTConfig

    def explore(self, exp: Experiment, it: int, experts, self_rollouts, agent) -> list:
        """EEF's hook: results of exploring failed expert trajectories (none for plain RFT)."""
        return []

    def run(self, exp: Experiment) -> list[dict]:
        c = self.config
        experts, wins, result, it0 = sft_iteration(exp, c)
        iterations = [it0]
        kept: dict = {}  # accumulate: one solution per state over the iterations (eef_logic.one_per_state)
        for it in range(1, c.iterations + 1):
            agent = exp.model_agent(result, c.temperature)
            rollouts = exp.run_stage(f"iter{it}/rollouts", exp.spec.task, agent, samples=c.samples)
            self_rollouts = list(rollouts.latest().values())
            results = self.explore(exp, it, experts, self_rollouts, agent)
            train_set, numbers = build_training_set(experts, self_rollouts, results, prefer=c.prefer,
                                                    expert_wins=wins)
            numbers["states_not_tried"] = sum(len(r.log.get("not_tried", ())) for r in results)  # see EEF's log
            if c.accumulate:
                one_per_state([_tag(t, it) for t in train_set if t.source != "expert"], c.prefer, kept)
                train_set = wins + list(kept.values())
            else:
                train_set = [_tag(t, it) if t.source != "expert" else t for t in train_set]
            init = result["model_dir"] if c.retrain_from == "previous" and result["adapter"] else None
            result = fine_tune(train_set, c.train, exp.path / f"iter{it}" / "train", init_adapter=init)
            roll_sum = rollouts.summary()
            line = {"iteration": it, "rollouts": brief(roll_sum), "selection": numbers,
                    "training_examples": len(train_set), "train": result, "eval": brief(exp.evaluate(it, result))}
            iterations.append(line)
            exp.write_summary(iterations)
            exp.log(f"iter{it}", rollout_win_rate=roll_sum["win_rate"], **{k: numbers[k] for k in (
                "states_tried", "states_solved", "subtasks_newly_solved_by_eef")},
                training_examples=len(train_set))  # what was trained on: with `accumulate`, earlier iterations' too
            _say(exp.console, it, roll_sum, numbers, len(train_set), line["eval"])
        return iterations


def _say(console: Console, it: int, roll: dict, n: dict, examples: int, ev: dict | None) -> None:
    msg = (f"iteration {it}: rollouts solved {roll['subtasks_solved']}/{roll['subtasks']} subtasks; "
           f"states tried {n['states_tried']}, solved {n['states_solved']}; "
           f"new subtasks solved by exploration (not by start-state rollouts): {n['subtasks_newly_solved_by_eef']}; "
           f"training examples {examples}")
    if ev:
        msg += f"; eval win rate {100 * ev['win_rate']:.1f}%"
    console.print(msg)
