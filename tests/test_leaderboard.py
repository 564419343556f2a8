"""Leaderboards from hand-written run directories whose every number is known."""
import csv
import io
import json
import math
import re
import subprocess
import tracemalloc

import pytest
import yaml

from conftest import REPO, harness_cmd
from harness.runstore import RunStore
from harness.stats import mcnemar_exact_p
from harness.summary import summarize
from harness.trajectory import Message, Trajectory
from harness.leaderboards.core import LeaderboardError, build, find_runs, head_to_head, load_run
from harness.leaderboards.render import render

CAT = {"b": "boil", "m": "melt", "x": "freeze"}


def write_run(path, outcomes, *, expected=None, summary=True, agent=None, trainer=None, padding=0):
    """A run directory from ``(subtask, sample, success, score)`` records, in write order.

    ``score=None`` records an errored episode. The category is named by the subtask's first letter.
    """
    path.mkdir(parents=True)
    spec = {"task": {"name": "sciworld"}, "agent": agent or {"name": "noisy_expert"}, "run": {"samples": 2}}
    if trainer:
        spec["trainer"] = {"name": trainer}
    (path / "spec.yaml").write_text(yaml.safe_dump(spec))
    (path / "meta.json").write_text(json.dumps({"spec_hash": "x"}))
    with open(path / "episodes.jsonl", "w") as fh:
        for subtask, sample, success, score in outcomes:
            t = Trajectory(id=f"{subtask}#{sample}", task="sciworld", subtask_id=subtask, category=CAT[subtask[0]],
                           sample=sample, success=success, score=score or 0.0,
                           status="error" if score is None else "ok", error=None if score is not None else "boom",
                           messages=[Message(role="user", content="x" * padding)] if padding else [])
            fh.write(t.model_dump_json() + "\n")
    if summary:
        store = RunStore.open(path)
        store.write_summary(summarize(store.latest().values(), expected=expected))
    return path


# eef: 10 episodes, 4 successes, scores sum 550; solves b1 b3 m1 (boil 2/3, melt 1/2)
EEF = [("b1", 0, True, 100), ("b1", 1, False, 40), ("b2", 0, False, 20), ("b2", 1, False, 30),
       ("b3", 0, True, 100), ("b3", 1, True, 100), ("m1", 0, False, 50), ("m1", 1, True, 100),
       ("m2", 0, False, 0), ("m2", 1, False, 10)]
# rft: 10 episodes, 3 successes, scores sum 320; solves b2 b3 (boil 2/3, melt 0/2)
RFT = [("b1", 0, False, 10), ("b1", 1, False, 10), ("b2", 0, True, 100), ("b2", 1, False, 0),
       ("b3", 0, True, 100), ("b3", 1, True, 100), ("m1", 0, False, 0), ("m1", 1, False, 0),
       ("m2", 0, False, 0), ("m2", 1, False, 0)]
# partial: 8 expected; b1#1 errored then finished; x1#1 still errored -> 5 counted, 2 successes, score 250
PARTIAL = [("b1", 0, True, 100), ("b1", 1, False, None), ("b2", 0, False, 0), ("b2", 1, False, 0),
           ("x1", 0, True, 100), ("x1", 1, False, None), ("b1", 1, False, 50)]


@pytest.fixture
def exp(tmp_path):
    """An experiment directory: eef and rft over the same 5 subtasks, plus an incomplete run over 3."""
    root = tmp_path / "exp"
    write_run(root / "eef", EEF, expected=10, agent={"name": "hf", "model": "/models/eef-ckpt"})
    write_run(root / "rft", RFT, expected=10, agent={"name": "hf", "model": "/models/rft-ckpt"})
    write_run(root / "partial", PARTIAL, expected=8)
    return root


def se(p, n):
    return math.sqrt(p * (1 - p) / n)


def rows(lb):
    return {row.label: row for row in lb.rows}


def test_every_number_of_each_row(exp):
    lb = build([exp])
    assert [r.label for r in lb.runs] == ["hf eef-ckpt", "noisy_expert", "hf rft-ckpt"]  # path order
    r = rows(lb)
    eef, rft, part = r["hf eef-ckpt"], r["hf rft-ckpt"], r["noisy_expert"]
    assert lb.categories == ["boil", "freeze", "melt"]

    assert (eef.overall.episodes, eef.overall.successes, eef.overall.solved, eef.overall.subtasks) == (10, 4, 3, 5)
    assert eef.overall.win_rate == 0.4 and eef.overall.win_rate_se == pytest.approx(se(0.4, 10))
    assert eef.overall.mean_score == pytest.approx(55.0)
    assert (eef.categories["boil"].solved, eef.categories["boil"].subtasks) == (2, 3)
    assert (eef.categories["melt"].solved, eef.categories["melt"].subtasks) == (1, 2)
    assert eef.categories["boil"].win_rate == 0.5 and eef.categories["melt"].mean_score == 40.0
    assert "freeze" not in eef.categories

    assert (rft.overall.episodes, rft.overall.successes, rft.overall.solved) == (10, 3, 2)
    assert rft.overall.win_rate_se == pytest.approx(se(0.3, 10)) and rft.overall.mean_score == pytest.approx(32.0)
    assert rft.categories["melt"].solved == 0 and rft.categories["boil"].solved == 2

    # latest record per (subtask, sample): b1#1's error is superseded, x1#1's is not
    assert (part.overall.episodes, part.overall.successes, part.overall.solved, part.overall.subtasks) == (5, 2, 2, 3)
    assert part.overall.win_rate_se == pytest.approx(se(0.4, 5)) and part.overall.mean_score == pytest.approx(50.0)
    assert (part.categories["boil"].solved, part.categories["boil"].subtasks) == (1, 2)
    assert (part.categories["freeze"].solved, part.categories["freeze"].subtasks) == (1, 1)
    assert part.run.errors == 1


def test_rows_agree_with_the_run_summary(exp):
    for row in build([exp]).rows:
        s = summarize(RunStore.open(row.run.path).latest().values())
        o = row.overall
        assert (o.episodes, o.successes, o.subtasks, o.solved) == (
            s["episodes"], s["successes"], s["subtasks"], s["subtasks_solved"])
        assert (o.win_rate, o.win_rate_se, o.mean_score) == pytest.approx(
            (s["win_rate"], s["win_rate_se"], s["mean_score"]))


def test_incomplete_runs_are_marked(exp, tmp_path):
    write_run(tmp_path / "nosummary", EEF[:2], summary=False)
    # summary.json says complete, but fewer episodes are on disk than it expects
    write_run(tmp_path / "short", EEF, expected=12)
    (tmp_path / "short" / "summary.json").write_text(json.dumps({"complete": True, "expected_episodes": 12}))
    lb = build([exp, tmp_path / "nosummary", tmp_path / "short"], labels={
        str(tmp_path / "nosummary"): "nosummary", str(tmp_path / "short"): "short"})
    status = {run.label: run.status for run in lb.runs}
    assert status["hf eef-ckpt"] == "complete" and lb.find("hf eef-ckpt").complete
    assert status["noisy_expert"] == "INCOMPLETE 5/8 (1 errored)"
    assert status["nosummary"] == "INCOMPLETE 2/? (no summary.json)"
    assert status["short"] == "INCOMPLETE 10/12"
    incomplete = [w for w in lb.warnings if "INCOMPLETE" in w]
    assert len(incomplete) == 3 and all("finished episodes" in w for w in incomplete)


def test_different_panels_are_flagged_and_common_restricts(exp):
    lb = build([exp])
    assert len(lb.union) == 6 and lb.shared == {("sciworld", "b1"), ("sciworld", "b2")}
    [panel] = [w for w in lb.warnings if "panels" in w]
    assert "6 subtasks in all" in panel and "2 are shared by every run" in panel
    assert "hf eef-ckpt lacks 1" in panel and "hf rft-ckpt lacks 1" in panel and "noisy_expert lacks 3" in panel

    common = build([exp], common=True)
    assert not any("panels" in w for w in common.warnings)
    r = rows(common)
    assert common.categories == ["boil"]
    for label, successes, score in (("hf eef-ckpt", 1, 47.5), ("hf rft-ckpt", 1, 30.0), ("noisy_expert", 1, 37.5)):
        o = r[label].overall
        assert (o.subtasks, o.solved, o.episodes, o.successes) == (2, 1, 4, successes)
        assert o.win_rate == 0.25 and o.win_rate_se == pytest.approx(se(0.25, 4))
        assert o.mean_score == pytest.approx(score)


def test_same_panel_gives_no_panel_warning_and_common_with_nothing_shared_fails(exp, tmp_path):
    assert build([exp / "eef", exp / "rft"]).warnings == []
    write_run(tmp_path / "other", [("m9", 0, True, 100)], expected=1)
    with pytest.raises(LeaderboardError, match="no subtask"):
        build([exp / "eef", tmp_path / "other"], common=True)


def test_head_to_head(exp):
    lb = build([exp])
    h = head_to_head(lb.find("hf eef-ckpt"), lb.find(exp / "rft"))
    assert [k[1] for k in h.only_a] == ["b1", "m1"] and [k[1] for k in h.only_b] == ["b2"]
    assert (h.both, h.neither, h.shared, h.a_unshared, h.b_unshared) == (1, 1, 5, 0, 0)
    assert h.warnings == []
    d = h.as_dict()
    assert d["a"]["solves_only"] == 2 and d["b"]["solves_only"] == 1
    assert [s["subtask"] for s in d["a"]["subtasks"]] == ["b1", "m1"]
    assert h.p_value == d["p_value"] == 1.0  # 2 against 1: P(split at least this uneven) = 2 * 4/8, capped

    # against the incomplete run only b1 and b2 are compared: it solves b1, rft b2
    h = head_to_head(lb.find("noisy_expert"), lb.find("hf rft-ckpt"))
    assert [k[1] for k in h.only_a] == ["b1"] and [k[1] for k in h.only_b] == ["b2"]
    assert (h.both, h.neither, h.shared, h.a_unshared, h.b_unshared) == (0, 0, 2, 1, 3)
    assert any("INCOMPLETE" in w for w in h.warnings) and any("not compared: 1" in w for w in h.warnings)


def test_per_subtask_matrix(exp):
    ps = build([exp]).per_subtask()
    assert [ps.name(k) for k, _ in ps.subtasks] == ["b1", "b2", "b3", "x1", "m1", "m2"]  # by category, then id
    solved = {(k[1], run.label): run.subtasks[k].solved for k, _ in ps.subtasks for run in ps.runs if k in run.subtasks}
    assert {s for (s, label), v in solved.items() if v and label == "hf eef-ckpt"} == {"b1", "b3", "m1"}
    assert {s for (s, label), v in solved.items() if v and label == "noisy_expert"} == {"b1", "x1"}
    assert ("m1", "noisy_expert") not in solved
    text = render(ps, "markdown")
    assert re.search(r"\| b1 +\| boil +\| +✓ 1/2 \| +✓ 1/2 \| +✗ 0/2 \|", text)
    assert re.search(r"\| m1 +\| melt +\| +✓ 1/2 \| +\| +✗ 0/2 \|", text)


def test_labels_from_experiment_layout_overrides_and_duplicates(tmp_path):
    for i in (10, 2, 1):
        write_run(tmp_path / "eefexp" / f"iter{i}" / "eval", EEF, expected=10)
    write_run(tmp_path / "t" / "iter_3", EEF, expected=10, trainer="rft")
    write_run(tmp_path / "a", EEF, expected=10)
    write_run(tmp_path / "b", EEF, expected=10)
    assert [p.parent.name for p in find_runs([tmp_path / "eefexp"])] == ["iter1", "iter2", "iter10"]
    lb = build([tmp_path / "eefexp", tmp_path / "t", tmp_path / "a", tmp_path / "b", tmp_path / "a"],
               labels={"eefexp iter1": "first", str(tmp_path / "t" / "iter_3"): "third"})
    assert [r.label for r in lb.runs] == ["first", "eefexp iter2", "eefexp iter10", "third",
                                          f"noisy_expert ({tmp_path / 'a'})", f"noisy_expert ({tmp_path / 'b'})"]
    assert load_run(tmp_path / "t" / "iter_3").label == "rft iter3"
    with pytest.raises(LeaderboardError, match="matches no run"):
        build([tmp_path / "a"], labels={"nope": "x"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(LeaderboardError, match="no run directory"):
        build([tmp_path / "empty"])


def test_memory_stays_flat_for_large_runs(tmp_path):
    n, pad = 300, 20_000
    write_run(tmp_path / "big", [(f"b{i}", 0, i % 3 == 0, 100 if i % 3 == 0 else 0) for i in range(n)],
              expected=n, padding=pad)
    tracemalloc.start()
    run = load_run(tmp_path / "big")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert run.episodes == n and sum(r.solved for r in run.subtasks.values()) == 100
    assert peak < n * pad / 10  # the 6 MB of messages are never held at once


# ---------------------------------------------------------------- formats

def test_markdown(exp):
    text = render(build([exp]), "markdown")
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["run", "status", "win rate", "95% CI", "mean score", "solved", "episodes", "boil", "freeze",
                      "melt"]
    table = {cells[0]: cells for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])}
    assert table["hf eef-ckpt"][1:] == ["complete", "40.0% ± 15.5", "16.8–68.7", "55.0", "3/5", "10",
                                        "66.7% (2/3)", "—", "50.0% (1/2)"]
    assert table["hf rft-ckpt"][2:] == ["30.0% ± 14.5", "10.8–60.3", "32.0", "2/5", "10", "66.7% (2/3)", "—",
                                        "0.0% (0/2)"]
    assert table["noisy_expert"][1:] == ["INCOMPLETE 5/8 (1 errored)", "40.0% ± 21.9", "11.8–76.9", "50.0", "2/3",
                                         "5", "50.0% (1/2)", "100.0% (1/1)", "—"]
    assert "> **Warning:** the runs cover different subtask panels" in text
    assert "## Leaderboard — 6 subtasks" in text
    common = render(build([exp], common=True), "markdown")
    assert "## Leaderboard — 2 subtasks shared by every run (--common)" in common


def test_csv(exp):
    recs = {r["label"]: r for r in csv.DictReader(io.StringIO(render(build([exp]), "csv")))}
    eef, part = recs["hf eef-ckpt"], recs["noisy_expert"]
    assert float(eef["win_rate"]) == 0.4 and float(eef["win_rate_se"]) == pytest.approx(se(0.4, 10))
    assert float(eef["mean_score"]) == 55.0 and eef["subtasks_solved"] == "3" and eef["subtasks"] == "5"
    assert (eef["boil solved"], eef["boil subtasks"], eef["freeze solved"], eef["melt solved"]) == ("2", "3", "", "1")
    assert part["status"] == "INCOMPLETE 5/8 (1 errored)" and part["complete"] == "False"
    assert (part["episodes"], part["expected_episodes"], part["errors"]) == ("5", "8", "1")

    lb = build([exp])
    h2h = list(csv.DictReader(io.StringIO(render(head_to_head(lb.find("hf eef-ckpt"), lb.find("hf rft-ckpt")), "csv"))))
    assert [(r["subtask"], r["category"], r["solved_only_by"]) for r in h2h] == [
        ("b1", "boil", "hf eef-ckpt"), ("m1", "melt", "hf eef-ckpt"), ("b2", "boil", "hf rft-ckpt")]
    ps = {r["subtask"]: r for r in csv.DictReader(io.StringIO(render(lb.per_subtask(), "csv")))}
    assert (ps["m1"]["hf eef-ckpt solved"], ps["m1"]["hf eef-ckpt successes"], ps["m1"]["noisy_expert episodes"]) == (
        "1", "1", "")


def test_json(exp):
    d = json.loads(render(build([exp]), "json"))
    runs = {r["label"]: r for r in d["runs"]}
    assert runs["hf rft-ckpt"]["win_rate"] == pytest.approx(0.3) and runs["hf rft-ckpt"]["mean_score"] == 32.0
    assert runs["hf rft-ckpt"]["categories"]["melt"] == {
        "subtasks": 2, "subtasks_solved": 0, "solve_rate": 0.0, "episodes": 4, "successes": 0, "win_rate": 0.0,
        "win_rate_se": 0.0, "mean_score": 0.0,
        "win_rate_ci95": [0.0, pytest.approx(0.4899, abs=1e-4)],
        "solve_rate_ci95": [0.0, pytest.approx(0.6576, abs=1e-4)]}
    assert runs["noisy_expert"]["complete"] is False and runs["noisy_expert"]["errors"] == 1
    assert (d["shared_subtasks"], d["all_subtasks"], d["common"]) == (2, 6, False)
    assert any("panels" in w for w in d["warnings"])


def test_html_and_rich(exp):
    lb = build([exp])
    page = render(lb, "html")
    assert page.startswith("<!doctype html>") and "<script>" in page and "http" not in page  # nothing fetched
    body = re.findall(r"<tr[^>]*>(.*?)</tr>", page)
    assert len(body) == 4  # header + 3 runs
    assert '<tr class="incomplete"><td data-sort="noisy_expert">noisy_expert</td>' in page
    assert 'data-sort="0.4">40.0% ± 15.5</td>' in page
    # a category cell: the count, shaded by the solve rate, the rate on hover; the header upright, whole on hover
    assert ('<td class=num style="background:rgba(46,160,67,0.49)" title="66.7% (2/3)" '
            'data-sort="0.6666666666666666">2/3</td>') in page
    assert '<th data-key="cat:boil" data-numeric class="cat" title="boil">boil</th>' in page
    assert page.index('data-key="win_rate"') < page.index('data-key="cat:boil"')  # overall numbers first
    h2h = render(head_to_head(lb.find("hf eef-ckpt"), lb.find("hf rft-ckpt")), "html")
    assert "<caption>Solved by hf eef-ckpt, never by hf rft-ckpt (2)</caption>" in h2h
    text = render(lb, "rich")
    assert "66.7% (2/3)" in text and "INCOMPLETE 5/8 (1 errored)" in text and "warning:" in text


# ---------------------------------------------------------------- CLI

def cli(*args):
    return subprocess.run(harness_cmd() + ["leaderboard", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_cli_json_vs_and_errors(exp, tmp_path):
    res = cli(exp, "--common", "--format", "json", "--label", f"{exp / 'partial'}=partial")
    assert res.returncode == 0, res.stderr
    runs = {r["label"]: r for r in json.loads(res.stdout)["runs"]}
    assert runs["partial"]["win_rate"] == 0.25 and runs["partial"]["subtasks"] == 2

    out = tmp_path / "h2h.md"
    res = cli("--vs", exp / "eef", exp / "rft", "--format", "markdown", "-o", out)
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    assert "## Head-to-head: hf eef-ckpt vs hf rft-ckpt" in text
    assert re.search(r"\| solved by hf eef-ckpt, never by hf rft-ckpt +\| +2 \|", text)
    assert re.search(r"\| solved by hf rft-ckpt, never by hf eef-ckpt +\| +1 \|", text)
    assert "of the 3 subtasks only one of the two solves, hf eef-ckpt solves 2; McNemar's exact p = 1 " in text

    res = cli(exp, "--vs", "nope", "hf rft-ckpt")
    assert res.returncode == 2 and "no run labelled or located 'nope'" in res.stderr
    res = cli(exp, "--format", "csv")
    assert res.returncode == 0 and "warning:" in res.stderr and res.stdout.startswith("label,path,status")


def test_experiment_directory_is_searched_not_taken_for_a_run(tmp_path):
    """An experiment directory has spec.yaml and meta.json of its own but no episodes."""
    from harness.runstore import RunStore
    from harness.trajectory import Trajectory
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "spec.yaml").write_text("trainer: {name: eef}\n")
    (exp / "meta.json").write_text('{"kind": "experiment"}')  # as trainers.experiment writes it
    for rel in ("expert", "iter1/rollouts"):  # inputs of the experiment, not rows of its leaderboard
        RunStore.create(exp / rel, {"task": {"name": "t"}, "agent": {"name": "x"}}, "h").close()
    for it in (0, 1):
        store = RunStore.create(exp / f"iter{it}" / "eval", {"task": {"name": "t"}, "agent": {"name": "a"}}, "h")
        store.append(Trajectory(id="s#0", task="t", subtask_id="s", category="c", success=it == 1, score=100.0 * it))
        store.close()
    lb = build([exp])
    assert [r.run.path for r in lb.rows] == [exp / "iter0" / "eval", exp / "iter1" / "eval"]
    assert [r.overall.win_rate for r in lb.rows] == [0.0, 1.0]


def test_rich_board_at_80_columns_splits_into_tables_that_fit_with_names_whole(tmp_path):
    long = {"b": "boil-a-liquid-until-it-is-gone", "m": "melt", "x": "freeze"}
    runs = [write_run(tmp_path / f"run{i}", EEF if i % 2 else RFT, agent={"name": f"agent-number-{i}"})
            for i in range(5)]
    for r in runs:  # a long category name, as ScienceWorld's chemistry-mix-paint-secondary-color
        f = r / "episodes.jsonl"
        f.write_text(f.read_text().replace('"category":"boil"', f'"category":"{long["b"]}"'))
    text = render(build(runs), "rich", width=80)
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    assert "Subtasks solved per category (rows) and run (columns)" in text
    first_cells = "".join(line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│"))
    assert first_cells.count("boil-a-liquid-until-it-is-gone") == 1  # whole, if folded over lines
    wide = render(build(runs), "rich", width=250)
    assert "Subtasks solved per category" not in wide and "40.0% ± 15.5" in wide


def test_runs_of_different_tasks_are_flagged_and_common_names_them(tmp_path):
    a = write_run(tmp_path / "a", EEF)
    b = write_run(tmp_path / "b", RFT)
    spec = yaml.safe_load((b / "spec.yaml").read_text())
    spec["task"]["name"] = "webshop-mini"
    (b / "spec.yaml").write_text(yaml.safe_dump(spec))
    lb = build([a, b])
    assert any("different tasks (sciworld, webshop-mini)" in w for w in lb.warnings)


def test_iteration_zero_is_labelled_as_the_sft_stage(tmp_path):
    exp = tmp_path / "exp"
    write_run(exp / "iter0" / "eval", EEF, trainer="eef")
    write_run(exp / "iter1" / "eval", RFT, trainer="eef")
    assert [r.label for r in build([exp / "iter0" / "eval", exp / "iter1" / "eval"]).rows] == \
        ["eef iter0 (SFT)", "eef iter1"]


def test_solve_rate_per_iteration_picture(tmp_path):
    # rft solves 2/5 subtasks at iter0 and iter1 (RFT), then 3/5 (EEF's); eef: 2/5 (RFT), 3/5, 3/5
    for name, runs in (("rft", (RFT, RFT, EEF)), ("eef", (RFT, EEF, EEF))):
        for it, outcomes in enumerate(runs):
            write_run(tmp_path / name / f"iter{it}" / "eval", outcomes, trainer=name)
    write_run(tmp_path / "expert", EEF)  # not an iteration: not on the picture
    lb = build([tmp_path / "rft", tmp_path / "eef", tmp_path / "expert"])
    curves = {c.name: [(it, row.overall.solve_rate) for it, row in c.points] for c in lb.curves()}
    assert curves == {"rft": [(0, 0.4), (1, 0.4), (2, 0.6)], "eef": [(0, 0.4), (1, 0.6), (2, 0.6)]}
    svg = render(lb, "svg")
    assert svg.startswith('<?xml version="1.0"') and 'xmlns="http://www.w3.org/2000/svg"' in svg
    # 0..2 over x 56..470, 0..100% over y 276..16: one polyline per experiment through its points
    assert re.findall(r'<polyline[^>]*points="([^"]+)"', svg) == [
        "56.0,172.0 263.0,172.0 470.0,120.0", "56.0,172.0 263.0,120.0 470.0,120.0"]
    assert "<title>eef iter1: 60.0% (3/5)</title>" in svg and ">rft</text>" in svg
    page = render(lb, "html")
    assert '<svg class="curves" width="640"' in page and "http" not in page
    assert "<svg" not in render(build([tmp_path / "expert"]), "html")  # nothing to draw
    res = cli(tmp_path / "expert", "--format", "svg")
    assert res.returncode != 0 and "draws solve rates per iteration" in res.stderr and "Traceback" not in res.stderr


def test_pool_sums_the_runs_given_one_label(exp, tmp_path):
    """Two seeds of a method as one row: episodes, successes and scores add up per subtask."""
    seed1 = write_run(tmp_path / "eef-s1", RFT, expected=10, agent={"name": "hf", "model": "/models/eef-s1"})
    labels = {str(exp / "eef"): "EEF", str(seed1): "EEF", str(exp / "rft"): "RFT"}
    lb = build([exp / "eef", seed1, exp / "rft"], labels=labels, pool=True)
    assert [r.label for r in lb.rows] == ["EEF", "RFT"]
    eef = rows(lb)["EEF"]
    assert eef.run.paths == [exp / "eef", seed1] and eef.run.complete
    assert (eef.overall.episodes, eef.overall.successes, eef.overall.score_sum) == (20, 7, 870)
    assert eef.overall.win_rate == pytest.approx(7 / 20)
    assert eef.overall.solved == 4  # b1 b2 b3 m1: solved by an episode of either seed
    assert eef.categories["melt"].solved == 1 and eef.categories["boil"].solved == 3
    assert rows(lb)["RFT"].overall.episodes == 10
    unpooled = build([exp / "eef", seed1], labels={str(exp / "eef"): "EEF", str(seed1): "EEF"})
    assert len(unpooled.rows) == 2  # without --pool one label is two rows, told apart by their paths
    other = write_run(tmp_path / "other-task", RFT, expected=10)
    (other / "spec.yaml").write_text(yaml.safe_dump({"task": {"name": "webshop"}, "agent": {"name": "hf"}}))
    with pytest.raises(LeaderboardError, match="differ in task"):
        build([exp / "eef", other], labels={str(exp / "eef"): "X", str(other): "X"}, pool=True)


def test_a_pooled_picture_has_a_line_per_method_over_its_seeds(tmp_path):
    # two seeds per method, labelled '<method> iter<N>' and pooled: one line per method, not per directory
    runs, labels = [], {}
    for seed in (0, 1):
        for name, outcomes in (("rft", (RFT, RFT)), ("eef", (RFT, EEF))):
            for it, o in enumerate(outcomes):
                run = write_run(tmp_path / f"s{seed}-{name}" / f"iter{it}" / "eval", o, trainer=name)
                runs.append(run)
                labels[str(run)] = f"{name.upper()} iter{it}"
    lb = build(runs, labels=labels, pool=True)
    curves = {c.name: [(it, row.overall.solve_rate) for it, row in c.points] for c in lb.curves()}
    assert curves == {"RFT": [(0, 0.4), (1, 0.4)], "EEF": [(0, 0.4), (1, 0.6)]}
    assert [c.name for c in build(runs, labels={}, pool=False).curves()] == ["s0-rft", "s0-eef", "s1-rft", "s1-eef"]


def test_pooled_cells_and_picture_are_the_mean_over_seeds_not_any_seed(tmp_path):
    # one greedy episode per subtask and seed; seed 0 solves b1 b2, seed 1 solves b2 b3 (boil 3 subtasks)
    seeds = ([("b1", 0, True, 100), ("b2", 0, True, 100), ("b3", 0, False, 0)],
             [("b1", 0, False, 0), ("b2", 0, True, 100), ("b3", 0, False, 0)])
    runs = [write_run(tmp_path / f"s{i}-rft" / "iter1" / "eval", o, trainer="rft") for i, o in enumerate(seeds)]
    runs += [write_run(tmp_path / f"s{i}-rft" / "iter0" / "eval", [(k, 0, False, 0) for k in ("b1", "b2", "b3")],
                       trainer="rft") for i in range(2)]
    labels = {str(r): f"RFT iter{r.parent.name[-1]}" for r in runs}
    pooled = build(runs, labels=labels, pool=True)
    md = render(pooled, "markdown")
    row = next(line for line in md.splitlines() if line.startswith("| RFT iter1"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[-1] == "50.0% (3/6)"  # boil: the mean of the seeds' 2/3 and 1/3
    assert cells[5] == "2/3"  # solved: b1 or b2 by some seed
    assert "mean of the runs' shares solved" in md and "any run pooled in the row" in md
    svg = render(pooled, "svg")
    assert "evaluation episodes won" in svg and "RFT iter1: 50.0% (3/6)" in svg
    assert re.findall(r'<polyline[^>]*points="([^"]+)"', svg) == ["56.0,276.0 470.0,146.0"]  # 0% then 50%
    single = render(build([runs[0]], labels={str(runs[0]): "RFT iter1"}), "markdown")
    assert "66.7% (2/3)" in single and "share of subtasks solved" in single and "episodes won" not in single


def test_methods_whose_iteration_0_links_to_one_sft_run_each_start_their_line_there(tmp_path):
    # results/eef-mini's layout: every method's iter0/eval is a symlink to the SFT experiment's
    sft = write_run(tmp_path / "s0-sft" / "iter0" / "eval", RFT, trainer="sft")
    runs, labels = [], {}
    for name, outcomes in (("rft", RFT), ("eef", EEF)):
        link = tmp_path / f"s0-{name}" / "iter0" / "eval"
        link.parent.mkdir(parents=True)
        link.symlink_to(sft)
        runs += [link, write_run(tmp_path / f"s0-{name}" / "iter1" / "eval", outcomes, trainer=name)]
        labels |= {str(r): f"{name.upper()} iter{i}" for i, r in enumerate(runs[-2:])}
    lb = build(runs, labels=labels, pool=True)
    curves = {c.name: [(it, row.overall.solve_rate) for it, row in c.points] for c in lb.curves()}
    assert curves == {"RFT": [(0, 0.4), (1, 0.4)], "EEF": [(0, 0.4), (1, 0.6)]}
    assert lb.find(runs[2]).label == "EEF iter0" and lb.find(runs[0]).label == "RFT iter0"  # by the path named
    assert [r.path for r in build([sft, runs[0], runs[0]]).runs] == [sft, runs[0]]  # one path: listed once


@pytest.mark.parametrize("only_a, only_b", [(22, 5), (5, 22), (0, 7), (10, 10), (1, 0), (0, 0), (30, 3)])
def test_mcnemar_exact_p_against_the_binomial_distribution(only_a, only_b):
    """Two-sided: the probability, under Binomial(n, 1/2), of every split at least as far from n/2."""
    n = only_a + only_b
    far = abs(only_a - n / 2)
    expected = sum(math.comb(n, i) for i in range(n + 1) if abs(i - n / 2) >= far) / 2 ** n
    assert mcnemar_exact_p(only_a, only_b) == pytest.approx(expected, rel=1e-12)
    assert mcnemar_exact_p(only_a, only_b) == mcnemar_exact_p(only_b, only_a)
    assert 0 < mcnemar_exact_p(only_a, only_b) <= 1
