"""Where harness keeps what it builds once and reuses: converted models, split tables, search indexes."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$HARNESS_CACHE``, default ``~/.cache/harness`` (created on first use)."""
    d = Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness"))
    d.mkdir(parents=True, exist_ok=True)
    return d
