"""Leaderboards from run directories: find runs, stream their episodes, aggregate per subtask.

Nothing is re-run: every number comes from the latest record of each episode in a run's
``episodes.jsonl`` (a retried episode supersedes its error, as in ``RunStore.latest``).
Episodes are streamed one at a time and only a few numbers per episode and per subtask are
kept, never a trajectory, so memory does not grow with the size of the trajectories.

Definitions: ``harness.stats`` (the same for run summaries and `harness show`). An episode
counts when its latest record has status ``ok``; errored ones are reported, not scored. A run's
**panel** is the set of subtasks it has at least one counted episode of.
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from pydantic import BaseModel

from harness.errors import HarnessError
from harness.protocol import comparable, differences
from harness.stats import Stats, mcnemar_exact_p
from harness.rundir import EPISODES_FILE, META_FILE, SPEC_FILE, is_kind
from harness.runstore import EpisodeBrief, RunStore, natural_key

SubtaskKey = tuple[str, str]  # (task, subtask id): ids of different tasks may coincide

_ITERATION = re.compile(r"^iter(?:ation)?[_-]?(\d+)$")
_ITERATION_IN_LABEL = re.compile(r"\biter(?:ation)?[_-]?\d+\b")


class LeaderboardError(HarnessError):
    """The runs asked for cannot be put in one table (none found, unknown name, empty panel)."""


# ---------------------------------------------------------------- per-run data

@dataclass
class SubtaskResult:
    """Counted episodes of one subtask in one run."""
    task: str
    subtask_id: str
    category: str
    episodes: int = 0
    successes: int = 0
    score_sum: float = 0.0
    shortest_win: int | None = None  # steps of its shortest successful episode

    @property
    def solved(self) -> bool:
        return self.successes > 0

    def add_win(self, steps: int) -> None:
        self.shortest_win = steps if self.shortest_win is None else min(self.shortest_win, steps)


@dataclass
class Run:
    """One run directory, reduced to per-subtask counters."""
    path: Path
    label: str
    task: str
    agent: str
    subtasks: dict[SubtaskKey, SubtaskResult]
    errors: int  # episodes whose latest record is an error
    expected_episodes: int | None  # from summary.json; None when the run wrote none
    summary_complete: bool | None  # summary.json's `complete`; None when absent
    protocol: dict | None = None  # meta.json's protocol record (harness.protocol); None for older runs
    protocol_group: int = 1  # rows with equal comparable protocol fields share a group (1, 2, ...)
    pooled: list[Path] = field(default_factory=list)  # the run directories a pooled row sums (see pool_runs)
    task_specs: list[dict] = field(default_factory=list)  # spec.yaml's task section (one per distinct spec pooled)

    @property
    def paths(self) -> list[Path]:
        """The run directories whose episodes this row counts."""
        return self.pooled or [self.path]

    @property
    def episodes(self) -> int:
        return sum(r.episodes for r in self.subtasks.values())

    @property
    def complete(self) -> bool:
        """Finished by its own account and by what is actually on disk."""
        return (bool(self.summary_complete) and self.errors == 0
                and self.expected_episodes is not None and self.episodes >= self.expected_episodes)

    @property
    def status(self) -> str:
        if self.complete:
            return "complete"
        expected = "?" if self.expected_episodes is None else str(self.expected_episodes)
        text = f"INCOMPLETE {self.episodes}/{expected}"
        notes = ([] if self.summary_complete is not None else ["no summary.json"]) + (
            [f"{self.errors} errored"] if self.errors else [])
        return text + (f" ({', '.join(notes)})" if notes else "")


def is_run_dir(path: Path) -> bool:
    return is_kind(path, "run")


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories named directly, or found anywhere below an experiment directory.

    Runs below one experiment directory come in natural path order; a run reached twice by one path
    is listed once. A symlinked run directory is a run of its own (e.g. every method's iteration 0 linked
    to the SFT experiment's evaluation: each method's curve starts there).
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for p in map(Path, paths):
        if not p.is_dir():
            raise LeaderboardError(f"{p}: not a directory")
        below = [p] if is_run_dir(p) else list(_walk_runs(p))
        if _is_experiment(p):  # its evaluation runs are the rows; expert/rollout/explore runs are inputs
            below = [r for r in below if r.name == "eval"]
        if not below:
            raise LeaderboardError(f"{p}: no run directory (with {SPEC_FILE}, {META_FILE} and {EPISODES_FILE}) in it")
        for run in below:
            if (where := place(run)) not in seen:
                seen.add(where)
                found.append(run)
    return found


def place(path: str | Path) -> Path:
    """Where a run directory is named: absolute and normalized, symlinks not followed (see find_runs)."""
    return Path(os.path.abspath(path))


def _is_experiment(path: Path) -> bool:
    return is_kind(path, "experiment")


def _walk_runs(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, _ in os.walk(root):
        here = Path(dirpath)
        if here != root and is_run_dir(here):
            dirnames.clear()  # a run directory holds no further runs
            yield here
        else:
            dirnames.sort(key=natural_key)


def iteration_of(path: Path) -> tuple[Path, int] | None:
    """(experiment directory, N) for a run inside an ``iterN`` directory; None for other runs."""
    parts = place(path).parts
    for i in range(len(parts) - 1, 0, -1):
        m = _ITERATION.match(parts[i])
        if m:
            return Path(*parts[:i]), int(m.group(1))
    return None


def default_label(path: Path, spec: dict) -> str:
    """'<trainer> iter<N>' when the path has an iteration directory, else the agent (and its model).

    The trainer is the spec's ``trainer.name`` when the run spec carries one, else the name of
    the directory holding the iteration directories (the experiment).
    """
    found = iteration_of(path)
    if found is not None:
        experiment, it = found
        trainer = (spec.get("trainer") or {}).get("name") or experiment.name
        return f"{trainer} iter{it}" + (" (SFT)" if it == 0 else "")  # every trainer's iter0
    agent = spec.get("agent") or {}
    model = agent.get("model")
    return f"{agent.get('name', '?')} {Path(str(model)).name}" if model else str(agent.get("name", "?"))


class _Counted(BaseModel):
    """A step, only counted (its fields are skipped)."""


class _Brief(EpisodeBrief):
    steps: list[_Counted] = []


def load_run(path: str | Path) -> Run:
    """Stream one run directory into per-subtask counters (only the latest record of an episode counts)."""
    store = RunStore.open(Path(path))
    spec = store.spec_dict() or {}
    subtasks: dict[SubtaskKey, SubtaskResult] = {}
    errors = 0
    for b in store.iter_latest_briefs(_Brief):
        if b.status != "ok":
            errors += b.status == "error"  # not_tried episodes (EEF restarts) are no evaluation
            continue
        r = subtasks.get((b.task, b.subtask_id))
        if r is None:
            r = subtasks[(b.task, b.subtask_id)] = SubtaskResult(b.task, b.subtask_id, b.category)
        r.episodes += 1
        r.successes += int(b.success)
        r.score_sum += b.score
        if b.success:
            r.add_win(len(b.steps))
    summary = store.summary()
    return Run(path=Path(path), label=default_label(Path(path), spec),
               task=str((spec.get("task") or {}).get("name", "?")),
               agent=str((spec.get("agent") or {}).get("name", "?")),
               subtasks=subtasks, errors=errors,
               expected_episodes=None if summary is None else summary.get("expected_episodes"),
               summary_complete=None if summary is None else bool(summary.get("complete")),
               protocol=store.meta.get("protocol"),
               task_specs=[spec["task"]] if isinstance(spec.get("task"), dict) else [])


# ---------------------------------------------------------------- aggregation

def stats_of(results: Iterable[SubtaskResult]) -> Stats:
    """Aggregate of a set of subtasks of one run."""
    results = list(results)
    return Stats(subtasks=len(results), solved=sum(r.solved for r in results),
                 episodes=sum(r.episodes for r in results), successes=sum(r.successes for r in results),
                 score_sum=sum(r.score_sum for r in results))


@dataclass
class Row:
    """One run on the leaderboard's panel: overall and per-category numbers."""
    run: Run
    overall: Stats
    categories: dict[str, Stats]

    @property
    def label(self) -> str:
        return self.run.label

    def as_dict(self) -> dict:
        return {"label": self.label, "path": str(self.run.path), "task": self.run.task, "agent": self.run.agent,
                "protocol_group": self.run.protocol_group, "protocol": self.run.protocol,
                "status": self.run.status, "complete": self.run.complete, "errors": self.run.errors,
                "expected_episodes": self.run.expected_episodes, **self.overall.as_dict(),
                "categories": {name: s.as_dict() for name, s in self.categories.items()}}


@dataclass
class Curve:
    """One experiment's evaluation rows, by iteration: what the picture per iteration draws."""
    name: str  # the experiment directory's name
    points: list[tuple[int, Row]]


@dataclass
class Leaderboard:
    rows: list[Row]
    categories: list[str]
    common: bool  # rows restricted to the subtasks every run has
    shared: set[SubtaskKey]  # subtasks in every run's panel
    union: set[SubtaskKey]  # subtasks in any run's panel
    warnings: list[str] = field(default_factory=list)
    protocol_groups: int = 1  # distinct comparable protocols among the rows
    pooled: bool = False  # built with pool: rows are labels (a method), not run directories
    by: str | None = None  # the subtask fact whose values are the columns instead of the categories
    facts: SubtaskFacts | None = None  # the rows' subtask facts, computed on first use

    @property
    def runs(self) -> list[Run]:
        return [row.run for row in self.rows]

    @property
    def panel(self) -> set[SubtaskKey]:
        """The subtasks the rows are computed on."""
        return self.shared if self.common else self.union

    def find(self, name: str | Path) -> Run:
        """A run by its label or its directory."""
        for run in self.runs:
            if run.label == str(name):
                return run
        target = place(name)
        for run in self.runs:
            if place(run.path) == target:
                return run
        raise LeaderboardError(f"no run labelled or located {str(name)!r}; runs: "
                               + ", ".join(repr(r.label) for r in self.runs))

    def curves(self) -> list["Curve"]:
        """Each experiment's rows by iteration (rows of runs outside iteration directories are left out).
        On a pooled board (rows are labels, e.g. a method over its seeds' experiments) there is one curve per
        label with its 'iter<N>' part taken out: 'EEF iter1' and 'EEF iter2' are the curve 'EEF'."""
        by_experiment: dict[Path | str, tuple[str, list[tuple[int, Row]]]] = {}
        for row in self.rows:
            found = iteration_of(row.run.path)
            if found is None:
                continue
            method = _ITERATION_IN_LABEL.sub("", row.label).strip() if self.pooled else ""
            key = method or found[0]
            by_experiment.setdefault(key, (method or found[0].name, []))[1].append((found[1], row))
        return [Curve(name, sorted(points, key=lambda p: p[0])) for name, points in by_experiment.values()]

    def per_subtask(self) -> "PerSubtask":
        return PerSubtask.of(self.runs, self.panel, self.warnings)

    def actions(self) -> "ActionUse":
        return ActionUse.of(self.runs, self.panel, self.warnings)

    def as_dict(self) -> dict:
        return {"common": self.common, "shared_subtasks": len(self.shared), "all_subtasks": len(self.union),
                "by": self.by, "categories": self.categories, "warnings": self.warnings,
                "runs": [row.as_dict() for row in self.rows]}


def build(paths: Iterable[str | Path], *, common: bool = False, labels: dict[str, str] | None = None,
          strict: bool = False, pool: bool = False, by: str | None = None) -> Leaderboard:
    """The leaderboard of every run at or below ``paths``.

    ``labels`` maps a run directory or a default label to the label to show. With ``common``,
    every row is computed on the subtasks all runs share; without it, rows over different
    panels carry a warning saying so. Rows are grouped by protocol (``harness.protocol``): a
    warning names each field in which they differ, and ``strict`` refuses to mix them. With
    ``pool``, runs given one label are one row (``pool_runs``). With ``by`` (a subtask fact, e.g.
    WebShop's ``difficulty``), the columns are that fact's values instead of the categories.
    """
    runs = [load_run(p) for p in find_runs(paths)]
    if not runs:
        raise LeaderboardError("no run or experiment directory given")
    _apply_labels(runs, labels or {}, unique=not pool)
    if pool:
        runs = pool_runs(runs)
    protocol_warnings = _group_by_protocol(runs)
    if strict and protocol_warnings:
        raise LeaderboardError("--strict: the runs do not share one protocol:\n  " + "\n  ".join(protocol_warnings))
    panels = [set(run.subtasks) for run in runs]
    union = set().union(*panels)
    shared = set.intersection(*panels)
    tasks = sorted({run.task for run in runs})
    if common and not shared:
        raise LeaderboardError("--common: no subtask is in every run's panel"
                               + (f" (the runs are of different tasks: {', '.join(tasks)})" if len(tasks) > 1 else ""))
    warnings = [f"{run.label}: {run.status}: its numbers cover only its finished episodes"
                for run in runs if not run.complete]
    warnings += protocol_warnings
    if len(tasks) > 1:
        warnings.append(f"the runs are of different tasks ({', '.join(tasks)}): their numbers are not comparable; "
                        "build one board per task")
    if not common and shared != union:
        if strict:
            raise LeaderboardError("--strict: the runs cover different subtask panels; pass --common to "
                                   "compare them on the subtasks they share")
        lacking = [f"{run.label} lacks {len(union - panel)}" for run, panel in zip(runs, panels) if panel != union]
        warnings.append(f"the runs cover different subtask panels ({len(union)} subtasks in all): "
                        f"{'; '.join(lacking)}; {len(shared)} are shared by every run "
                        "(--common restricts every row to them)")
    keep = shared if common else union
    facts = SubtaskFacts(runs)
    columns = [{k: r.category for k, r in run.subtasks.items()} for run in runs]
    if by is not None:
        columns = _columns_by_fact(runs, by, facts, warnings)
    rows = []
    for run, column in zip(runs, columns):
        results = [r for k, r in run.subtasks.items() if k in keep]
        by_cat: dict[str, list[SubtaskResult]] = {}
        for r in results:
            by_cat.setdefault(column[(r.task, r.subtask_id)], []).append(r)
        rows.append(Row(run, stats_of(results), {c: stats_of(rs) for c, rs in sorted(by_cat.items())}))
    rows.sort(key=lambda row: row.run.protocol_group)  # stable: the given order within a group
    categories = sorted({c for row in rows for c in row.categories})
    if by is not None:  # 'target page 10' after 'target page 2', no value last
        categories.sort(key=lambda c: (c == f"{by} unknown", natural_key(c)))
    return Leaderboard(rows, categories, common, shared, union, warnings,
                       protocol_groups=max(run.protocol_group for run in runs), by=by, facts=facts, pooled=pool)


def _columns_by_fact(runs: list[Run], by: str, facts: SubtaskFacts, warnings: list[str]) -> list[dict]:
    """Per run, each subtask's column: its value of fact ``by`` (``{by} unknown`` without one).
    No run's task having that fact is an error naming the facts there are."""
    found, names, problems = [], [], []
    for run in runs:
        run_facts, run_problems = facts.of(run)
        problems += [p for p in run_problems if p not in problems]
        names += [n for f in run_facts.values() for n in f]
        found.append(run_facts)
    names = list(dict.fromkeys(names))
    if by not in names:
        tasks = ", ".join(sorted({run.task for run in runs}))
        raise LeaderboardError(f"--by {by!r}: no subtask fact of that name for {tasks}; "
                               + (f"the facts there are: {', '.join(map(repr, names))}" if names
                                  else "its subtasks have no facts") + "".join(f"\n  {p}" for p in problems))
    warnings += problems
    out = []
    for run, run_facts in zip(runs, found):
        column = {k: _fact_column(by, run_facts[k][by]) if by in run_facts.get(k, {}) else f"{by} unknown"
                  for k in run.subtasks}
        missing = sum(c == f"{by} unknown" for c in column.values())
        if missing:
            warnings.append(f"{run.label}: {missing} subtasks have no {by!r} fact; their column is '{by} unknown'")
        out.append(column)
    return out


def _fact_column(by: str, value: str | int) -> str:
    """A word names its column ('hard'); a number says what it counts ('target page 2')."""
    return value if isinstance(value, str) else f"{by} {value}"


# ---------------------------------------------------------------- subtask facts

Facts = dict[str, str | int]  # fact name -> value, in the order the task gives them


class SubtaskFacts:
    """The runs' subtask facts (``Task.subtask_facts``, e.g. WebShop's difficulty), from the task each
    run's stored spec names: built once per distinct task spec, asked once for the subtasks of every
    run of that spec, then closed. A task that cannot be built here gives no facts and a warning."""

    def __init__(self, runs: Iterable[Run]):
        self._runs = list(runs)
        self._by_spec: dict[str, tuple[dict[str, Facts], str | None]] = {}

    def of(self, run: Run) -> tuple[dict[SubtaskKey, Facts], list[str]]:
        """The facts of the run's subtasks, and why some could not be computed (warnings)."""
        if not run.task_specs:
            return {}, [f"{run.label}: its spec.yaml has no task section: no subtask facts"]
        facts: dict[SubtaskKey, Facts] = {}
        problems = []
        for spec in run.task_specs:
            found, problem = self._of_spec(spec, run)
            problems += [problem] if problem else []
            facts.update({k: found[k[1]] for k in run.subtasks if k[1] in found and k not in facts})
        return facts, problems

    def _of_spec(self, spec: dict, run: Run) -> tuple[dict[str, Facts], str | None]:
        key = json.dumps(spec, sort_keys=True, default=str)
        if key not in self._by_spec:
            ids = {k[1] for r in [*self._runs, run] if spec in r.task_specs for k in r.subtasks}
            self._by_spec[key] = _task_facts(spec, ids)
        return self._by_spec[key]


def _task_facts(spec: dict, ids: set[str]) -> tuple[dict[str, Facts], str | None]:
    from harness import registry
    from harness.specs import resolve_plugin
    from harness.task import Task
    name = str(spec.get("name", "?"))
    try:
        cls = registry.lookup("task", name)
        if getattr(cls, "subtask_facts", None) is Task.subtask_facts:
            return {}, None  # the task states none: not worth building it
        task = registry.create("task", resolve_plugin("task", spec, f"task {name!r} of a run's spec.yaml"))
        try:
            return task.subtask_facts([st for st in task.subtasks() if st.id in ids]), None
        finally:
            task.close()
    except Exception as exc:  # a plugin may fail in any way; its runs' tables still show, without facts
        return {}, f"task {name}: no subtask facts (the task cannot be built here: {exc})"


def pool_runs(runs: list[Run]) -> list[Run]:
    """Runs sharing a label as one row (e.g. the seeds of one method): each subtask's episodes,
    successes and scores summed over the runs, as if one run had played them all (a subtask is
    solved when any of its episodes succeeds); runs of different tasks or protocols are refused."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.label, []).append(run)
    out = []
    for label, group in groups.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        if len({r.task for r in group}) > 1 or len({json.dumps(comparable(r.protocol or {}), sort_keys=True)
                                                   for r in group}) > 1:
            raise LeaderboardError(f"--pool: the runs labelled {label!r} differ in task or protocol: "
                                   + ", ".join(str(r.path) for r in group))
        subtasks: dict[SubtaskKey, SubtaskResult] = {}
        for r in group:
            for k, res in r.subtasks.items():
                acc = subtasks.setdefault(k, SubtaskResult(res.task, res.subtask_id, res.category))
                acc.episodes += res.episodes
                acc.successes += res.successes
                acc.score_sum += res.score_sum
                if res.shortest_win is not None:
                    acc.add_win(res.shortest_win)
        expected = [r.expected_episodes for r in group]
        specs = [t for r in group for t in r.task_specs]
        out.append(Run(path=group[0].path, label=label, task=group[0].task, agent=group[0].agent, subtasks=subtasks,
                       errors=sum(r.errors for r in group),
                       expected_episodes=None if None in expected else sum(expected),
                       summary_complete=all(r.summary_complete for r in group), protocol=group[0].protocol,
                       pooled=[r.path for r in group],
                       task_specs=[t for i, t in enumerate(specs) if t not in specs[:i]]))
    return out


def _group_by_protocol(runs: list[Run]) -> list[str]:
    """Number the runs' protocol groups; a warning per differing field, naming it and each row's value."""
    known = [run for run in runs if run.protocol is not None]
    groups: dict[str, int] = {}
    for run in known:
        key = json.dumps(comparable(run.protocol), sort_keys=True)
        run.protocol_group = groups.setdefault(key, len(groups) + 1)
    out = [f"the runs differ in protocol field {name!r} ("
           + "; ".join(f"{run.label}: {value}" for run, value in zip(known, values))
           + "): their numbers may not be comparable"
           for name, values in differences([run.protocol for run in known]).items()]
    old = [run.label for run in runs if run.protocol is None]
    if old and known:
        out.append(f"{', '.join(old)}: no protocol record (written before it existed): not checked against the others")
    return out


def _apply_labels(runs: list[Run], labels: dict[str, str], unique: bool = True) -> None:
    """Apply overrides (by path or default label); then (``unique``) make duplicate labels unique with the path."""
    for key, new in labels.items():
        where = place(key)
        matched = [run for run in runs if run.label == key or place(run.path) == where]
        if not matched:
            raise LeaderboardError(f"--label {key}={new}: {key!r} matches no run directory or label")
        for run in matched:
            run.label = new
    if not unique:
        return
    counts = Counter(run.label for run in runs)
    for run in runs:
        if counts[run.label] > 1:
            run.label = f"{run.label} ({run.path})"


# ---------------------------------------------------------------- views over runs

@dataclass
class PerSubtask:
    """Subtask x run matrix: each cell the run's counted episodes of that subtask (None: not in its panel)."""
    runs: list[Run]
    subtasks: list[tuple[SubtaskKey, str]]  # (key, category), by task, category, natural id
    multi_task: bool  # the subtasks come from more than one task: name them task/id
    warnings: list[str]  # the leaderboard's

    @classmethod
    def of(cls, runs: list[Run], panel: set[SubtaskKey], warnings: list[str]) -> "PerSubtask":
        category = {k: r.category for run in runs for k, r in run.subtasks.items() if k in panel}
        order = sorted(category, key=lambda k: (k[0], category[k], natural_key(k[1])))
        return cls(runs, [(k, category[k]) for k in order], len({k[0] for k in order}) > 1, warnings)

    def name(self, key: SubtaskKey) -> str:
        return f"{key[0]}/{key[1]}" if self.multi_task else key[1]

    def as_dict(self) -> dict:
        return {"runs": [run.label for run in self.runs], "warnings": self.warnings,
                "subtasks": [{"task": k[0], "subtask": k[1], "category": cat,
                              "runs": {run.label: _cell_dict(run.subtasks.get(k)) for run in self.runs}}
                             for k, cat in self.subtasks]}


def _cell_dict(r: SubtaskResult | None) -> dict | None:
    return None if r is None else {"solved": r.solved, "successes": r.successes, "episodes": r.episodes}


@dataclass
class HeadToHead:
    """Which subtasks A solves that B never does, and the reverse, on the subtasks both ran."""
    a: Run
    b: Run
    only_a: list[SubtaskKey]  # solved by A, attempted but never solved by B
    only_b: list[SubtaskKey]
    both: int
    neither: int
    a_unshared: int  # subtasks in A's panel that B has no counted episode of (not compared)
    b_unshared: int
    warnings: list[str]
    facts: dict[SubtaskKey, Facts] = field(default_factory=dict)  # of the listed subtasks (the task's, if any)
    fact_names: list[str] = field(default_factory=list)  # in the task's order

    @property
    def shared(self) -> int:
        return len(self.only_a) + len(self.only_b) + self.both + self.neither

    @property
    def p_value(self) -> float:
        """Paired: McNemar's exact test on the subtasks only one of the two solves (harness.stats)."""
        return mcnemar_exact_p(len(self.only_a), len(self.only_b))

    def as_dict(self) -> dict:
        def side(run: Run, only: list[SubtaskKey], unshared: int) -> dict:
            return {"label": run.label, "path": str(run.path), "solves_only": len(only), "not_compared": unshared,
                    "subtasks": [{"task": k[0], "subtask": k[1], "category": run.subtasks[k].category,
                                  "facts": self.facts.get(k, {}), "steps": run.subtasks[k].shortest_win}
                                 for k in only]}
        return {"a": side(self.a, self.only_a, self.a_unshared), "b": side(self.b, self.only_b, self.b_unshared),
                "shared_subtasks": self.shared, "both": self.both, "neither": self.neither,
                "p_value": self.p_value, "warnings": self.warnings}


def head_to_head(a: Run, b: Run, facts: SubtaskFacts | None = None) -> HeadToHead:
    """``facts``: where the subtask facts come from (a leaderboard's, to share its tasks); default: the two runs'."""
    shared = set(a.subtasks) & set(b.subtasks)

    def order(keys: Iterable[SubtaskKey]) -> list[SubtaskKey]:
        return sorted(keys, key=lambda k: (k[0], a.subtasks[k].category, natural_key(k[1])))

    solved_a = {k for k in shared if a.subtasks[k].solved}
    solved_b = {k for k in shared if b.subtasks[k].solved}
    a_unshared, b_unshared = len(set(a.subtasks) - shared), len(set(b.subtasks) - shared)
    warnings = [f"{run.label}: {run.status}: 'never solves' covers only its finished episodes"
                for run in (a, b) if not run.complete]
    if a_unshared or b_unshared:
        warnings.append(f"not compared: {a_unshared} subtasks only {a.label} ran, {b_unshared} only {b.label} ran")
    only_a, only_b = order(solved_a - solved_b), order(solved_b - solved_a)
    facts = SubtaskFacts([a, b]) if facts is None else facts
    known: dict[SubtaskKey, Facts] = {}
    for run in (b, a):  # A's where both have some
        run_facts, problems = facts.of(run)
        known.update(run_facts)
        warnings += [p for p in problems if p not in warnings]
    listed = {k: known[k] for k in only_a + only_b if k in known}
    names = [n for f in listed.values() for n in f]
    return HeadToHead(a, b, only_a=only_a, only_b=only_b,
                      both=len(solved_a & solved_b), neither=len(shared - solved_a - solved_b),
                      a_unshared=a_unshared, b_unshared=b_unshared, warnings=warnings,
                      facts=listed, fact_names=list(dict.fromkeys(names)))


# ---------------------------------------------------------------- action use

class _ActionStep(BaseModel):
    action: str | None


class _ActionBrief(BaseModel):
    """The fields of a record the action view reads."""
    id: str
    task: str
    subtask_id: str
    status: str
    prefix_steps: int = 0
    steps: list[_ActionStep]


@dataclass
class ActionUse:
    """How often each run's counted episodes use each kind of action (the task's ``action_kind``):
    the skills a method picked up (WebShop: Next >, < Prev, Back to Search, Description)."""
    runs: list[Run]
    kinds: list[str]  # columns: by overall use, most used first
    episodes: dict[str, int]  # run label -> counted episodes
    using: dict[str, Counter]  # run label -> kind -> episodes that take it at least once
    uses: dict[str, Counter]  # run label -> kind -> times taken
    warnings: list[str]

    @classmethod
    def of(cls, runs: list[Run], panel: set[SubtaskKey], warnings: list[str]) -> "ActionUse":
        episodes, using, uses, total = {}, {}, {}, Counter()
        for run in runs:
            kind_of = _action_kind_of(run.task)
            n, per_episode, per_action = 0, Counter(), Counter()
            for b in (b for path in run.paths for b in RunStore.open(path).iter_latest_briefs(_ActionBrief)):
                if b.status != "ok" or (b.task, b.subtask_id) not in panel:
                    continue
                kinds = [kind_of(s.action) for s in b.steps[b.prefix_steps:]]  # the agent's own steps
                n += 1
                per_action.update(kinds)
                per_episode.update(set(kinds))
            episodes[run.label], using[run.label], uses[run.label] = n, per_episode, per_action
            total.update(per_action)
        kinds = sorted(total, key=lambda k: (-total[k], k))
        return cls(runs, kinds, episodes, using, uses, warnings)

    def as_dict(self) -> dict:
        return {"kinds": self.kinds, "warnings": self.warnings,
                "runs": [{"label": r.label, "path": str(r.path), "episodes": self.episodes[r.label],
                          "episodes_using": {k: self.using[r.label][k] for k in self.kinds},
                          "uses": {k: self.uses[r.label][k] for k in self.kinds}} for r in self.runs]}


def _action_kind_of(task: str):
    """The task's ``action_kind``; the verb when the task's plugin cannot be loaded here."""
    from harness import registry
    from harness.errors import RegistryError
    from harness.task import Task
    try:
        return registry.lookup("task", task).action_kind
    except RegistryError:  # a run of a plugin that is not installed here still gets a view
        return Task.action_kind
