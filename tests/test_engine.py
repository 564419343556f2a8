"""The rollout engine on the toy counter task: batching, invalid output, crashes, prefixes."""
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
        self.batch_sizes = []

    def act(self, requests):
        self.batch_sizes.append(len(requests))
        return super().act(requests)


def test_all_live_episodes_share_one_agent_call():
    task = CounterTask(CounterConfig(targets=[3]))
    agent = RecordingAgent(CountingConfig())
    out = play(task, agent, jobs_for(task, samples=4), num_envs=4)
    assert len(out) == 4 and all(t.success for t in out.values())
    assert agent.batch_sizes == [4, 4, 4]  # three turns, each one call for all four episodes


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


def test_prefix_that_no_longer_matches_is_an_error_not_retried():
    task = CounterTask(CounterConfig(targets=[2]))
    parent = play(task, CountingAgent(CountingConfig()), jobs_for(task))["t2#0"]
    tampered = parent.model_copy(deep=True)
    tampered.steps[0].observation = "The counter is 99."
    job = EpisodeJob(subtask=task.subtasks()[0], prefix=tampered, prefix_steps=2)
    engine = RolloutEngine(task, CountingAgent(CountingConfig()), num_envs=1)
    out = []
    engine.run([job], out.append)
    assert out[0].status == "error" and "ReplayDiverged" in out[0].error and engine.env_restarts == 1


def test_registry_lookup_by_name_and_reference():
    assert registry.lookup("task", "counter") is CounterTask
    assert registry.lookup("task", "harness_toy:CounterTask") is CounterTask
    with pytest.raises(Exception, match="did you mean 'counter_agent'"):
        registry.lookup("agent", "counter_agnt")
