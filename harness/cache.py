"""Where harness keeps what it builds once and reuses: converted models, split tables, search indexes."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Callable


def cache_dir() -> Path:
    """``$HARNESS_CACHE``, default ``~/.cache/harness`` (created on first use)."""
    d = Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def build_once(out: Path, marker: str, build: Callable[[Path], None], lock_name: str) -> Path:
    """``out``, built by ``build(out)`` unless ``out/marker`` exists: under a file lock beside it, so two
    processes never build it at once (the second finds it built)."""
    if (out / marker).is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / lock_name, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / marker).is_file():
            build(out)
    return out
