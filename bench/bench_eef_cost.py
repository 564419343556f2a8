"""EEF exploration cost: one EEF exploration iteration vs RFT x6 with the same number of simulations.

Per failed expert trajectory EEF plays 6 simulations (the start state + M = 5 restarts from expert
states: reset, replay the expert prefix without any generation or valid-action work, then the
agent); RFT x6 plays 6 start-state rollouts of the same subtasks. The agent is a fixed cheap policy
that sends the same actions in both modes, so the figure is the harness + environment cost (with a
real model EEF is cheaper still: replayed turns need no generation). Target: EEF <= 1.15x RFT x6.

    python bench/bench_eef_cost.py [--quick]
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, keep_envs_across_runs, quick_mode, report, timed  # noqa: E402

from harness.agents.scripted import NoisyExpertAgent, NoisyExpertConfig  # noqa: E402
from harness import Agent, AgentReply, AgentSpec  # noqa: E402
from harness.react import format_reply  # noqa: E402
from harness.rollout import EpisodeJob, RolloutEngine  # noqa: E402
from harness.tasks.sciworld import SciWorldConfig, SciWorldTask  # noqa: E402
from harness.trainers.eef_logic import exploration_states  # noqa: E402


class Follower(Agent):
    """Plays its subtask's failed expert trajectory, then looks around until the step limit.

    EEF restarts and RFT rollouts then send the very same actions to the simulator: the ratio is
    the cost of EEF's mechanics (reset, prefix replay and its checks), not of different play.
    """

    def __init__(self, expert_actions: dict[str, list[str]]):
        super().__init__(AgentSpec(name="follower"))
        self.expert_actions = expert_actions

    def act(self, requests):
        replies = []
        for r in requests:
            actions = self.expert_actions[r.episode_id.split("#")[0]]
            action = actions[r.step] if r.step < len(actions) else "look around"
            replies.append(AgentReply(text=format_reply("next", action)))
        return replies


def main() -> None:
    quick = quick_mode()
    per_type = 2 if quick else 4
    reps = 2 if quick else 5
    task = SciWorldTask(SciWorldConfig(task_types=["find-living-thing", "use-thermometer", "boil"],
                                       variations=per_type, split="train", max_steps=30))
    subtasks = {s.id: s for s in task.subtasks()}
    experts = []
    RolloutEngine(task, NoisyExpertAgent(NoisyExpertConfig(p=0.3, seed=1)), num_envs=2).run(
        [EpisodeJob(subtask=s) for s in subtasks.values()], experts.append)
    failed = [t for t in experts if not t.success and len(t.steps) > 1]
    assert failed, "the noisy expert should fail some subtasks"
    M = 5

    def eef_jobs():
        jobs = []
        for t in failed:
            st = subtasks[t.subtask_id]
            jobs.append(EpisodeJob(subtask=st, episode_id=f"{t.id}@0"))
            jobs += [EpisodeJob(subtask=st, prefix=t, prefix_steps=j, episode_id=f"{t.id}@{j}")
                     for j in exploration_states(len(t.steps), M)]
        return jobs

    def rft_jobs():
        return [EpisodeJob(subtask=subtasks[t.subtask_id], sample=i) for t in failed for i in range(M + 1)]

    agent = Follower({t.subtask_id: t.actions for t in failed})
    engine = RolloutEngine(task, agent, num_envs=2)
    close = keep_envs_across_runs(engine)  # both modes run on the same warm JVMs
    engine._env(0), engine._env(1)

    def once(make) -> float:
        out, jobs = [], make()
        dt, _ = timed(lambda: engine.run(jobs, out.append))
        assert len(out) == len(jobs) and all(t.status == "ok" for t in out), [t.error for t in out if t.error]
        return dt

    modes = {"eef": eef_jobs, "rft_x6": rft_jobs}
    raw = interleaved({name: lambda make=make: once(make) for name, make in modes.items()}, reps)
    close()
    rows, times = [], {}
    for name, xs in raw.items():
        times[name] = statistics.median(xs)
        rows.append({"mode": name, "simulations": len(modes[name]()), "median_s": times[name],
                     "raw_s": [round(x, 2) for x in xs]})
    report(f"EEF exploration vs RFT x6 ({len(failed)} failed expert trajectories, M={M})", rows,
           {"eef/rft_x6 wall time": times["eef"] / times["rft_x6"]}, {"eef/rft_x6 wall time": "<= 1.15"})


if __name__ == "__main__":
    main()
