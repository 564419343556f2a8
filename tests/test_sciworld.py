"""ScienceWorld through the real `scienceworld` package (starts JVMs; ~1 min in all)."""
import json
import random

import pytest

from harness import Agent, AgentReply
from harness.rollout import EpisodeJob, RolloutEngine
from harness.specs import load_run_spec
from harness.run import execute
from harness.runstore import RunStore

pytest.importorskip("scienceworld")

from harness.agents.scripted import ExpertAgent, ExpertConfig, NoisyExpertAgent, NoisyExpertConfig  # noqa: E402
from harness.tasks.sciworld import SciWorldConfig, SciWorldTask  # noqa: E402
from harness.tasks.sciworld.task import SciWorldEnv, baseline_task_types  # noqa: E402
from conftest import SHARED  # noqa: E402


def play(task, agent, jobs, num_envs=2):
    out = []
    RolloutEngine(task, agent, num_envs=num_envs).run(jobs, out.append)
    return {t.id: t for t in out}


def test_gold_expert_scores_100_on_sampled_subtasks_of_several_types():
    rng = random.Random(7)
    types = rng.sample(baseline_task_types(), 6)
    # gold paths of the freezing/boiling tasks wait a variable number of steps: no step limit here
    task = SciWorldTask(SciWorldConfig(task_types=types, split="dev", max_steps=1000))
    by_type = {}
    for st in task.subtasks():
        by_type.setdefault(st.category, []).append(st)
    picked = [rng.choice(sts) for sts in by_type.values()]
    out = play(task, ExpertAgent(ExpertConfig()), [EpisodeJob(subtask=st) for st in picked])
    assert len(out) == 6
    for t in out.values():
        assert t.status == "ok", t.error
        assert t.score == 100 and t.success and t.done, (t.subtask_id, t.score, t.actions[-3:])


def test_prefix_replay_reproduces_stored_observations():
    task = SciWorldTask(SciWorldConfig(task_types=["use-thermometer"], variations=1))
    st = task.subtasks()[0]
    parent = play(task, NoisyExpertAgent(NoisyExpertConfig(p=0.3, seed=1)), [EpisodeJob(subtask=st)])[f"{st.id}#0"]
    k = len(parent.steps) // 2
    job = EpisodeJob(subtask=st, prefix=parent, prefix_steps=k, episode_id=f"{st.id}#0@{k}")
    child = play(task, ExpertAgent(ExpertConfig()), [job], num_envs=1)[job.episode_id]
    assert child.status == "ok", child.error  # any mismatch would have been a ReplayDiverged error
    assert [s.observation for s in child.steps[:k]] == [s.observation for s in parent.steps[:k]]
    assert child.messages[: child.assistant_index(k)] == [m.model_copy(update={"train": False})
                                                          for m in parent.messages_until(k)]


class _Scripted(Agent):
    """Emits the given replies in order, then 'look around'."""

    def __init__(self, replies):
        super().__init__(ExpertConfig())
        self.replies = replies

    def act(self, requests):
        return [AgentReply(text=self.replies[r.step] if r.step < len(self.replies)
                           else "Thought: x\nAction: look around")
                for r in requests]


def test_malformed_output_and_unknown_action_do_not_end_the_episode():
    task = SciWorldTask(SciWorldConfig(task_types=["find-living-thing"], variations=1, max_steps=4))
    st = task.subtasks()[0]
    agent = _Scripted(["I think I will look.", "Thought: go\nAction: fly to the moon",
                       "Thought: ok\nAction: look around"])
    t = play(task, agent, [EpisodeJob(subtask=st)], num_envs=1)[f"{st.id}#0"]
    assert t.status == "ok" and len(t.steps) == 4
    assert t.steps[0].action is None and "Invalid format" in t.steps[0].observation
    assert t.steps[1].action == "fly to the moon" and "No known action" in t.steps[1].observation
    assert t.steps[2].observation.startswith("This room is called")


class _KillOnce(Agent):
    """Gold path; kills its own env's JVM once, mid-episode, to test recovery."""

    needs_oracle = True

    def __init__(self, engine_ref, victim):
        super().__init__(ExpertConfig())
        self.inner = ExpertAgent(ExpertConfig())
        self.engine_ref, self.victim, self.killed = engine_ref, victim, False

    def act(self, requests):
        for r in requests:
            if r.episode_id == self.victim and r.step == 2 and not self.killed:
                for env in self.engine_ref[0]._envs:
                    if env is not None and env.current == r.episode_id.split("#")[0]:
                        env.sim.proc.kill()
                        env.sim.proc.wait()
                self.killed = True
        return self.inner.act(requests)

    def episode_done(self, episode_id):
        self.inner.episode_done(episode_id)


def test_killed_jvm_mid_episode_is_retried_on_a_fresh_env_others_unaffected():
    task = SciWorldTask(SciWorldConfig(task_types=["find-living-thing"], variations=3))
    sts = task.subtasks()
    ref = [None]
    victim = f"{sts[1].id}#0"
    agent = _KillOnce(ref, victim)
    engine = RolloutEngine(task, agent, num_envs=2, env_retries=1)
    ref[0] = engine
    out = []
    engine.run([EpisodeJob(subtask=st) for st in sts], out.append)
    assert agent.killed and engine.env_restarts == 1
    assert len(out) == 3 and all(t.status == "ok" and t.success for t in out), [(t.id, t.error) for t in out]
    by_id = {t.id: t for t in out}
    assert len(by_id[victim].env_errors) == 1 and "EnvCrashed" in by_id[victim].env_errors[0]  # recorded
    assert all(not t.env_errors for i, t in by_id.items() if i != victim)


def test_eto_split_and_step_limit_files(tmp_path):
    split = SHARED / "data" / "eto-sciworld-splits" / "test_indices.json"
    steps = SHARED / "data" / "eto-sciworld-splits" / "max_steps.json"
    if not split.is_file():
        pytest.skip("shared ETO split files not present")
    task = SciWorldTask(SciWorldConfig(split_file=split, max_steps_file=steps))
    subs = task.subtasks()
    rows = json.loads(split.read_text())
    assert len(subs) == len(rows) == 211  # the "unseen" test set of the published baselines
    assert len({s.category for s in subs}) == 24
    boil = next(s for s in subs if s.category == "boil")
    assert task.max_steps(boil) == json.loads(steps.read_text())["task-1-boil"]
    find = next(s for s in subs if s.category == "find-animal")
    assert task.max_steps(find) == json.loads(steps.read_text())["task-3-find-animal"]


def test_harness_run_default_spec_end_to_end(tmp_path):
    from harness.defaults import DEFAULT_RUN
    spec = load_run_spec(None, defaults=DEFAULT_RUN, task=["variations=1"],
                         run=[f"out_dir={tmp_path}", "name=d", "progress=false"])
    store = execute(spec)
    s = store.summary()
    assert s["complete"] and s["episodes"] == 4 and set(s["categories"]) == set(DEFAULT_RUN["task"]["task_types"])
    assert len(list(RunStore.open(tmp_path / "d").iter_episodes())) == 4


def test_ambiguous_request_options_may_come_in_another_order_on_replay():
    """ScienceWorld lists the candidates of an ambiguous action in a run-dependent order."""
    a = ("Ambiguous request: Please enter the number for the action you intended (or blank to cancel):\n"
         "0:\tgo to door to hallway\n1:\tgo to door to kitchen")
    b = ("Ambiguous request: Please enter the number for the action you intended (or blank to cancel):\n"
         "0:\tgo to door to kitchen\n1:\tgo to door to hallway")
    same = SciWorldEnv.same_observation
    assert same(None, a, b) and same(None, a, a)
    assert not same(None, a, a.replace("kitchen", "bathroom"))
    assert not same(None, "You move to the kitchen.", "You move to the hallway.")


def test_observations_match_the_packages_own_env_without_its_reset():
    """We skip the package's reset() (it reloads the world); what the agent sees must not change."""
    from scienceworld import ScienceWorldEnv
    task = SciWorldTask(SciWorldConfig(task_types=["boil", "find-living-thing"], variations=1, max_steps=1000))
    ours = play(task, ExpertAgent(ExpertConfig()), [EpisodeJob(subtask=st) for st in task.subtasks()])
    env = ScienceWorldEnv("", envStepLimit=1000)
    try:
        for st in task.subtasks():
            env.load(st.data["task_type"], st.data["variation"], "easy")
            env.reset()
            traj = ours[f"{st.id}#0"]
            assert traj.success and len(traj.steps) > 5
            for step in traj.steps:
                obs, _, _, info = env.step(step.action)
                assert SciWorldEnv.same_observation(None, obs, step.observation), (st.id, step.action)
                assert info["score"] == step.score
    finally:
        env.close()


def test_replayed_answer_to_an_ambiguous_request_picks_the_same_option_by_its_text():
    stored = ("Ambiguous request: Please enter the number for the action you intended (or blank to cancel):\n"
              "0:\tgo to door to hallway\n1:\tgo to door to kitchen")
    now = ("Ambiguous request: Please enter the number for the action you intended (or blank to cancel):\n"
           "0:\tgo to door to kitchen\n1:\tgo to door to hallway")
    pick = SciWorldEnv.replay_action
    assert pick(None, "1", stored, now) == "0" and pick(None, "0", stored, now) == "1"
    assert pick(None, "1", stored, stored) == "1"
    assert pick(None, "look around", "You see a door.", "You see a door.") == "look around"
