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


EEF_KEYS = ("failed_experts_explored", "states_tried", "states_solved", "beneficial_segments", "harmful_segments",
            "important_states", "eef_examples", "subtasks_newly_solved_by_eef")
EEF_HEADERS = ["failed experts explored", "states tried", "states solved", "beneficial segments", "harmful segments",
               "important states", "EEF examples", "subtasks newly solved by exploration"]


def markdown_table(text):
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return cells[0], {row[0]: dict(zip(cells[0], row)) for row in cells[2:]}


def write_experiment(path, trainer, selections):
    path.mkdir()
    (path / "spec.yaml").write_text(f"task: {{name: webshop-mini}}\ntrainer: {{name: {trainer}}}\n")
    (path / "meta.json").write_text(json.dumps({"kind": "experiment", "spec_hash": "h", "created": "x"}))
    ev = {"win_rate": 0.5, "win_rate_se": 0.1, "mean_score": 60.0, "subtasks": 10, "subtasks_solved": 5, "episodes": 10}
    its = [{"iteration": 0, "expert_successes": 7, "eval": ev}] + [
        {"iteration": i, "rollouts": ev, "selection": sel, "training_examples": 20 + i, "eval": ev}
        for i, sel in enumerate(selections, 1)]
    (path / "summary.json").write_text(json.dumps({"trainer": trainer, "iterations": its}))
    return path


def test_show_publishes_eefs_decisions_per_iteration(tmp_path):
    sel = [{k: 10 * it + j for j, k in enumerate(EEF_KEYS)} for it in (1, 2)]  # every number distinct
    exp = write_experiment(tmp_path / "eef", "eef", sel)
    out = tmp_path / "eef.md"
    res = subprocess.run(harness_cmd() + ["show", str(exp), "--format", "markdown", "-o", str(out)], env=cli_env(),
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    header, rows = markdown_table(out.read_text())
    assert header == ["iteration", "training examples", "rollouts solved", *EEF_HEADERS, "eval solved",
                      "eval win rate", "95% CI", "mean score"]
    for it in (1, 2):
        assert [rows[str(it)][h] for h in EEF_HEADERS] == [str(sel[it - 1][k]) for k in EEF_KEYS]
        assert rows[str(it)]["training examples"] == str(20 + it)
    assert [rows["0 (SFT)"][h] for h in EEF_HEADERS] == [""] * len(EEF_HEADERS)
    assert "harmful, masked; each ends at a recovery state" in out.read_text()
    # in a terminal too narrow for one table, the decisions are a table of their own
    narrow = show(exp)
    assert narrow.returncode == 0, narrow.stderr
    assert "EEF's decisions per iteration" in narrow.stdout and "eval win rate" in narrow.stdout


def test_show_of_an_rft_experiment_has_no_eef_columns(tmp_path):
    zeros = [dict.fromkeys(EEF_KEYS, 0)]  # RFT writes the same selection block, never exploring
    exp = write_experiment(tmp_path / "rft", "rft", zeros)
    for path in (exp, REPO / "results" / "cpu-sciworld" / "runs" / "rft"):
        res = subprocess.run(harness_cmd() + ["show", str(path), "--format", "markdown"], env=cli_env(), cwd=REPO,
                             capture_output=True, text=True, timeout=120)
        header, rows = markdown_table(res.stdout)
        assert res.returncode == 0 and "states tried / solved" in header and not set(EEF_HEADERS) & set(header)
        assert rows["1"]["states tried / solved"] == "0 / 0"


def test_show_of_the_kept_eef_experiment_gives_its_summarys_numbers():
    from harness.display import experiment_table
    path = REPO / "results" / "cpu-sciworld" / "runs" / "eef"
    sel = json.loads((path / "summary.json").read_text())["iterations"][1]["selection"]
    header, rows = markdown_table(experiment_table(path).markdown())
    assert [rows["1"][h] for h in EEF_HEADERS] == [str(sel[k]) for k in EEF_KEYS]
    run = path.parent / "rft" / "iter1" / "eval"  # a run, not an experiment
    res = subprocess.run(harness_cmd() + ["show", str(run), "--format", "markdown"], env=cli_env(), cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "experiment directories" in res.stderr
