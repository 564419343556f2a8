"""EEF — Exploring Expert Failures (Lan et al., 2025): RFT plus restarts from states of failed
expert trajectories, keeping the beneficial expert segments and masking the harmful ones.

Per iteration and failed expert trajectory (and successful one, with `explore_successes`): the
current model restarts from M evenly spaced expert states (`exploration_states`), one rollout
each; `eef_logic.analyze` labels the segments, finds recovery states, chains solutions backwards
and builds the training examples; `eef_logic.mark_duplicate_examples` notes which examples of one
state (s_0 is every expert's of a subtask) another replaces. Every decision is appended to
`iterK/eef_log.jsonl`.
"""
from __future__ import annotations

import json

from pydantic import Field

from harness import register_trainer, registry
from harness.rollout import EpisodeJob, episode_seed

from .eef_logic import analyze, exploration_states, mark_duplicate_examples, outcomes_for
from .rft import RFTConfig, RFTTrainer


class EEFConfig(RFTConfig):
    name: str = "eef"
    M: int = Field(5, ge=1, description="intermediate states explored per failed expert trajectory")
    explore_temperature: float | None = Field(None, ge=0.0, description="default: the rollout temperature")
    explore_successes: bool = Field(False, description="also explore successful expert trajectories (an ablation)")


@register_trainer("eef")
class EEFTrainer(RFTTrainer):
    """RFT plus exploration from intermediate states of failed expert trajectories."""

    Config = EEFConfig

    def explore(self, exp, it, experts, self_rollouts, agent):
        c = self.config
        explored = [t for t in experts if t.status == "ok" and (c.explore_successes or not t.success)
                    and len(t.steps) > 1]
        if not explored:
            return []
        task = registry.create("task", exp.spec.task)
        try:
            subtasks = {s.id: s for s in task.subtasks()}
        finally:
            task.close()
        jobs = []
        for t in explored:
            for j in exploration_states(len(t.steps), c.M):
                eid = f"{t.id}@{j}"
                jobs.append(EpisodeJob(subtask=subtasks[t.subtask_id], prefix=t, prefix_steps=j, episode_id=eid,
                                       source="eef", seed=episode_seed(exp.spec.run.seed + it, eid)))
        explore_agent = dict(agent)
        if c.explore_temperature is not None:
            explore_agent["temperature"] = c.explore_temperature
        store = exp.run_stage(f"iter{it}/explore", exp.spec.task, explore_agent, jobs=jobs, allow_errors=True)
        children = list(store.latest().values())
        not_tried: dict[str, list[dict]] = {}  # a restart that did not replay, or errored, says nothing
        for ch in children:
            if ch.status != "ok":
                not_tried.setdefault(ch.parent, []).append({"state": ch.prefix_steps, "why": ch.error})
        results = []
        for t in explored:
            r = analyze(t, outcomes_for(t, self_rollouts + children), prefer=c.prefer)
            r.log["not_tried"] = sorted(not_tried.get(t.id, []), key=lambda x: x["state"])
            results.append(r)
        mark_duplicate_examples(results, c.prefer)
        with open(exp.path / f"iter{it}" / "eef_log.jsonl", "w") as fh:
            fh.writelines(json.dumps(r.log) + "\n" for r in results)
        if not_tried:
            exp.console.print(f"[yellow]iter{it}/explore: {sum(map(len, not_tried.values()))} restarts not tried "
                              f"(see iter{it}/eef_log.jsonl)[/]")
        return results
