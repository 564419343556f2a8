"""Rollout engine: many episodes at once, one batched agent call per turn, envs stepped in parallel.

Each of ``num_envs`` slots owns one environment and plays one episode at a time. Every turn the
engine gathers the conversations of all live episodes, asks the agent for all their actions in
one call (what lets vLLM or batched transformers generation pay off), then steps the environments
in a thread pool (ScienceWorld's JVM does the work, so threads run in parallel). An agent that
takes requests one by one (``Agent.continuous``: a continuously stepping vLLM engine, a server)
gets each episode's next turn as soon as its env has stepped: no episode waits for a batch. Starting an
episode (reset, prefix replay) runs in the background: live episodes keep stepping meanwhile.
An agent that gains nothing from batches (``Agent.batched = False``: scripted experts, replays)
plays each episode whole in its env's thread, with no hand-off to the main thread per step.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .agent import Agent, AgentReply, AgentRequest
from .task import Env, Oracle, ResetResult, Subtask, Task
from .trajectory import Message, Step, Trajectory

log = logging.getLogger(__name__)


def episode_seed(run_seed: int, episode_id: str) -> int:
    """A seed per episode, independent of batching and of the order episodes run in."""
    return int.from_bytes(hashlib.sha256(f"{run_seed}:{episode_id}".encode()).digest()[:4], "little")


@dataclass
class EpisodeJob:
    subtask: Subtask
    sample: int = 0
    seed: int = 0
    prefix: Trajectory | None = None  # start from this trajectory's state after `prefix_steps` steps
    prefix_steps: int = 0
    source: str | None = None  # lineage override (e.g. "eef"); default: the agent's
    episode_id: str = ""
    attempt: int = 0
    env_errors: list[str] = field(default_factory=list)  # crashes it was retried after

    def __post_init__(self):
        if not self.episode_id:
            self.episode_id = f"{self.subtask.id}#{self.sample}"


class _AgentRaised(Exception):
    """Carries an exception of the agent out of an env thread (it is not an env error: no retry)."""


class ReplayDiverged(RuntimeError):
    """Replaying a stored prefix gave other observations than were stored."""


@dataclass
class _Live:
    job: EpisodeJob
    slot: int
    traj: Trajectory
    max_steps: int
    oracle: Oracle | None
    t0: float = field(default_factory=time.monotonic)
    _chat: list[dict[str, str]] = field(default_factory=list)  # traj.messages as role/content dicts
    _ids: dict[int, list[int]] = field(default_factory=dict)  # message index -> recorded token ids

    @property
    def chat(self) -> list[dict[str, str]]:
        """The conversation for the agent; only messages new since the last turn are converted
        (messages are only ever appended), so a long episode does not pay O(length) per step."""
        for m in self.traj.messages[len(self._chat):]:
            if m.token_ids is not None:
                self._ids[len(self._chat)] = m.token_ids
            self._chat.append({"role": m.role, "content": m.content})
        return list(self._chat)  # the agent's own list: nothing it does reaches the next turn's


class RolloutEngine:
    def __init__(self, task: Task, agent: Agent, *, num_envs: int = 2, max_steps: int | None = None,
                 env_retries: int = 2, make_env: Callable[[], Env] | None = None):
        self.task = task
        self.make_env = make_env or task.make_env  # elsewhere: harness.distributed's Ray env workers
        self.agent = agent
        self.num_envs = num_envs
        self.max_steps_override = max_steps
        self.env_retries = env_retries
        self._envs: list[Env | None] = [None] * num_envs
        self._stop = threading.Event()
        self.env_restarts = 0

    # ------------------------------------------------------------ public

    def run(self, jobs: Iterable[EpisodeJob], on_episode: Callable[[Trajectory], None]) -> None:
        self._stop.clear()
        todo = iter(jobs)  # taken one at a time: a large run never holds its job list
        retries: deque[EpisodeJob] = deque()  # episodes put back after an env error go first
        free = list(range(self.num_envs - 1, -1, -1))
        busy: dict[Future, tuple[int, EpisodeJob | _Live]] = {}  # env work in flight: a start or a step
        asked: dict[Future, _Live] = {}  # replies in flight (continuous agents)
        pool = ThreadPoolExecutor(self.num_envs, thread_name_prefix="env")
        play = self._start if self.agent.batched else self._play_alone
        try:
            while True:
                while free:
                    job = retries.popleft() if retries else next(todo, None)
                    if job is None:
                        break
                    slot = free.pop()
                    busy[pool.submit(play, slot, job)] = (slot, job)
                if not busy and not asked:
                    break
                ready = []
                for f in self._wait(busy, asked):
                    if f in asked:  # a reply: its env steps now
                        ep = asked.pop(f)
                        busy[pool.submit(self._advance, ep, f.result())] = (ep.slot, ep)
                        continue
                    slot, work = busy.pop(f)
                    job = work.job if isinstance(work, _Live) else work
                    exc = f.exception()
                    if isinstance(exc, _AgentRaised):
                        raise exc.__cause__  # an agent bug ends the run, as from a batched call
                    if exc is not None:
                        free.append(slot)
                        if isinstance(work, _Live) or not self.agent.batched:
                            self.agent.episode_done(job.episode_id)
                        self._failed(job, slot, exc, retries, on_episode)
                        continue
                    ep = work if isinstance(work, _Live) else f.result()
                    if self._finished(ep):
                        free.append(slot)
                        self._emit(ep, on_episode)
                    else:
                        ready.append(ep)
                if ready and self.agent.continuous:
                    for ep in ready:
                        asked[self.agent.submit(self._request(ep))] = ep
                elif ready:  # one batched agent call for every ready episode, then their steps in parallel
                    for ep, reply in zip(ready, self._ask(ready)):
                        busy[pool.submit(self._advance, ep, reply)] = (ep.slot, ep)
        finally:
            self._stop.set()  # episodes played whole in env threads end at their next step
            pool.shutdown(wait=True, cancel_futures=True)  # running work ends before its env closes
            self.close()

    def _wait(self, busy: dict[Future, tuple[int, EpisodeJob | _Live]], asked: dict[Future, _Live]) -> list[Future]:
        """The env work (and replies) to collect before the next agent call.

        A continuous agent: whatever finished first, env work or a reply.
        A batching agent (a model) gets every live episode in one call: all steps in flight are
        awaited (milliseconds). Starts are never awaited while an episode is live (a ScienceWorld
        reset, or an EEF prefix replay, takes up to a second; a new episode joins the next turn),
        and with none live the first start to finish goes ahead alone.
        Other agents (scripted experts) play whole episodes in the env threads: any that ended.
        """
        if self.agent.continuous:
            wait([*busy, *asked], return_when=FIRST_COMPLETED)
            return [f for f in (*asked, *busy) if f.done()]
        steps = [f for f, (_, work) in busy.items() if isinstance(work, _Live)] if self.agent.batched else []
        if steps:
            wait(steps)
        else:
            wait(busy, return_when=FIRST_COMPLETED)
        return [f for f in busy if f.done()]  # in submission order (a set from wait() has none)

    def close(self) -> None:
        for i, env in enumerate(self._envs):
            if env is not None:
                try:
                    env.close()
                except Exception:  # closing a dead env must not mask the real error
                    log.debug("env close failed", exc_info=True)
                self._envs[i] = None

    # ------------------------------------------------------------ episode lifecycle

    def _env(self, slot: int) -> Env:
        if self._envs[slot] is None:
            self._envs[slot] = self.make_env()
        return self._envs[slot]

    def _start(self, slot: int, job: EpisodeJob) -> _Live:
        env = self._env(slot)
        reset = env.reset(job.subtask, want_oracle=self.agent.needs_oracle)
        limit = self.max_steps_override or self.task.max_steps(job.subtask)
        traj = Trajectory(
            id=job.episode_id, task=self.task.registered_name, subtask_id=job.subtask.id,
            category=job.subtask.category, sample=job.sample, agent=self.agent.registered_name,
            source=job.source or self.agent.source, seed=job.seed,
            parent=job.prefix.id if job.prefix is not None else None, prefix_steps=job.prefix_steps,
            env_errors=list(job.env_errors),
        )
        ep = _Live(job=job, slot=slot, traj=traj, max_steps=limit, oracle=reset.oracle)
        if job.prefix is None:
            traj.messages = [Message(role=m["role"], content=m["content"]) for m in reset.messages]
            traj.prompt_len = len(traj.messages)
        else:
            self._replay_prefix(env, ep, reset, job.prefix, job.prefix_steps)
        return ep

    def _play_alone(self, slot: int, job: EpisodeJob) -> _Live:
        """A whole episode in the env's thread (unbatched agents: act() is called from here)."""
        ep = self._start(slot, job)
        while not self._finished(ep):
            if self._stop.is_set():
                raise RuntimeError("the run stopped")
            try:
                (reply,) = self._ask([ep])
            except Exception as exc:
                raise _AgentRaised() from exc
            self._advance(ep, reply)
        return ep

    def _replay_prefix(self, env: Env, ep: _Live, reset: ResetResult, prefix: Trajectory, k: int) -> None:
        """Re-enter the state after ``k`` stored steps; the stored messages stay as (untrained) context.

        Anything that does not reproduce (the reset prompt, an observation, an early end) raises
        ReplayDiverged: the episode is recorded as not tried, never retried.
        """
        if k > len(prefix.steps):
            raise ReplayDiverged(f"prefix {prefix.id} has {len(prefix.steps)} steps, asked to replay {k}")
        stored_prompt = [(m.role, m.content) for m in prefix.messages[: prefix.prompt_len]]
        if stored_prompt != [(m["role"], m["content"]) for m in reset.messages]:
            raise ReplayDiverged(f"replaying {prefix.id}: the reset prompt differs from the stored one "
                                 "(another prompt template, task option or environment version?)")
        traj = ep.traj
        traj.messages = [m.model_copy(update={"train": False}) for m in prefix.messages_until(k)]
        traj.prompt_len = prefix.prompt_len
        before: tuple[str, str] | None = None  # (stored, replayed) observation the action answers
        for i, stored in enumerate(prefix.steps[:k]):
            if stored.action is None:
                traj.steps.append(stored.model_copy())
                continue
            action = stored.action if before is None else env.replay_action(stored.action, *before)
            res = env.step(action)
            if not env.same_observation(stored.observation, res.observation):
                raise ReplayDiverged(
                    f"replaying {prefix.id} step {i} ({stored.action!r}): stored observation "
                    f"{stored.observation[:80]!r}, got {res.observation[:80]!r}")
            before = (stored.observation, res.observation)
            traj.steps.append(Step(action=action, observation=res.observation,
                                   reward=res.reward, score=res.score))
            traj.score, traj.success, traj.done = res.score, res.success, res.done
            if res.done and i < k - 1:
                raise ReplayDiverged(f"replaying {prefix.id}: the episode ended at step {i}, before step {k}")

    def _ask(self, eps: list[_Live]) -> list[AgentReply]:
        """One agent call for these episodes' next turns, a reply per episode."""
        replies = self.agent.act([self._request(ep) for ep in eps])
        if len(replies) != len(eps):
            raise RuntimeError(f"agent returned {len(replies)} replies for {len(eps)} requests")
        return replies

    def _request(self, ep: _Live) -> AgentRequest:
        return AgentRequest(episode_id=ep.job.episode_id, messages=ep.chat, seed=ep.job.seed,
                            step=len(ep.traj.steps), oracle=ep.oracle, token_ids=dict(ep._ids))

    def _advance(self, ep: _Live, reply: AgentReply) -> None:
        traj = ep.traj
        traj.usage.add(reply.usage)
        if reply.error is not None:
            traj.status, traj.error = "error", f"agent: {reply.error}"
            return
        traj.messages.append(Message(role="assistant", content=reply.text, train=True, token_ids=reply.token_ids,
                                     prompt_tokens=reply.prompt_tokens))
        action = self.task.parse_action(reply.text)
        env = self._envs[ep.slot]
        if action is None:  # malformed output: an observation, and the step counts
            step = Step(action=None, observation=self.task.invalid_format_message, score=traj.score)
            traj.messages.append(Message(role="user", content=env.format_observation(step.observation)))
            traj.steps.append(step)
            return
        res = env.step(action)
        traj.steps.append(Step(action=action, observation=res.observation, reward=res.reward, score=res.score))
        traj.messages.append(Message(role="user", content=env.format_observation(res.observation)))
        traj.score, traj.success, traj.done = res.score, res.success, res.done

    @staticmethod
    def _finished(ep: _Live) -> bool:
        t = ep.traj
        return t.status == "error" or t.done or len(t.steps) >= ep.max_steps

    def _emit(self, ep: _Live, on_episode) -> None:
        ep.traj.elapsed_s = round(time.monotonic() - ep.t0, 3)
        self.agent.episode_done(ep.job.episode_id)
        on_episode(ep.traj)

    def _failed(self, job: EpisodeJob, slot: int, exc: BaseException, retries: deque, on_episode) -> None:
        """An env error: restart the env; retry the episode (bounded), then record it as errored."""
        env = self._envs[slot]
        self._envs[slot] = None
        if env is not None:
            try:
                env.close()
            except Exception:
                log.debug("closing a failed env", exc_info=True)
        self.env_restarts += 1
        diverged = isinstance(exc, ReplayDiverged)  # deterministic: another try replays the same
        if not diverged and job.attempt < self.env_retries:
            log.warning("episode %s: environment error (%s); retrying on a fresh env", job.episode_id, exc)
            job.attempt += 1
            job.env_errors.append(f"{type(exc).__name__}: {exc}")
            retries.append(job)
            return
        traj = Trajectory(id=job.episode_id, task=self.task.registered_name, subtask_id=job.subtask.id,
                          category=job.subtask.category, sample=job.sample, agent=self.agent.registered_name,
                          status="not_tried" if diverged else "error", error=f"{type(exc).__name__}: {exc}",
                          seed=job.seed,
                          env_errors=list(job.env_errors),
                          source=job.source or self.agent.source,
                          parent=job.prefix.id if job.prefix is not None else None,
                          prefix_steps=job.prefix_steps)
        on_episode(traj)
