"""`harness train`: run a trainer spec end to end in one experiment directory."""
from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("spec_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("-T", "--task", "task_over", multiple=True, metavar="KEY=VALUE", help="override a training-task option")
@click.option("-E", "--eval-task", "eval_over", multiple=True, metavar="KEY=VALUE", help="override an eval-task option")
@click.option("-X", "--expert", "expert_over", multiple=True, metavar="KEY=VALUE", help="override an expert-agent option")
@click.option("-O", "--trainer", "trainer_over", multiple=True, metavar="KEY=VALUE", help="override a trainer option (e.g. train.epochs=1)")
@click.option("-R", "--run", "run_over", multiple=True, metavar="KEY=VALUE", help="override a run option")
def train(spec_file, task_over, eval_over, expert_over, trainer_over, run_over):
    """Expert collection -> SFT/RFT/EEF iterations -> evaluation, resumable stage by stage.

    Running the same command again after a crash continues where it stopped.
    """
    from rich.console import Console

    from .experiment import Experiment, load_experiment_spec, lookup_trainer

    console = Console(stderr=True)
    spec = load_experiment_spec(spec_file, task=task_over, eval_task=eval_over, expert=expert_over,
                                trainer=trainer_over, run=run_over)
    trainer = lookup_trainer(spec.trainer.name)(spec.trainer)
    exp = Experiment(spec, console=console)
    trainer.run(exp)
    console.print(f"experiment finished: {exp.path}  (harness leaderboard {exp.path})")
