"""A tiny third-party plugin: count from 0 up to a target with `inc` / `dec` actions.

Deterministic and instant, so the engine, the run store and the trainers can be tested
without a JVM. The agent optionally emits malformed replies (no "Action:") and mistakes.
"""
from __future__ import annotations

import random
import time

from pydantic import Field

from harness import (Agent, AgentReply, AgentRequest, AgentSpec, Env, EnvCrashed, Oracle, ResetResult,
                     StepResult, Subtask, Task, TaskSpec, register_agent, register_task, register_trainer)
from harness.experiment import Experiment, Trainer, TrainerConfig
from harness.react import format_reply


class CounterConfig(TaskSpec):
    name: str = "counter"
    targets: list[int] = Field(default_factory=lambda: [1, 2, 3, 4])
    max_steps: int = 10
    crash_on: list[str] = Field(default_factory=list, description="subtask ids whose env dies at step 1 (fault tests)")


class CounterEnv(Env):
    def __init__(self, config: CounterConfig):
        self.config = config
        self.x = 0
        self.target = 0
        self.subtask = None

    def reset(self, subtask, *, want_oracle=False):
        self.x, self.target, self.subtask = 0, subtask.data["target"], subtask
        prompt = [{"role": "system", "content": "Reach the target number. Actions: inc, dec."},
                  {"role": "user", "content": f"Target {self.target}. The counter is 0."}]
        oracle = Oracle(actions=["inc"] * self.target, distractors=["dec"]) if want_oracle else None
        return ResetResult(messages=prompt, oracle=oracle)

    def step(self, action):
        if self.subtask.id in self.config.crash_on:
            raise EnvCrashed("counter env crashed (as configured)")
        if action == "inc":
            self.x += 1
        elif action == "dec":
            self.x -= 1
        else:
            return StepResult(observation=f"Unknown action {action!r}. The counter is {self.x}.", reward=0,
                              score=self._score(), done=False, success=False)
        done = self.x == self.target
        return StepResult(observation=f"The counter is {self.x}.", reward=0, score=self._score(), done=done,
                          success=done)

    def _score(self):
        return round(100 * max(0, 1 - abs(self.target - self.x) / max(self.target, 1)))


@register_task("counter")
class CounterTask(Task):
    """Count up to a target (test plugin)."""

    Config = CounterConfig

    def subtasks(self):
        return [Subtask(id=f"t{t}", category="even" if t % 2 == 0 else "odd", data={"target": t})
                for t in self.config.targets]

    def make_env(self):
        return CounterEnv(self.config)

    def max_steps(self, subtask):
        return self.config.max_steps


class CountingConfig(AgentSpec):
    name: str = "counter_agent"
    p_mistake: float = 0.0
    p_malformed: float = 0.0
    seed: int = 0
    delay_s: float = Field(0.0, description="sleep per call: makes runs slow enough to kill mid-way in tests")
    competent_from: int = Field(0, description="below this counter value the agent gives up (says 'dec'): "
                                               "success from a state is then known in advance")


@register_agent("counter_agent")
class CountingAgent(Agent):
    """Reads the counter from the last observation and moves toward the target (test plugin)."""

    Config = CountingConfig

    def act(self, requests: list[AgentRequest]) -> list[AgentReply]:
        if self.config.delay_s:
            time.sleep(self.config.delay_s)
        out = []
        for r in requests:
            rng = random.Random(f"{self.config.seed}:{r.seed}:{r.step}")
            target = int(r.messages[1]["content"].split()[1].rstrip("."))
            last = r.messages[-1]["content"]
            x = int(last.rstrip(".").split()[-1]) if last.rstrip(".").split()[-1].lstrip("-").isdigit() else 0
            if rng.random() < self.config.p_malformed:
                out.append(AgentReply(text="I am not sure what to do."))
                continue
            action = "inc" if x < target else "dec"
            if x < self.config.competent_from:
                action = "dec"
            if rng.random() < self.config.p_mistake:
                action = "dec" if action == "inc" else "inc"
            out.append(AgentReply(text=format_reply(f"The counter is {x}, the target {target}.", action)))
        return out


class ToyTrainerConfig(TrainerConfig):
    name: str = "toy_trainer"


@register_trainer("toy_trainer")
class ToyTrainer(Trainer):
    """Trains nothing: collects the expert pool, then evaluates the rollout agent (test plugin,
    written against the core alone)."""

    Config = ToyTrainerConfig

    def run(self, exp: Experiment) -> list[dict]:
        experts = exp.expert_trajectories()
        untrained = {"model_dir": "", "adapter": False, "base_model": None}
        line = {"iteration": 0, "experts": len(experts), "training_examples": sum(t.success for t in experts),
                "eval": exp.evaluate(0, untrained)}
        exp.write_summary([line])
        return [line]
