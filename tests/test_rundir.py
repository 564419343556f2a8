"""The run directory schema: one function says what a directory is; `harness show` reads runs and
experiments (including the kept runs, written before the schema had a version)."""
import json
import subprocess

import pytest

from conftest import REPO, TOY_AGENT, TOY_TASK, cli_env, harness_cmd
from harness.errors import RunStoreError
from harness.rundir import FORMAT_VERSION, kind_of, read_meta

KEPT = sorted(p.parent for p in (REPO / "results" / "cpu-sciworld").rglob("meta.json"))  # written before versions


def show(path):
    return subprocess.run(harness_cmd() + ["show", str(path)], env=cli_env(COLUMNS="120"), cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_kept_runs_of_the_old_format_still_load():
    assert len(KEPT) >= 6
    kinds = {p: kind_of(p) for p in KEPT}
    assert {p.name for p, k in kinds.items() if k == "experiment"} == {"eef", "rft"}
    for p, kind in kinds.items():
        assert read_meta(p).format_version == 1
        res = show(p)
        assert res.returncode == 0, res.stderr
        if kind == "experiment":
            assert "0 (SFT)" in res.stdout and "eval win rate" in res.stdout
        else:
            assert "overall" in res.stdout and "95% CI" in res.stdout


def test_a_new_run_writes_a_versioned_utc_meta_record(tmp_path):
    res = subprocess.run(harness_cmd() + ["run", "-T", f"name={TOY_TASK}", "-A", f"name={TOY_AGENT}",
                                          "-R", f"out_dir={tmp_path}", "-R", "name=r", "-R", "progress=false"],
                         env=cli_env(), cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    meta = read_meta(tmp_path / "r")
    assert (meta.kind, meta.format_version) == ("run", FORMAT_VERSION)
    assert meta.created.endswith("+00:00") and meta.protocol["task"] == "counter"
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    lo, hi = summary["win_rate_ci95"]
    assert 0 <= lo <= summary["win_rate"] <= hi <= 1


@pytest.mark.parametrize("make", ["empty", "bad-json", "not-meta", "no-episodes"])
def test_anything_else_is_one_clear_error_naming_the_file(tmp_path, make):
    d = tmp_path / make
    d.mkdir()
    if make != "empty":
        (d / "spec.yaml").write_text("task: {name: x}\n")
        (d / "meta.json").write_text({"bad-json": "{", "not-meta": '{"hello": 1}',
                                      "no-episodes": '{"spec_hash": "a", "created": "x"}'}[make])
    with pytest.raises(RunStoreError) as exc:
        kind_of(d)
    assert str(d) in str(exc.value)
    res = show(d)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    want = {"empty": "no meta.json", "bad-json": "not valid JSON", "not-meta": "spec_hash",
            "no-episodes": "without episodes.jsonl"}[make]
    assert want in res.stderr and "Traceback" not in res.stderr
