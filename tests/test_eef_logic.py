"""EEF decision logic (DESIGN §5) against hand-computed answers.

Expert trajectories are synthetic: a 2-message prompt, then step i is "Thought: t{i}\\nAction: a{i}"
answered by "Observation: o{i}". A rollout from state j is built the way the engine builds it: the
expert's messages up to state j with loss off, then the agent's turns ("mine{j}.{i}") with loss
on. Which states the agent solves is scripted per test. Loss flags are compared as strings, one
character per message: "T" trained, "." not.
"""
import json
import random

import pytest

from harness import Agent, AgentReply
from harness.react import format_reply
from harness.rollout import EpisodeJob, RolloutEngine
from harness.trajectory import Message, Step, Trajectory
from harness_toy import CounterConfig, CounterTask, CountingConfig
from harness.trainers.eef_logic import (Outcome, Segment, analyze, build_training_set, exploration_states,
                                mark_duplicate_examples, one_per_state, outcomes_for)


def expert_traj(n, *, id="exp", subtask="st", success=False, actions=None, status="ok"):
    actions = actions or [f"a{i}" for i in range(n)]
    messages = [Message(role="system", content="instruction"), Message(role="user", content="Observation: start")]
    for i in range(n):
        messages += [Message(role="assistant", content=f"Thought: t{i}\nAction: {actions[i]}"),
                     Message(role="user", content=f"Observation: o{i}")]
    return Trajectory(id=id, task="toy", subtask_id=subtask, category="c", agent="expert", source="expert",
                      messages=messages, prompt_len=2, steps=[Step(action=actions[i], observation=f"o{i}")
                                                              for i in range(n)],
                      success=success, score=100.0 if success else 20.0, status=status)


def rollout(expert, state, agent_steps, success=True, sample=0, status="ok"):
    messages = [m.model_copy(update={"train": False}) for m in expert.messages_until(state)]
    steps = list(expert.steps[:state])
    for i in range(agent_steps):
        messages += [Message(role="assistant", content=f"Thought: mine{state}.{i}\nAction: b{i}", train=True),
                     Message(role="user", content=f"Observation: p{i}")]
        steps.append(Step(action=f"b{i}", observation=f"p{i}"))
    return Trajectory(id=f"{expert.subtask_id}#{sample}@{state}", task="toy", subtask_id=expert.subtask_id,
                      category="c", sample=sample, agent="me", source="eef" if state else "self",
                      parent=expert.id if state else None, prefix_steps=state, messages=messages,
                      prompt_len=expert.prompt_len, steps=steps, success=success,
                      score=100.0 if success else 30.0 + state, status=status)


def flags(traj):
    return "".join("T" if m.train else "." for m in traj.messages)


def trained(traj):
    return [m.content.split("\n")[0].removeprefix("Thought: ") for m in traj.messages if m.train]


def fail(state):
    return Outcome(state, False)


def win(expert, state, agent_steps, sample=0):
    return Outcome.of(rollout(expert, state, agent_steps, sample=sample))


# ---------------------------------------------------------------- which states


@pytest.mark.parametrize("n, M, states", [
    (12, 5, [2, 4, 6, 8, 10]),  # l = 2
    (13, 5, [2, 4, 6, 8, 10]),  # l = 2, the remainder is never a start state
    (18, 5, [3, 6, 9, 12, 15]),
    (9, 2, [3, 6]),
    (6, 5, [1, 2, 3, 4, 5]),  # l = 1
    (4, 5, [1, 2, 3]),  # l = 0: every intermediate state
    (1, 5, []),
    (0, 5, []),
])
def test_exploration_states(n, M, states):
    assert exploration_states(n, M) == states


def test_exploration_states_rejects_nonsense():
    with pytest.raises(ValueError):
        exploration_states(10, 0)
    with pytest.raises(ValueError):
        exploration_states(-1, 5)


# ---------------------------------------------------------------- the paper's Figure 1


def figure1():
    """n = 8, M = 3, l = 2: the agent fails from s_0 and s_2l, solves s_l (3 more steps) and s_3l (2 more)."""
    expert = expert_traj(8)
    assert exploration_states(8, 3) == [2, 4, 6]
    r2, r6 = rollout(expert, 2, 3), rollout(expert, 6, 2)
    outcomes = [fail(0), Outcome.of(r2), fail(4), Outcome.of(r6)]
    return expert, r2, r6, analyze(expert, outcomes)


def test_figure1_decisions():
    expert, r2, r6, res = figure1()
    assert res.states == [0, 2, 4, 6]
    assert res.ok == [False, True, False, True]
    assert res.segments == [Segment(0, 2, "beneficial"), Segment(2, 4, "harmful"), Segment(4, 6, "beneficial")]
    assert res.recovery_states == [4]
    assert res.important_states == [0, 4]
    assert res.solved_from == {0: 2, 2: 2, 4: 6, 6: 6}
    assert res.chosen == {2: r2, 6: r6}
    assert res.start_solved_by_exploration


def test_figure1_examples_have_exact_loss_flags():
    expert, r2, r6, res = figure1()
    ex0, ex4 = res.examples
    # s_0: prompt | a0 a1 (beneficial, trained) | agent's 3 steps from s_l
    assert flags(ex0) == ".." + "T.T." + "T.T.T."
    assert trained(ex0) == ["t0", "t1", "mine2.0", "mine2.1", "mine2.2"]
    # s_2l: prompt | a0..a3 context (a2 a3 harmful) | a4 a5 (beneficial, trained) | agent's 2 steps from s_3l
    assert flags(ex4) == ".." + "........" + "T.T." + "T.T."
    assert trained(ex4) == ["t4", "t5", "mine6.0", "mine6.1"]
    for ex in res.examples:  # harmful expert actions are only ever loss-off context
        assert not any(m.train for m in ex.messages if m.content.startswith(("Thought: t2", "Thought: t3")))
        assert not any(m.train for m in ex.messages if m.role != "assistant")


def test_figure1_example_lineage_and_inputs_untouched():
    expert, r2, r6, res = figure1()
    ex0, ex4 = res.examples
    for ex, j, r in ((ex0, 0, r2), (ex4, 4, r6)):
        assert (ex.source, ex.parent, ex.prefix_steps, ex.success) == ("eef", expert.id, j, True)
        assert ex.id == f"eef:exp@{j}"
        assert ex.steps == r.steps and ex.score == r.score and ex.prompt_len == r.prompt_len
        assert [m.content for m in ex.messages] == [m.content for m in r.messages]
    assert flags(r2) == "......T.T.T." and r2.source == "eef" and r2.prefix_steps == 2
    assert flags(expert) == "." * 18


def test_figure1_log():
    _, _, _, res = figure1()
    assert res.log == {
        "expert": "exp", "pool": None, "subtask": "st", "expert_steps": 8, "expert_success": False,
        "tried": [0, 2, 4, 6], "ok": [False, True, False, True],
        "rollouts": [1, 1, 1, 1], "successes": [0, 1, 0, 1],
        "segments": [{"from": 0, "to": 2, "label": "beneficial"}, {"from": 2, "to": 4, "label": "harmful"},
                     {"from": 4, "to": 6, "label": "beneficial"}],
        "recovery_states": [4], "important_states": [0, 4], "prefer": "shortest",
        "examples": [
            {"state": 0, "solved_from": 2, "expert_steps": 2, "agent_steps": 3, "solution_steps": 5,
             "rollout": "st#0@2", "example": "eef:exp@0"},
            {"state": 4, "solved_from": 6, "expert_steps": 2, "agent_steps": 2, "solution_steps": 4,
             "rollout": "st#0@6", "example": "eef:exp@4"}],
        "unsolved_important_states": [], "solved_by_expert": [],
    }
    assert json.loads(json.dumps(res.log)) == res.log


# ---------------------------------------------------------------- other patterns


def test_chain_crosses_failing_states_and_an_unsolved_recovery_state():
    """n = 12, M = 5: ok = F F T F F T. s_0's solution is a0..a3 + agent from s_4 (through the failing s_2);
    s_6 is a recovery state whose solution is a6..a9 + agent from s_10; a4 a5 are harmful."""
    expert = expert_traj(12)
    res = analyze(expert, [fail(0), fail(2), win(expert, 4, 1), fail(6), fail(8), win(expert, 10, 1)])
    assert [s.label for s in res.segments] == ["both-failed", "beneficial", "harmful", "both-failed", "beneficial"]
    assert res.important_states == [0, 6]
    assert res.solved_from == {0: 4, 2: 4, 4: 4, 6: 10, 8: 10, 10: 10}
    ex0, ex6 = res.examples
    assert flags(ex0) == ".." + "T.T.T.T." + "T."
    assert flags(ex6) == ".." + "." * 12 + "T.T.T.T." + "T."
    assert trained(ex6) == ["t6", "t7", "t8", "t9", "mine10.0"]


def test_all_fail_gives_no_example():
    expert = expert_traj(12)
    res = analyze(expert, [fail(j) for j in [0, 2, 4, 6, 8, 10]])
    assert res.ok == [False] * 6 and {s.label for s in res.segments} == {"both-failed"}
    assert res.important_states == [0] and res.solved_from == {} and res.examples == []
    assert res.log["unsolved_important_states"] == [0] and not res.start_solved_by_exploration


def test_all_succeed_has_no_important_state():
    expert = expert_traj(12)
    res = analyze(expert, [win(expert, j, 2) for j in [0, 2, 4, 6, 8, 10]])
    assert {s.label for s in res.segments} == {"both-solved"}
    assert res.recovery_states == [] and res.important_states == [] and res.examples == []
    assert res.solved_from == {j: j for j in [0, 2, 4, 6, 8, 10]}
    assert not res.start_solved_by_exploration  # solved from the start already: not new


def test_success_only_at_the_last_state():
    expert = expert_traj(12)
    res = analyze(expert, [fail(0), fail(2), fail(4), fail(6), fail(8), win(expert, 10, 1)])
    assert [s.label for s in res.segments] == ["both-failed"] * 4 + ["beneficial"]
    assert res.important_states == [0]
    (ex,) = res.examples
    assert flags(ex) == ".." + "T." * 10 + "T."
    assert trained(ex) == [f"t{i}" for i in range(10)] + ["mine10.0"]


def test_success_from_start_then_failures_leaves_recovery_state_unsolved():
    expert = expert_traj(12)
    res = analyze(expert, [win(expert, 0, 3), fail(2), fail(4), fail(6), fail(8), fail(10)])
    assert res.segments[0] == Segment(0, 2, "harmful")
    assert res.recovery_states == [2] and res.important_states == [2]
    assert res.examples == [] and res.log["unsolved_important_states"] == [2]


def test_fewer_than_M_plus_1_steps_uses_every_intermediate_state():
    """n = 4, M = 5 (l = 0): states 1, 2, 3; ok = F F T F."""
    expert = expert_traj(4)
    states = exploration_states(4, 5)
    res = analyze(expert, [fail(0), fail(1), win(expert, 2, 2), fail(3)])
    assert res.states == [0] + states == [0, 1, 2, 3]
    assert [s.label for s in res.segments] == ["both-failed", "beneficial", "harmful"]
    assert res.recovery_states == [3] and res.important_states == [0, 3]
    (ex,) = res.examples
    assert flags(ex) == ".." + "T.T." + "T.T."
    assert res.log["unsolved_important_states"] == [3]


def test_several_rollouts_per_state_any_success_counts_and_shortest_is_kept():
    expert = expert_traj(12)
    outcomes = [fail(0), fail(0), Outcome.of(rollout(expert, 0, 5, success=False, sample=2)),
                win(expert, 2, 4, sample=0), Outcome(2, False), win(expert, 2, 1, sample=2),
                win(expert, 2, 1, sample=3)]
    res = analyze(expert, outcomes)
    assert res.ok == [False, True]
    assert res.log["rollouts"] == [3, 4] and res.log["successes"] == [0, 3]
    (ex,) = res.examples
    assert res.chosen[2].id == "st#2@2"  # fewest steps; the tie goes to the first given
    assert flags(ex) == ".." + "T.T." + "T."
    first = analyze(expert, outcomes, prefer="first")
    assert first.chosen[2].id == "st#0@2" and flags(first.examples[0]) == ".." + "T.T." + "T.T.T.T."
    assert first.log["prefer"] == "first"


def test_outcomes_for_takes_start_rollouts_of_the_subtask_and_children_of_the_expert():
    expert = expert_traj(6)
    other = expert_traj(6, id="other", subtask="st2")
    keep = [rollout(expert, 0, 2, success=False), rollout(expert, 3, 1)]
    drop = [rollout(expert, 2, 1, status="error"), rollout(other, 0, 1), rollout(other, 3, 1)]
    outs = outcomes_for(expert, keep + drop)
    assert [(o.state, o.success, o.rollout.id) for o in outs] == [(0, False, "st#0@0"), (3, True, "st#0@3")]


def test_bad_inputs_are_refused():
    expert = expert_traj(8)
    with pytest.raises(ValueError, match="start state"):
        analyze(expert, [fail(2)])
    with pytest.raises(ValueError, match="state 8"):
        analyze(expert, [fail(0), fail(8)])
    with pytest.raises(ValueError, match="does not match"):
        analyze(expert, [fail(0), Outcome(4, True, rollout(expert, 2, 1))])
    with pytest.raises(ValueError, match="not from expert"):
        analyze(expert, [fail(0), win(expert_traj(8, id="other"), 2, 1)])
    with pytest.raises(ValueError, match="no successful rollout"):
        analyze(expert, [fail(0), Outcome(2, True)])
    tampered = rollout(expert, 2, 1)
    tampered.messages[2].content = "Thought: something else"
    with pytest.raises(ValueError, match="does not start with"):
        analyze(expert, [fail(0), Outcome.of(tampered)])
    with pytest.raises(ValueError, match="prefer"):
        analyze(expert, [fail(0)], prefer="longest")


# ---------------------------------------------------------------- one iteration's training set


def test_training_set_and_summary():
    """Four subtasks: A expert solved; B expert failed, self solved; C expert failed, only exploration
    solved (Figure 1 shape); D expert failed, nothing solved."""
    ea, eb, ec, ed = (expert_traj(8, id=f"e{s}", subtask=s, success=s == "A") for s in "ABCD")
    self_rollouts = [
        rollout(ea, 0, 4, sample=0), rollout(ea, 0, 3, sample=1), rollout(ea, 0, 2, success=False, sample=2),
        rollout(eb, 0, 6, sample=0), rollout(eb, 0, 5, success=False, sample=1),
        rollout(ec, 0, 4, success=False), rollout(ed, 0, 4, success=False),
        rollout(ed, 0, 1, status="error", sample=1).model_copy(update={"success": True}),
    ]
    rb = analyze(eb, outcomes_for(eb, self_rollouts) + [fail(2), win(eb, 4, 1), fail(6)])
    rc = analyze(ec, outcomes_for(ec, self_rollouts) + [win(ec, 2, 3), fail(4), win(ec, 6, 2)])
    rd = analyze(ed, outcomes_for(ed, self_rollouts) + [fail(2), fail(4), fail(6)])
    data, summary = build_training_set([ea, eb, ec, ed], self_rollouts, [rb, rc, rd])
    # B: ok = T F T F, so s_2 and s_6 are recovery states and only s_2 has a solution (a2 a3 + agent from s_4)
    assert rb.important_states == [2, 6] and rb.log["unsolved_important_states"] == [6]
    assert [t.id for t in data] == ["eA", "A#1@0", "B#0@0", "eef:eB@2", "eef:eC@0", "eef:eC@4"]
    assert summary == {
        "experts": 4, "expert_successes": 1, "self_rollouts": 8, "subtasks_solved_by_self": 2,
        "failed_experts_explored": 3, "successful_experts_explored": 0, "states_tried": 9, "states_solved": 3,
        "beneficial_segments": 3, "harmful_segments": 3, "important_states": 5, "eef_examples": 3,
        "duplicate_eef_examples": 0, "subtasks_newly_solved_by_eef": 1, "newly_solved_subtasks": ["C"],
        "training_examples": 6,
    }
    assert json.loads(json.dumps(summary)) == summary


def test_training_set_prefers_and_refuses_exploration_rollouts_as_self():
    ea = expert_traj(8, id="eA", subtask="A")
    rs = [rollout(ea, 0, 4, sample=0), rollout(ea, 0, 3, sample=1)]
    assert [t.id for t in build_training_set([ea], rs, [])[0]] == ["A#1@0"]
    assert [t.id for t in build_training_set([ea], rs, [], prefer="first")[0]] == ["A#0@0"]
    with pytest.raises(ValueError, match="analyze"):
        build_training_set([ea], [rollout(ea, 2, 1)], [])


# ---------------------------------------------------------------- one solution per state


def test_several_failed_experts_of_one_subtask_share_one_start_state_example():
    """e1 and e2 fail on subtask S by different actions; e3 shares e1's first 4 actions. The agent
    fails from s_0 and s_4 of each, solves s_2 (e1: 3 more steps, e2: 1, e3: 5) and s_6 of e1 and e3."""
    e1 = expert_traj(8, id="e1", subtask="S")
    e2 = expert_traj(8, id="e2", subtask="S", actions=[f"z{i}" for i in range(8)])
    e3 = expert_traj(8, id="e3", subtask="S", actions=["a0", "a1", "a2", "a3"] + [f"y{i}" for i in range(4)])
    selfs = [rollout(e1, 0, 4, success=False)]
    r1 = analyze(e1, outcomes_for(e1, selfs) + [win(e1, 2, 3), fail(4), win(e1, 6, 1)])
    r2 = analyze(e2, outcomes_for(e2, selfs) + [win(e2, 2, 1), fail(4), fail(6)])
    r3 = analyze(e3, outcomes_for(e3, selfs) + [win(e3, 2, 5), fail(4), win(e3, 6, 1)])
    # s_0: three examples (5, 3 and 7 steps), one state; s_4 of e1 and e3 (both 2 + 1 steps): one state
    assert [ex.id for r in (r1, r2, r3) for ex in r.examples] == [
        "eef:e1@0", "eef:e1@4", "eef:e2@0", "eef:e3@0", "eef:e3@4"]
    data, summary = build_training_set([e1, e2, e3], selfs, [r1, r2, r3])
    assert [t.id for t in data] == ["eef:e2@0", "eef:e1@4"]  # the shortest per state, ties to the earliest
    assert summary["eef_examples"] == 2 and summary["duplicate_eef_examples"] == 3
    assert summary["training_examples"] == 2 and summary["subtasks_newly_solved_by_eef"] == 1
    data, _ = build_training_set([e1, e2, e3], selfs, [r1, r2, r3], prefer="first")
    assert [t.id for t in data] == ["eef:e1@0", "eef:e1@4"]

    mark_duplicate_examples([r1, r2, r3])
    assert [[e["duplicate_of"] for e in r.log["examples"]] for r in (r1, r2, r3)] == [
        ["eef:e2@0", None], [None], ["eef:e2@0", "eef:e1@4"]]


def test_a_state_of_other_actions_is_another_state():
    e1 = expert_traj(4, id="e1", subtask="S")
    e2 = expert_traj(4, id="e2", subtask="S", actions=["a0", "z1", "a2", "a3"])
    r1 = analyze(e1, [fail(0), fail(2), win(e1, 3, 1)])
    r2 = analyze(e2, [fail(0), fail(2), win(e2, 3, 1)])
    # s_0 is shared (one example kept); s_2 is not (a1 vs z1), but neither is important here
    data, summary = build_training_set([e1, e2], [], [r1, r2])
    assert [t.id for t in data] == ["eef:e1@0"] and summary["duplicate_eef_examples"] == 1
    r1 = analyze(e1, [fail(0), win(e1, 1, 4), fail(2), win(e1, 3, 1)])
    r2 = analyze(e2, [fail(0), win(e2, 1, 4), fail(2), win(e2, 3, 1)])
    data, _ = build_training_set([e1, e2], [], [r1, r2])
    assert [t.id for t in data] == ["eef:e1@0", "eef:e1@2", "eef:e2@2"]  # recovery states a0 a1 / a0 z1


def test_one_per_state_across_iterations_follows_prefer():
    e = expert_traj(8, id="e", subtask="S")
    first = rollout(e, 0, 5).model_copy(update={"id": "iter1:S#0@0"})  # a self success of iteration 1
    later = analyze(e, [fail(0), win(e, 2, 1)]).examples[0].model_copy(update={"id": "iter2:eef:e@0"})
    same = rollout(e, 0, 5).model_copy(update={"id": "iter2:S#0@0"})
    assert len(later.steps) < len(first.steps)
    kept = one_per_state([first], "shortest")
    assert [t.id for t in one_per_state([later, same], "shortest", kept).values()] == ["iter2:eef:e@0"]
    kept = one_per_state([first], "first")
    assert [t.id for t in one_per_state([later, same], "first", kept).values()] == ["iter1:S#0@0"]
    kept = one_per_state([first, same])  # ties keep the earliest
    assert [t.id for t in kept.values()] == ["iter1:S#0@0"]
    with pytest.raises(ValueError, match="prefer"):
        one_per_state([first], "longest")


def test_a_successful_expert_ends_in_a_solved_state():
    """The ablation: an expert that succeeded; the agent fails from s_0, s_4, s_6 and solves s_2 (long)."""
    e = expert_traj(8, success=True)
    res = analyze(e, [fail(0), win(e, 2, 9), fail(4), fail(6)])
    assert res.segments == [Segment(0, 2, "beneficial"), Segment(2, 4, "harmful"), Segment(4, 6, "both-failed"),
                            Segment(6, 8, "beneficial")]
    assert res.important_states == [0, 4] and res.solved_from == {0: 2, 2: 2, 4: 8, 6: 8}
    assert [ex.id for ex in res.examples] == ["eef:exp@0"]  # s_4: the expert's own success solves it
    assert res.log["solved_by_expert"] == [4] and res.log["expert_success"] is True
    assert res.start_solved_by_exploration
    nothing = analyze(e, [fail(0), fail(4)])
    assert not nothing.examples and nothing.log["solved_by_expert"] == [0]
    assert not nothing.start_solved_by_exploration  # the expert solved it, not exploration
    _, summary = build_training_set([e], [], [res, nothing])
    assert summary["successful_experts_explored"] == 2 and summary["failed_experts_explored"] == 0


def test_expert_successes_with_an_error_status_are_not_training_data():
    ok, broken = expert_traj(3, id="ok", success=True), expert_traj(3, id="bad", success=True, status="error")
    data, summary = build_training_set([ok, broken], [], [])
    assert [t.id for t in data] == ["ok"] and summary["expert_successes"] == 1


# ---------------------------------------------------------------- against an independent reading of the spec


def reference_decisions(n, ok_by_state, success=False):
    """DESIGN §5 read directly: a segment between consecutive tried states is beneficial when the
    agent fails from its start and succeeds from its end, harmful the other way round; important
    states are s_0 (when failed) and the ends of harmful segments; a state's solution starts at the
    nearest solved state at or after it, reached through failing states only."""
    states = sorted(ok_by_state)
    ends = states + ([n] if success else [])
    oks = {**ok_by_state, **({n: True} if success else {})}
    labels = []
    for a, b in zip(ends, ends[1:]):
        labels.append({(False, True): "beneficial", (True, False): "harmful",
                       (True, True): "both-solved", (False, False): "both-failed"}[oks[a], oks[b]])
    harmful_ends = [b for (a, b), lab in zip(zip(ends, ends[1:]), labels) if lab == "harmful"]
    important = ([0] if not oks[0] else []) + harmful_ends
    solved_from = {}
    for s in states:
        later = [t for t in ends if t >= s and oks[t]]
        if later:
            solved_from[s] = later[0]
    return labels, important, solved_from


@pytest.mark.parametrize("seed", range(200))
def test_classification_matches_an_independent_implementation(seed):
    rng = random.Random(seed)
    n = rng.randint(2, 20)
    success = rng.random() < 0.3
    e = expert_traj(n, success=success)
    tried = [0] + exploration_states(n, rng.randint(1, 6))
    ok = {j: rng.random() < 0.5 for j in tried}
    outcomes = []
    for j in tried:
        for k in range(rng.randint(1, 3)):  # several rollouts; any success counts
            won = ok[j] and k == 0
            outcomes.append(Outcome.of(rollout(e, j, rng.randint(1, 5), sample=k)) if won else fail(j))
    res = analyze(e, outcomes)
    labels, important, solved_from = reference_decisions(n, ok, success)
    assert [s.label for s in res.segments] == labels
    assert res.important_states == important and res.solved_from == solved_from
    for j in important:  # an example exactly where the solution is a rollout, with the expert turns as context
        ex = next((x for x in res.examples if x.prefix_steps == j), None)
        assert (ex is not None) == (j in solved_from and solved_from[j] != n)
        if ex is not None:
            lead = solved_from[j] - j
            assert flags(ex)[2:].count("T") == len(ex.steps) - j and ex.steps[j:j + lead] == e.steps[j:solved_from[j]]


# ---------------------------------------------------------------- the same on the real engine


class Script(Agent):
    """Plays fixed actions: a failing 'expert' for the counter task."""
    actions = ["inc", "inc", "dec", "dec", "inc", "inc", "dec", "dec"]

    def act(self, requests):
        return [AgentReply(text=format_reply("scripted", self.actions[r.step])) for r in requests]


class FromTwo(Agent):
    """Solves (counts up to the target 4) only from a counter of at least 2; below, walks away."""

    def act(self, requests):
        out = []
        for r in requests:
            x = int(r.messages[-1]["content"].rstrip(".").split()[-1])
            out.append(AgentReply(text=format_reply(f"at {x}", "inc" if x >= 2 else "dec")))
        return out


def test_figure1_on_engine_rollouts():
    """Counter after each expert step: 1 2 1 0 1 2 1 0, so the agent solves s_2 and s_6 and fails s_0, s_4."""
    task = CounterTask(CounterConfig(targets=[4], max_steps=12))
    subtask = task.subtasks()[0]
    out = []
    RolloutEngine(task, Script(CountingConfig()), num_envs=1, max_steps=8).run([EpisodeJob(subtask)], out.append)
    (expert,) = out
    assert not expert.success and len(expert.steps) == 8
    jobs = [EpisodeJob(subtask, episode_id="t4#start")] + [
        EpisodeJob(subtask, prefix=expert, prefix_steps=j, source="eef", episode_id=f"t4#0@{j}")
        for j in exploration_states(8, 3)]
    rollouts = []
    RolloutEngine(task, FromTwo(CountingConfig()), num_envs=2).run(jobs, rollouts.append)
    res = analyze(expert, outcomes_for(expert, rollouts))
    assert res.ok == [False, True, False, True] and res.important_states == [0, 4]
    ex0, ex4 = res.examples
    assert flags(ex0) == ".." + "T.T." + "T.T."
    assert flags(ex4) == ".." + "........" + "T.T." + "T.T."
    assert [m.content for m in ex4.messages[:14]] == [m.content for m in expert.messages_until(6)]
