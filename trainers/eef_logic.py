"""EEF decision logic (DESIGN §5; Lan et al., 2025, arXiv 2504.13145), free of models and environments.

Vocabulary. An expert trajectory (a failed one, as a rule) has n agent steps with actions a_0 .. a_(n-1). State j is
the environment after the expert's first j steps; s_0 is the plain start state. The trainer
restarts the agent from a few states (``exploration_states``), one rollout each, through the
engine's ``EpisodeJob(prefix=expert, prefix_steps=j)``: such a rollout's messages are the expert's
messages up to state j (loss off) followed by the agent's own turns (loss on), and its first j
steps are the expert's. The agent's ordinary start-state rollouts are the state-0 outcomes.

``analyze`` turns the outcomes into the decisions of §5 — which segments of expert actions were
beneficial or harmful, which states are important, what each state's solution is — and builds one
training example per important state that has a solution. ``build_training_set`` assembles an
iteration's training data. Every decision is also written to a JSON-serialisable log so that a
user can audit it.

One solution per state. A self success and an EEF example are both a solution of a state: the
subtask and the expert actions that lead there (``state_key``). s_0 is every trajectory's start
state of its subtask, so a self success and the s_0 examples of several expert trajectories of one
subtask are solutions of the same state; state j > 0 of two expert trajectories is the same state
only when their first j actions are equal. ``one_per_state`` keeps one solution per state (the
fewest steps, ties to the earliest; or the earliest with ``prefer="first"``), within an iteration
(``build_training_set``) and across iterations (RFT's ``accumulate``, earlier iterations first).
So with ``accumulate``, a subtask whose start state got an EEF example in one iteration and a
self success in a later one (or the other way round) keeps one of the two, never both. Expert
successes stay as they are (they are the data SFT started from), next to that one solution.

Successful expert trajectories are explored only as an ablation (EEF's ``explore_successes``);
their final state s_n counts as solved, by the expert's own remaining actions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

from harness.trajectory import Trajectory

Prefer = Literal["shortest", "first"]
SegmentLabel = Literal["beneficial", "harmful", "both-solved", "both-failed"]


def exploration_states(n_steps: int, M: int = 5) -> list[int]:
    """The expert states to restart the agent from, for a failed expert trajectory of ``n_steps`` steps.

    l = n_steps // (M + 1) gives s_l, s_2l, ..., s_Ml; when l == 0 (fewer than M + 1 steps) every
    intermediate state s_1 .. s_(n-1). The start state 0 is NOT in the list: its rollouts are the
    ordinary start-state rollouts each iteration runs anyway, passed to ``analyze`` as state 0.
    """
    if M < 1:
        raise ValueError(f"M must be at least 1, got {M}")
    if n_steps < 0:
        raise ValueError(f"n_steps must be non-negative, got {n_steps}")
    l = n_steps // (M + 1)  # noqa: E741 - EEF paper's notation
    if l == 0:
        return list(range(1, n_steps))
    return [k * l for k in range(1, M + 1)]


@dataclass(frozen=True)
class Outcome:
    """Whether the agent succeeded from expert state ``state`` (0 = the start state) in one rollout.

    ``rollout`` is the engine's trajectory; it may be None except for a success that an example
    is built from (the example is that rollout with other loss flags).
    """
    state: int
    success: bool
    rollout: Trajectory | None = None

    @classmethod
    def of(cls, rollout: Trajectory) -> Outcome:
        return cls(state=rollout.prefix_steps, success=rollout.success, rollout=rollout)


def outcomes_for(expert: Trajectory, rollouts: Iterable[Trajectory]) -> list[Outcome]:
    """The outcomes bearing on ``expert``: start-state rollouts of its subtask and rollouts restarted from it.

    Errored or not-tried rollouts (API failure, env crash, replay divergence) say nothing about
    the agent, so they are left out; a state left without outcomes counts as not tried.
    """
    out = []
    for t in rollouts:
        if t.status != "ok":
            continue
        from_start = t.parent is None and t.prefix_steps == 0 and t.subtask_id == expert.subtask_id
        if from_start or t.parent == expert.id:
            out.append(Outcome.of(t))
    return out


@dataclass(frozen=True)
class Segment:
    """The expert actions a_start .. a_(end-1) between two consecutive tried states."""
    start: int
    end: int
    label: SegmentLabel


@dataclass
class EEFResult:
    """The decisions for one expert trajectory (lists are indexed like ``states``)."""
    expert: Trajectory
    states: list[int]  # tried states, ascending, starting with 0
    ok: list[bool]  # ok[k]: the agent succeeded from states[k] in at least one rollout
    segments: list[Segment]  # segments[k] runs from states[k] to states[k + 1] (a successful expert: then to s_n)
    recovery_states: list[int]  # the end state of every harmful segment
    important_states: list[int]  # 0 when the agent fails from it, then the recovery states
    solved_from: dict[int, int]  # tried state -> first tried state at or after it the agent solves (or s_n)
    chosen: dict[int, Trajectory]  # solved state -> the rollout kept as the agent's continuation
    examples: list[Trajectory]  # one per important state with a solution (not a successful expert's own)
    log: dict

    @property
    def start_solved_by_exploration(self) -> bool:
        """The agent failed from s_0, but exploration gave s_0 a solution (the subtask is newly solved).

        Not when the solution is a successful expert's own actions (``solved_from[0]`` is its final state)."""
        return not self.ok[0] and self.solved_from.get(0, len(self.expert.steps)) < len(self.expert.steps)


def _label(ok_from: bool, ok_to: bool) -> SegmentLabel:
    if ok_from == ok_to:
        return "both-solved" if ok_from else "both-failed"
    return "harmful" if ok_from else "beneficial"


def _require_prefer(prefer: str) -> None:
    if prefer not in ("shortest", "first"):
        raise ValueError(f"prefer must be 'shortest' or 'first', got {prefer!r}")


def _pick(rollouts: list[Trajectory], prefer: Prefer) -> Trajectory:
    """Several solutions for one state: the one with fewest steps (ties: the first given), or the first given."""
    return min(rollouts, key=lambda t: len(t.steps)) if prefer == "shortest" else rollouts[0]


def _check(expert: Trajectory, o: Outcome) -> None:
    n = len(expert.steps)
    if o.state != 0 and not 0 < o.state < n:
        raise ValueError(f"expert {expert.id} has {n} steps: state {o.state} is not the start or an intermediate state")
    t = o.rollout
    if t is None:
        return
    if t.subtask_id != expert.subtask_id or t.prefix_steps != o.state or t.success != o.success:
        raise ValueError(f"rollout {t.id} (subtask {t.subtask_id}, prefix_steps {t.prefix_steps}, success "
                         f"{t.success}) does not match its outcome (subtask {expert.subtask_id}, state "
                         f"{o.state}, success {o.success})")
    if o.state > 0 and t.parent != expert.id:
        raise ValueError(f"rollout {t.id} restarts from {t.parent}, not from expert {expert.id}")


def _example(expert: Trajectory, state: int, solved_from: int, rollout: Trajectory) -> Trajectory:
    """The solution of ``state`` as a training example, made from the rollout of its first solved state.

    That rollout holds the expert's messages up to ``solved_from`` then the agent's continuation.
    Messages before ``state`` are context (loss off); from ``state`` on, assistant messages are
    trained: the expert's actions a_state .. a_(solved_from - 1), which lead to a state the agent
    solves, and the agent's own continuation. Observations are never trained.
    """
    cut = expert.assistant_index(solved_from)
    if ([(m.role, m.content) for m in rollout.messages[:cut]]
            != [(m.role, m.content) for m in expert.messages_until(solved_from)]):
        raise ValueError(f"rollout {rollout.id} does not start with expert {expert.id}'s messages up to "
                         f"state {solved_from}")
    start = expert.assistant_index(state)
    messages = [m.model_copy(update={"train": i >= start and m.role == "assistant"})  # token ids kept
                for i, m in enumerate(rollout.messages)]
    return rollout.model_copy(deep=True, update={
        "id": f"eef:{expert.id}@{state}", "messages": messages, "source": "eef", "parent": expert.id,
        "prefix_steps": state, "success": True, "pool": expert.pool})


def analyze(expert: Trajectory, outcomes: Iterable[Outcome], *, prefer: Prefer = "shortest") -> EEFResult:
    """Apply DESIGN §5 to one expert trajectory and the agent's outcomes from its states.

    ``outcomes`` must include the start state (0); other states are those the agent was restarted
    from (normally ``exploration_states``), any number of rollouts each. A state counts as solved
    when any of its rollouts succeeded; when several did, ``prefer`` picks the one kept.

    The expert normally failed. A successful expert (the ``explore_successes`` ablation) ends in a
    solved state s_n: the last segment runs from the last tried state to s_n, and a failing state
    whose chain reaches s_n is solved by the expert's own remaining actions. No example is built for
    such a state (``solved_by_expert`` in the log): it would repeat part of the expert success,
    which is in the training set already.
    """
    _require_prefer(prefer)
    by_state: dict[int, list[Outcome]] = {}
    for o in outcomes:
        _check(expert, o)
        by_state.setdefault(o.state, []).append(o)
    if 0 not in by_state:
        raise ValueError(f"no outcome from the start state of expert {expert.id}'s subtask")

    n = len(expert.steps)
    states = sorted(by_state)
    ok = [any(o.success for o in by_state[j]) for j in states]
    ends, ends_ok = (states + [n], ok + [True]) if expert.success else (states, ok)
    segments = [Segment(ends[k], ends[k + 1], _label(ends_ok[k], ends_ok[k + 1])) for k in range(len(ends) - 1)]
    recovery = [s.end for s in segments if s.label == "harmful"]
    important = ([] if ok[0] else [0]) + recovery

    # Solutions chain backwards: a solved state keeps its own continuation, a failing state inherits
    # the first later solved state's (through the expert actions in between). All states in between
    # fail, so a chain never crosses a harmful segment (those start at a solved state).
    solved_from: dict[int, int] = {}
    nxt = n if expert.success else None
    for j, okj in reversed(list(zip(states, ok))):
        if okj:
            nxt = j
        if nxt is not None:
            solved_from[j] = nxt

    chosen: dict[int, Trajectory] = {}
    for j, okj in zip(states, ok):
        wins = [o.rollout for o in by_state[j] if o.success and o.rollout is not None]
        if okj and wins:
            chosen[j] = _pick(wins, prefer)

    examples, built, unsolved, by_expert = [], [], [], []
    for j in important:
        if j not in solved_from:
            unsolved.append(j)
            continue
        jj = solved_from[j]
        if jj == n:
            by_expert.append(j)
            continue
        if jj not in chosen:
            raise ValueError(f"state {jj} of expert {expert.id} was solved, but no successful rollout from it "
                             f"was given to build the example for state {j} from")
        ex = _example(expert, j, jj, chosen[jj])
        examples.append(ex)
        built.append({"state": j, "solved_from": jj, "expert_steps": jj - j,
                      "agent_steps": len(ex.steps) - jj, "solution_steps": len(ex.steps) - j,
                      "rollout": chosen[jj].id, "example": ex.id})

    log = {
        "expert": expert.id, "pool": expert.pool, "subtask": expert.subtask_id, "expert_steps": n,
        "expert_success": expert.success,
        "tried": states, "ok": ok,
        "rollouts": [len(by_state[j]) for j in states],
        "successes": [sum(o.success for o in by_state[j]) for j in states],
        "segments": [{"from": s.start, "to": s.end, "label": s.label} for s in segments],
        "recovery_states": recovery, "important_states": important,
        "prefer": prefer, "examples": built, "unsolved_important_states": unsolved, "solved_by_expert": by_expert,
    }
    return EEFResult(expert=expert, states=states, ok=ok, segments=segments, recovery_states=recovery,
                     important_states=important, solved_from=solved_from, chosen=chosen,
                     examples=examples, log=log)


def state_key(t: Trajectory) -> tuple[str, tuple[str | None, ...]]:
    """The state whose solution ``t`` is (a self success: s_0; an EEF example: its ``prefix_steps``).

    A state is its subtask and the expert actions that lead there: s_0 (no actions) is shared by all
    trajectories of a subtask, state j of two experts is one state only when their first j actions are equal.
    """
    return t.subtask_id, tuple(s.action for s in t.steps[: t.prefix_steps])


def one_per_state(solutions: Iterable[Trajectory], prefer: Prefer = "shortest",
                  kept: dict | None = None) -> dict:
    """Merge ``solutions`` (in order, the earliest first) into ``kept`` (state_key -> solution), one per state.

    A later solution replaces the kept one only with ``prefer="shortest"`` and fewer steps (the
    same state, so the same number of context steps); ``first`` keeps the earliest. Returns ``kept``.
    """
    _require_prefer(prefer)
    kept = {} if kept is None else kept
    for t in solutions:
        k = state_key(t)
        if k not in kept or (prefer == "shortest" and len(t.steps) < len(kept[k].steps)):
            kept[k] = t
    return kept


def mark_duplicate_examples(results: Iterable[EEFResult], prefer: Prefer = "shortest") -> None:
    """Write into each result's log which of its examples another expert's example of the same state replaces.

    The decision is ``one_per_state`` over the results' examples in order, as ``build_training_set`` takes it.
    """
    results = list(results)
    kept = one_per_state([ex for r in results for ex in r.examples], prefer)
    for r in results:
        for entry, ex in zip(r.log["examples"], r.examples):
            winner = kept[state_key(ex)]
            entry["duplicate_of"] = None if winner is ex else winner.id


def build_training_set(experts: Iterable[Trajectory], self_rollouts: Iterable[Trajectory],
                       results: Iterable[EEFResult], *, prefer: Prefer = "shortest",
                       expert_wins: Iterable[Trajectory] | None = None) -> tuple[list[Trajectory], dict]:
    """One iteration's training set and its summary numbers (DESIGN §5).

    Training set, in this order: the expert successes (``expert_wins``, those SFT trained on; default:
    the successful ``experts`` with ``status == "ok"``), then
    one solution per state (``one_per_state``) of the self successes in ``self_rollouts``
    (start-state rollouts of the current model) and the EEF examples of ``results``: one self
    success per solved subtask, one example per expert state however many expert trajectories
    share it. In the summary, ``states_tried``/``states_solved`` count intermediate states only
    (s_0's rollouts are the self rollouts), and a subtask is newly solved by EEF when exploration
    gave its start state a solution and no start-state rollout solved it (``results`` are expected
    to be analysed with these same self rollouts as their state-0 outcomes, so no self success and
    EEF example of one start state meet here; across iterations they can, see ``one_per_state``).
    """
    _require_prefer(prefer)
    experts, self_rollouts, results = list(experts), list(self_rollouts), list(results)
    expert_wins = ([t for t in experts if t.status == "ok" and t.success] if expert_wins is None
                   else list(expert_wins))
    for t in self_rollouts:
        if t.prefix_steps != 0:
            raise ValueError(f"self rollout {t.id} starts from an expert state ({t.prefix_steps} steps); "
                             f"pass it to analyze() instead")
    self_wins = [t for t in self_rollouts if t.success and t.status == "ok"]
    eef = [ex for r in results for ex in r.examples]
    kept = list(one_per_state(self_wins + eef, prefer).values())
    kept_ids = {id(t) for t in kept}
    eef_kept = sum(id(t) in kept_ids for t in eef)
    newly = sorted({r.expert.subtask_id for r in results if r.start_solved_by_exploration})
    labels = [s.label for r in results for s in r.segments]
    summary = {
        "experts": len(experts), "expert_successes": len(expert_wins),
        "self_rollouts": len(self_rollouts), "subtasks_solved_by_self": len({t.subtask_id for t in self_wins}),
        "failed_experts_explored": sum(not r.expert.success for r in results),
        "successful_experts_explored": sum(r.expert.success for r in results),
        "states_tried": sum(len(r.states) - 1 for r in results),
        "states_solved": sum(sum(r.ok[1:]) for r in results),
        "beneficial_segments": labels.count("beneficial"), "harmful_segments": labels.count("harmful"),
        "important_states": sum(len(r.important_states) for r in results),
        "eef_examples": eef_kept, "duplicate_eef_examples": len(eef) - eef_kept,
        "subtasks_newly_solved_by_eef": len(newly), "newly_solved_subtasks": newly,
        "training_examples": len(expert_wins) + len(kept),
    }
    return expert_wins + kept, summary
