"""The rollout engine on the toy counter task: batching, invalid output, crashes, prefixes."""
import time

import pytest

from harness import Agent, AgentReply, registry
from harness.rollout import EpisodeJob, RolloutEngine
from harness_toy import CounterConfig, CounterTask, CountingAgent, CountingConfig


def play(task, agent, jobs, **kw):
    out = []
    RolloutEngine(task, agent, **kw).run(jobs, out.append)
    return {t.id: t for t in out}


def jobs_for(task, samples=1):
    return [EpisodeJob(subtask=st, sample=i, seed=i) for st in task.subtasks() for i in range(samples)]


class RecordingAgent(CountingAgent):
    def __init__(self, config):
        super().__init__(config)
        self.calls = []

    def act(self, requests):
        self.calls.append([r.episode_id for r in requests])
        return super().act(requests)


def test_all_live_episodes_share_one_agent_call():
    task = CounterTask(CounterConfig(targets=[8]))
    agent = RecordingAgent(CountingConfig())
    out = play(task, agent, jobs_for(task, samples=4), num_envs=4)
    assert len(out) == 4 and all(t.success for t in out.values())
    assert sum(map(len, agent.calls)) == 4 * 8  # one request per step
    for ep in out:  # from its first call to its last, a live episode is in every call
        seen = [i for i, ids in enumerate(agent.calls) if ep in ids]
        assert seen == list(range(seen[0], seen[-1] + 1))
    assert max(map(len, agent.calls)) == 4  # resets are instant here: all four soon share calls


def test_trajectory_records_messages_steps_and_flags():
    task = CounterTask(CounterConfig(targets=[2]))
    t = play(task, CountingAgent(CountingConfig()), jobs_for(task), num_envs=1)["t2#0"]
    assert t.success and t.done and t.score == 100 and t.status == "ok"
    assert t.actions == ["inc", "inc"]
    assert [m.role for m in t.messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m.train for m in t.messages] == [False, False, True, False, True, False]
    assert t.prompt_len == 2 and t.messages[t.assistant_index(1)].content.endswith("Action: inc")


def test_malformed_output_is_an_invalid_format_observation_and_the_episode_goes_on():
    task = CounterTask(CounterConfig(targets=[3], max_steps=30))
    agent = CountingAgent(CountingConfig(p_malformed=0.5, seed=3))
    t = play(task, agent, jobs_for(task), num_envs=1)["t3#0"]
    invalid = [s for s in t.steps if s.action is None]
    assert invalid, "the seed should produce malformed replies"
    assert all(s.observation == task.invalid_format_message for s in invalid)
    assert t.success and len(t.steps) == 3 + len(invalid)  # invalid steps count against the limit


def test_step_limit_ends_episode_without_success():
    task = CounterTask(CounterConfig(targets=[5], max_steps=3))
    t = play(task, CountingAgent(CountingConfig()), jobs_for(task), num_envs=1)["t5#0"]
    assert len(t.steps) == 3 and not t.success and not t.done and t.status == "ok"


def test_env_crash_is_retried_then_recorded_as_error_without_hurting_others():
    task = CounterTask(CounterConfig(targets=[1, 2, 3], crash_on=["t2"]))
    engine = RolloutEngine(task, CountingAgent(CountingConfig()), num_envs=2, env_retries=2)
    out = []
    engine.run(jobs_for(task), out.append)
    by_id = {t.id: t for t in out}
    assert len(out) == 3
    assert by_id["t2#0"].status == "error" and "crashed" in by_id["t2#0"].error
    assert by_id["t1#0"].success and by_id["t3#0"].success
    assert engine.env_restarts == 3  # first try + 2 retries, each on a fresh env
    assert len(by_id["t2#0"].env_errors) == 2 and not by_id["t1#0"].env_errors


def test_agent_error_is_recorded_as_errored_episode():
    class Failing(Agent):
        def act(self, requests):
            return [AgentReply(text="", error="HTTP 500 after 3 retries") for _ in requests]

    task = CounterTask(CounterConfig(targets=[1]))
    t = play(task, Failing(CountingConfig()), jobs_for(task))["t1#0"]
    assert t.status == "error" and "HTTP 500" in t.error


def test_prefix_replay_reproduces_stored_observations_and_hands_over():
    task = CounterTask(CounterConfig(targets=[4], max_steps=20))
    noisy = CountingAgent(CountingConfig(p_mistake=0.4, seed=1))
    parent = play(task, noisy, jobs_for(task), num_envs=1)["t4#0"]
    assert "dec" in parent.actions  # the seed gives a trajectory with mistakes
    k = 3
    job = EpisodeJob(subtask=task.subtasks()[0], prefix=parent, prefix_steps=k, episode_id="t4#0@3", source="eef")
    child = play(task, CountingAgent(CountingConfig()), [job], num_envs=1)["t4#0@3"]
    assert child.steps[:k] == parent.steps[:k]
    assert child.messages[: child.assistant_index(k)] == [m.model_copy(update={"train": False})
                                                          for m in parent.messages_until(k)]
    assert not any(m.train for m in child.messages[: child.assistant_index(k)])
    assert all(m.train for m in child.messages[child.assistant_index(k):] if m.role == "assistant")
    assert child.success and child.parent == parent.id and child.prefix_steps == k and child.source == "eef"


def test_prefix_that_no_longer_matches_is_not_tried_and_not_retried():
    task = CounterTask(CounterConfig(targets=[2]))
    parent = play(task, CountingAgent(CountingConfig()), jobs_for(task))["t2#0"]
    tampered = parent.model_copy(deep=True)
    tampered.steps[0].observation = "The counter is 99."
    job = EpisodeJob(subtask=task.subtasks()[0], prefix=tampered, prefix_steps=2)
    engine = RolloutEngine(task, CountingAgent(CountingConfig()), num_envs=1)
    out = []
    engine.run([job], out.append)
    assert out[0].status == "not_tried" and "ReplayDiverged" in out[0].error and engine.env_restarts == 1
    assert out[0].env_errors == []  # deterministic: never retried


def test_prefix_whose_reset_prompt_changed_is_not_tried():
    task = CounterTask(CounterConfig(targets=[3]))
    parent = play(task, CountingAgent(CountingConfig()), jobs_for(task))["t3#0"]
    tampered = parent.model_copy(deep=True)
    tampered.messages[0].content = "An older prompt template."  # steps and observations still match
    job = EpisodeJob(subtask=task.subtasks()[0], prefix=tampered, prefix_steps=1)
    (child,) = play(task, CountingAgent(CountingConfig()), [job], num_envs=1).values()
    assert child.status == "not_tried" and "reset prompt differs" in child.error


def test_registry_lookup_by_name_and_reference():
    assert registry.lookup("task", "counter") is CounterTask
    assert registry.lookup("task", "harness_toy:CounterTask") is CounterTask
    with pytest.raises(Exception, match="did you mean 'counter_agent'"):
        registry.lookup("agent", "counter_agnt")


class _Gate:
    """An env action that blocks until another episode has finished (bounded, so a bug fails, not hangs)."""

    def __init__(self):
        import threading
        self.event = threading.Event()

    def wait(self, what):
        if not self.event.wait(timeout=20):
            raise RuntimeError(f"{what} was held up until the other episode could not finish")


class _GatedTask(CounterTask):
    """t9 waits (in its reset, or in its first step) until t5 has reached its target."""

    def __init__(self, config, gate_in):
        super().__init__(config)
        self.gate, self.gate_in = _Gate(), gate_in

    def make_env(self):
        task, env = self, super().make_env()
        reset, step = env.reset, env.step

        def gated_reset(subtask, **kw):
            if subtask.id == "t9" and task.gate_in == "reset":
                task.gate.wait("the live episode")
            return reset(subtask, **kw)

        def gated_step(action):
            if env.subtask.id == "t9" and task.gate_in == "step":
                task.gate.wait("the other episode")
            res = step(action)
            if env.subtask.id == "t5" and res.done:
                task.gate.event.set()
            return res
        env.reset, env.step = gated_reset, gated_step
        return env


class _Unbatched(CountingAgent):
    batched = False


@pytest.mark.parametrize("agent_cls", [CountingAgent, _Unbatched])
def test_a_slow_start_does_not_hold_up_live_episodes(agent_cls):
    # t1 ends after one step; t9 then starts in its slot, and its reset returns only once t5 has
    # stepped to its target: an engine that waited for starts before stepping would deadlock
    task = _GatedTask(CounterConfig(targets=[1, 5, 9], max_steps=12), gate_in="reset")
    out = play(task, agent_cls(CountingConfig()), jobs_for(task), num_envs=2)
    assert all(t.status == "ok" and t.success for t in out.values()), {k: t.error for k, t in out.items()}


def test_an_unbatched_agent_never_waits_for_other_episodes():
    # t9's first step returns only once t5 has finished: fine when each episode goes on its own
    task = _GatedTask(CounterConfig(targets=[5, 9], max_steps=12), gate_in="step")
    out = play(task, _Unbatched(CountingConfig()), jobs_for(task), num_envs=2)
    assert all(t.status == "ok" and t.success for t in out.values()), {k: t.error for k, t in out.items()}


def test_callable_distractors_are_computed_once_and_only_for_experts_that_use_them():
    from harness.agents.scripted import ExpertAgent, ExpertConfig, NoisyExpertAgent, NoisyExpertConfig
    from harness.task import Oracle
    calls = []

    class LazyTask(CounterTask):
        def make_env(self):
            env = super().make_env()
            reset = env.reset

            def lazy_reset(subtask, **kw):
                res = reset(subtask, **kw)
                if res.oracle is not None:
                    res.oracle = Oracle(res.oracle.actions, distractors=lambda: calls.append(subtask.id) or ["dec"])
                return res
            env.reset = lazy_reset
            return env

    task = LazyTask(CounterConfig(targets=[3, 4]))
    assert all(t.success for t in play(task, ExpertAgent(ExpertConfig()), jobs_for(task)).values())
    assert calls == []
    out = play(task, NoisyExpertAgent(NoisyExpertConfig(p=1.0, seed=0)), jobs_for(task))
    assert sorted(calls) == ["t3", "t4"]  # once per episode, however many steps used them
    assert all(len(t.steps) > 1 and "dec" in t.actions for t in out.values())


def test_jobs_are_taken_as_slots_free_up_not_all_at_once():
    """A run of many episodes must not hold its job list: the engine pulls jobs from an iterator."""
    task = CounterTask(CounterConfig(targets=[2]))
    taken, out = [], []

    def jobs():
        for i in range(50):
            taken.append(i)
            yield EpisodeJob(subtask=task.subtasks()[0], sample=i)

    def record(t):
        out.append((len(taken), t))

    RolloutEngine(task, CountingAgent(CountingConfig()), num_envs=2).run(jobs(), record)
    assert len(out) == 50 and all(t.success for _, t in out)
    assert out[0][0] <= 3  # when the first episode ended, at most one job beyond the two slots was made


def test_an_unbatched_agent_that_raises_ends_the_run_with_its_error_not_an_env_retry():
    class Broken(_Unbatched):
        def act(self, requests):
            raise ValueError("bug in the agent")

    task = CounterTask(CounterConfig(targets=[3, 4]))
    engine = RolloutEngine(task, Broken(CountingConfig()), num_envs=2, env_retries=2)
    with pytest.raises(ValueError, match="bug in the agent"):
        engine.run(jobs_for(task), lambda t: None)
    assert engine.env_restarts == 0


@pytest.mark.timeout(60)  # without the stop the long episode plays for hours
def test_episodes_played_in_env_threads_stop_when_the_run_stops():
    # t200 ends after 200 steps and its record fails to be written; t10000000 would take hours
    calls = []

    class Counting(_Unbatched):
        def act(self, requests):
            calls.append(1)
            return super().act(requests)

    task = CounterTask(CounterConfig(targets=[200, 10 ** 7], max_steps=10 ** 7))

    def record(t):
        # the long episode may start only after t200 ended on a busy machine: wait until it plays
        deadline = time.monotonic() + 30
        while len(calls) <= 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        RolloutEngine(task, Counting(CountingConfig()), num_envs=2).run(jobs_for(task), record)
    assert 300 < len(calls) < 10 ** 5  # both played; the long one stopped at its next step


@pytest.mark.parametrize("batched", [True, False])
def test_an_agent_that_drops_a_reply_ends_the_run(batched):
    class Silent(CountingAgent):
        def act(self, requests):
            return super().act(requests)[1:]

    Silent.batched = batched
    task = CounterTask(CounterConfig(targets=[3]))
    with pytest.raises(RuntimeError, match="agent returned 0 replies for 1 requests"):
        RolloutEngine(task, Silent(CountingConfig()), num_envs=1).run(jobs_for(task), lambda t: None)


class _Continuous(CountingAgent):
    """Takes requests one by one; t9's first reply comes only once t5 has had its last one."""
    continuous = True

    def __init__(self, config):
        super().__init__(config)
        from concurrent.futures import ThreadPoolExecutor
        self.pool, self.gate = ThreadPoolExecutor(4), _Gate()
        self.order = []

    def submit(self, request):
        def answer():
            if request.episode_id.startswith("t9") and request.step == 0:
                self.gate.wait("t5's last reply")
            (reply,) = self.act([request])
            self.order.append((request.episode_id, request.step))
            if request.episode_id.startswith("t5") and request.step == 4:
                self.gate.event.set()
            return reply
        return self.pool.submit(answer)


def test_a_continuous_agent_gets_each_request_as_soon_as_its_env_has_stepped():
    # with one batched call per turn, t5 would wait for t9's first reply, which waits for t5: deadlock
    task = CounterTask(CounterConfig(targets=[5, 9], max_steps=12))
    agent = _Continuous(CountingConfig())
    out = play(task, agent, jobs_for(task), num_envs=2)
    assert all(t.status == "ok" and t.success for t in out.values()), {k: t.error for k, t in out.items()}
    assert agent.order.index(("t5#0", 4)) < agent.order.index(("t9#0", 0))
    batched = play(task, CountingAgent(CountingConfig()), jobs_for(task), num_envs=2)
    assert {k: (t.actions, t.score) for k, t in out.items()} == {k: (t.actions, t.score) for k, t in batched.items()}
