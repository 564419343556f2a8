"""SFT: behaviour cloning on the expert's successful trajectories (iteration 0 of RFT and EEF too)."""
from __future__ import annotations

from pydantic import Field

from harness import register_trainer
from harness.errors import HarnessError
from harness.experiment import Experiment, Trainer, TrainerConfig
from harness.trajectory import Trajectory

from .finetune import TrainOptions, fine_tune


class SFTConfig(TrainerConfig):
    name: str = "sft"
    train: TrainOptions = Field(default_factory=TrainOptions)


def brief(summary: dict | None) -> dict | None:
    """The numbers of a run summary that an iteration line shows."""
    if summary is None:
        return None
    return {k: summary[k] for k in ("win_rate", "win_rate_se", "win_rate_ci95", "mean_score", "subtasks",
                                    "subtasks_solved", "episodes")}


def expert_successes(experts: list[Trajectory]) -> list[Trajectory]:
    wins = [t for t in experts if t.status == "ok" and t.success]
    if not wins:
        raise HarnessError("the expert solved no training subtask: nothing to imitate (check the expert or the task)")
    return wins


@register_trainer("sft")
class SFTTrainer(Trainer):
    """Behaviour cloning on expert successes (LoRA by default)."""

    Config = SFTConfig

    def run(self, exp: Experiment) -> list[dict]:
        _, _, _, it0 = sft_iteration(exp, self.config)
        return [it0]


def sft_iteration(exp: Experiment, config: SFTConfig):
    """Iteration 0 of every trainer: imitate the expert's successes, evaluate, record.

    Returns (expert trajectories, their successes, the training result, the iteration's summary)."""
    experts = exp.expert_trajectories()
    wins = expert_successes(exp.cloned_successes(experts))
    result = fine_tune(wins, config.train, exp.path / "iter0" / "train")
    exp.log("iter0/train", **{k: result[k] for k in ("steps", "first_loss", "last_loss", "seconds")})
    it0 = {"iteration": 0, "experts": len(experts), "expert_successes": len(wins), "train": result,
           "eval": brief(exp.evaluate(0, result))}
    exp.write_summary([it0])
    return experts, wins, result, it0
