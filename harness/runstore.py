"""Run store: one directory per run.

    spec.yaml       the fully resolved spec
    meta.json       spec hash, package versions, git commit, command
    episodes.jsonl  one trajectory per line, appended and flushed per episode
    summary.json    written when the run ends (complete or not)

A crash loses at most the episodes in flight; ``--resume`` replays only the missing or errored
ones and refuses when the spec changed. A torn last line (a write cut by a crash) is detected and
cut off on resume, and said so.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Iterator, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict

from .errors import RunStoreError
from .rundir import EPISODES_FILE, SPEC_FILE, SUMMARY_FILE, Meta, kind_of, read_meta
from .trajectory import Trajectory, Usage

R = TypeVar("R", bound=BaseModel)

class EpisodeBrief(BaseModel):
    """The fields of a record that summaries and leaderboards read; parsing skips the rest."""
    model_config = ConfigDict(frozen=True)  # other fields of the record are ignored, not kept

    id: str
    task: str
    subtask_id: str
    category: str
    status: str
    success: bool
    score: float
    usage: Usage

    @property
    def key(self) -> str:
        return self.id  # as Trajectory.key


class _Key(BaseModel):
    id: str


def _digest(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def natural_key(text: str) -> list:
    """Sort key with numbers by value: 'mini:9#0' before 'mini:10#0', 'iter2' before 'iter10' (the split
    alternates text and digit runs, so two keys compare position by position)."""
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", text))]


_VERSIONED = ("harness", "pydantic", "scienceworld", "torch", "transformers", "peft", "trl", "openai", "vllm")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        res = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return res.stdout.strip() + ("-dirty" if dirty else "")


class RunStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock_fd: int | None = None
        self._fh = None

    # ------------------------------------------------------------ create / open

    @classmethod
    def create(cls, path: Path, spec_dict: dict, spec_hash: str, extra_meta: dict | None = None) -> "RunStore":
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise RunStoreError(f"{path} already exists; pass --resume {path} to finish it, or choose another --name")
        path.mkdir(parents=True, exist_ok=True)
        store = cls(path)
        store.lock()
        (path / SPEC_FILE).write_text(yaml.safe_dump(spec_dict, sort_keys=False))
        (path / EPISODES_FILE).touch()
        Meta.new("run", spec_hash, **(extra_meta or {})).write(path)  # last: a directory with meta is whole
        return store

    @classmethod
    def open(cls, path: Path) -> "RunStore":
        path = Path(path)
        if kind_of(path) != "run":
            raise RunStoreError(f"{path} is an experiment directory, not a run: its runs are the stage "
                                "directories below it (e.g. iter0/eval)")
        return cls(path)

    @property
    def meta(self) -> dict:
        return read_meta(self.path).model_dump()

    def spec_dict(self) -> dict:
        return yaml.safe_load((self.path / SPEC_FILE).read_text())

    def lock(self) -> None:
        """One writer per run directory: a second `harness run --resume` on it fails at once."""
        fd = os.open(self.path / ".lock", os.O_CREAT | os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunStoreError(f"{self.path} is in use by another harness process") from None
        self._lock_fd = fd

    # ------------------------------------------------------------ episodes

    def repair(self) -> int:
        """Cut a torn last line (no trailing newline or not valid JSON). Returns the bytes dropped."""
        f = self.path / EPISODES_FILE
        data = f.read_bytes()
        if not data:
            return 0
        keep = len(data)
        if not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
        else:
            last_start = data.rfind(b"\n", 0, len(data) - 1) + 1
            try:
                json.loads(data[last_start:])
            except ValueError:
                keep = last_start
        if keep < len(data):
            with open(f, "r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())
        return len(data) - keep

    def iter_episodes(self) -> Iterator[Trajectory]:
        """Every stored record, in write order (a retried episode appears more than once)."""
        return self._records(Trajectory)

    def _records(self, model: type[R]) -> Iterator[R]:
        with open(self.path / EPISODES_FILE, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.endswith(b"\n"):
                    break  # a torn tail: not an episode until repaired
                line = line.strip()
                if line:
                    try:
                        yield model.model_validate_json(line)
                    except ValueError as exc:
                        raise RunStoreError(f"{self.path / EPISODES_FILE}:{lineno}: corrupt record: {exc}") from exc

    def latest(self) -> dict[str, Trajectory]:
        """The last record of each episode id (a retried episode supersedes its error), in id order
        (numbers by value): the file holds episodes in the order they finished, which scheduling
        decides, and trainers select and order their training data from this."""
        out: dict[str, Trajectory] = {}
        for t in self.iter_episodes():
            out[t.key] = t
        return {k: out[k] for k in sorted(out, key=natural_key)}

    def iter_latest_briefs(self, model: type[R] = EpisodeBrief) -> Iterator[R]:
        """The brief of each episode's last record, streamed (as ``latest`` but without a dict of records).
        ``model`` picks the fields read (an ``EpisodeBrief`` or another model with ``id``).

        A first pass finds the records that a later one supersedes, keeping one 64-bit digest per
        episode; records appended after that pass are not read (a snapshot of a live run).
        """
        seen: set[int] = set()
        last_of_repeated: dict[int, int] = {}  # digest -> index of its last record, for repeated episodes only
        count = 0
        for count, rec in enumerate(self._records(_Key), 1):
            d = _digest(rec.id)
            if d in seen:
                last_of_repeated[d] = count - 1
            seen.add(d)
        del seen
        for i, brief in enumerate(self._records(model)):
            if i == count:
                break
            last = last_of_repeated.get(_digest(brief.id)) if last_of_repeated else None
            if last is None or last == i:
                yield brief

    def finished_keys(self) -> set[str]:
        return {b.key for b in self.iter_latest_briefs() if b.status in ("ok", "not_tried")}

    def append(self, traj: Trajectory) -> None:
        if self._fh is None:
            self._fh = open(self.path / EPISODES_FILE, "a", encoding="utf-8")
        self._fh.write(traj.model_dump_json() + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def write_summary(self, summary: dict) -> None:
        tmp = self.path / (SUMMARY_FILE + ".tmp")
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, self.path / SUMMARY_FILE)  # atomic: a reader never sees half a summary

    def summary(self) -> dict | None:
        f = self.path / SUMMARY_FILE
        return json.loads(f.read_text()) if f.is_file() else None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
