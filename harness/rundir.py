"""The run directory's schema, owned by the core: what ``meta.json`` and ``summary.json`` hold, and
the one function that says what a directory is.

A *run* directory holds ``spec.yaml``, ``meta.json`` (``kind: run``), ``episodes.jsonl`` and
``summary.json``; an *experiment* directory holds ``spec.yaml``, ``meta.json`` (``kind:
experiment``), ``progress.jsonl``, ``summary.json`` (per iteration) and its stages' run
directories. ``format_version`` 1 is what harness wrote before this schema (no version field;
experiments' times in local time); it still loads.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import RunStoreError

FORMAT_VERSION = 2
SPEC_FILE = "spec.yaml"
META_FILE = "meta.json"
EPISODES_FILE = "episodes.jsonl"
SUMMARY_FILE = "summary.json"

Kind = Literal["run", "experiment"]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Meta(BaseModel):
    """``meta.json``: what the directory is, and what produced it."""
    model_config = ConfigDict(extra="allow")  # older and newer writers may add fields

    kind: Kind = "run"
    format_version: int = 1
    spec_hash: str | None = None  # None only in hand-made or very old directories
    run_spec_hash: str | None = None  # runs of explicit jobs (EEF's restarts): spec_hash also covers the
    # job ids, which spec.yaml does not hold; this is the hash of spec.yaml alone
    created: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    git_commit: str | None = None
    command: list[str] = Field(default_factory=list)
    protocol: dict[str, Any] | None = None  # runs only (harness.protocol); None before format 2

    @classmethod
    def new(cls, kind: Kind, spec_hash: str, **extra) -> "Meta":
        from .runstore import git_commit, package_versions
        return cls(kind=kind, format_version=FORMAT_VERSION, spec_hash=spec_hash, created=utc_now(),
                   versions=package_versions(), git_commit=git_commit(), command=list(sys.argv), **extra)

    def write(self, directory: Path) -> None:
        (Path(directory) / META_FILE).write_text(self.model_dump_json(indent=2, exclude_none=True))


class CategorySummary(BaseModel):
    model_config = ConfigDict(extra="allow")
    episodes: int
    successes: int
    win_rate: float
    mean_score: float
    subtasks: int
    subtasks_solved: int


class RunSummary(CategorySummary):
    """``summary.json`` of a run (``harness.summary.summarize``; statistics: ``harness.stats``)."""
    errors: int = 0
    not_tried: int = 0
    win_rate_se: float = 0.0
    categories: dict[str, CategorySummary] = Field(default_factory=dict)
    expected_episodes: int | None = None
    complete: bool | None = None


class ExperimentSummary(BaseModel):
    """``summary.json`` of an experiment: one line per finished iteration."""
    model_config = ConfigDict(extra="allow")
    trainer: str
    iterations: list[dict[str, Any]] = Field(default_factory=list)


def read_meta(directory: Path) -> Meta:
    f = Path(directory) / META_FILE
    try:
        data = json.loads(f.read_text())
    except OSError:
        raise RunStoreError(f"{directory} is not a run or experiment directory (no {META_FILE}); "
                            "`harness run` and `harness train` write one") from None
    except ValueError as exc:
        raise RunStoreError(f"{f}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not ({"kind", "spec_hash"} & set(data)):
        raise RunStoreError(f"{f}: not a harness meta record (it has neither kind nor spec_hash)")
    data.setdefault("kind", "run")  # format 1 runs had no kind
    try:
        return Meta.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) or "(top level)" for e in exc.errors())
        raise RunStoreError(f"{f}: not a harness meta record (bad or missing: {fields})") from None


def kind_of(directory: Path) -> Kind:
    """'run' or 'experiment'; a clear error, naming the file, for anything else."""
    directory = Path(directory)
    meta = read_meta(directory)
    need = [SPEC_FILE] + ([EPISODES_FILE] if meta.kind == "run" else [])
    missing = [n for n in need if not (directory / n).is_file()]
    if missing:
        raise RunStoreError(f"{directory}: a {meta.kind} directory without {', '.join(missing)}")
    return meta.kind


def is_kind(directory: Path, kind: Kind) -> bool:
    try:
        return kind_of(directory) == kind
    except RunStoreError:
        return False
