"""The HTML leaderboard in a real browser: the table is there and header clicks sort it.

`page.html#sort=key1,key2` clicks those headers on load, so headless Chromium's --dump-dom shows
the order a user gets by clicking.
"""
import json
import re
import shutil
import subprocess

import pytest
import yaml

from harness.leaderboards.core import build
from harness.leaderboards.render import render
from harness.runstore import RunStore
from harness.summary import summarize
from harness.trajectory import Trajectory
from test_leaderboard import EEF, PARTIAL, RFT, write_run

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def dom_after(page, fragment, profile, extra=()):
    res = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run", *extra,
                          f"--user-data-dir={profile}", "--dump-dom", f"{page.as_uri()}#{fragment}"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def order(dom):
    """The run labels in DOM order, and the header carrying the sort mark."""
    body = dom.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    labels = re.findall(r'<tr[^>]*><td data-sort="([^"]*)"', body)
    return labels, re.findall(r'data-key="([^"]+)"[^>]*aria-sort="(\w+)"', dom)


def test_sorting_in_chromium(tmp_path):
    write_run(tmp_path / "exp" / "eef", EEF, expected=10)  # mean score 55, melt 1/2
    write_run(tmp_path / "exp" / "partial", PARTIAL, expected=8)  # mean score 50, no melt subtask
    write_run(tmp_path / "exp" / "rft", RFT, expected=10)  # mean score 32, melt 0/2
    lb = build([tmp_path / "exp"], labels={str(tmp_path / "exp" / n): n for n in ("eef", "partial", "rft")})
    page = tmp_path / "board.html"
    page.write_text(render(lb, "html"))
    profile = tmp_path / "profile"

    dom = dom_after(page, "", profile)
    assert dom.count("<tr") == 4 and 'title="66.7% (2/3)" data-sort="0.6666666666666666">2/3</td>' in dom
    assert order(dom) == (["eef", "partial", "rft"], [])

    # numbers sort descending on the first click, ascending on the second
    assert order(dom_after(page, "sort=mean_score", profile)) == (
        ["eef", "partial", "rft"], [("mean_score", "descending")])
    assert order(dom_after(page, "sort=mean_score,mean_score", profile)) == (
        ["rft", "partial", "eef"], [("mean_score", "ascending")])
    # a run without the category stays last either way; text sorts ascending first
    assert order(dom_after(page, "sort=cat:melt", profile))[0] == ["eef", "rft", "partial"]
    assert order(dom_after(page, "sort=cat:melt,cat:melt", profile))[0] == ["rft", "eef", "partial"]
    assert order(dom_after(page, "sort=mean_score,run,run", profile)) == (
        ["rft", "partial", "eef"], [("run", "descending")])


def test_a_board_of_30_categories_reads_at_a_glance(tmp_path):
    """Overall numbers on screen at 1280 px, the run column pinned when the categories scroll,
    cells shaded by solve rate: measured in the page and seen in a screenshot."""
    Image = pytest.importorskip("PIL.Image")
    cats = [f"identify-life-stages-of-a-long-named-category-{i}" for i in range(30)]
    for name, p in (("eef iteration 3 with a long label", 1), ("rft iteration 3 with a long label", 2)):
        path = tmp_path / name.split()[0]
        path.mkdir()
        (path / "spec.yaml").write_text(yaml.safe_dump({"task": {"name": "sciworld"}, "agent": {"name": name}}))
        (path / "meta.json").write_text(json.dumps({"spec_hash": "x"}))
        with open(path / "episodes.jsonl", "w") as fh:
            for i, c in enumerate(cats):
                for k in range(3):  # solves every p-th subtask
                    t = Trajectory(id=f"{c}:{k}#0", task="sciworld", subtask_id=f"{c}:{k}", category=c,
                                   success=(i + k) % p == 0, score=100.0 if (i + k) % p == 0 else 0.0)
                    fh.write(t.model_dump_json() + "\n")
        store = RunStore.open(path)
        store.write_summary(summarize(store.latest().values(), expected=3 * len(cats)))
    page = tmp_path / "board.html"
    probe = """<script>
      var sc = document.querySelector("div.scroll"), win = document.querySelector('th[data-key="win_rate"]');
      var before = win.getBoundingClientRect().right;
      sc.scrollLeft = 100000;
      var run = document.querySelector("tbody td").getBoundingClientRect();
      document.title = "probe " + JSON.stringify({win_right: before, width: window.innerWidth,
        scrolled: sc.scrollLeft, run_left: run.left, sc_left: sc.getBoundingClientRect().left});
    </script></body>"""
    html = render(build([tmp_path / "eef", tmp_path / "rft"]), "html")
    page.write_text(html.replace("</body>", probe))
    size = ["--window-size=1280,800"]
    dom = dom_after(page, "", tmp_path / "profile", size)
    m = json.loads(re.search(r"<title>probe (.*?)</title>", dom).group(1).replace("&quot;", '"'))
    assert m["win_right"] < m["width"] == 1280  # the win rate is on screen without scrolling
    assert m["scrolled"] > 0  # the 30 categories do not fit: they scroll ...
    assert abs(m["run_left"] - m["sc_left"]) < 2  # ... and the run column stays put

    shot = tmp_path / "board.png"
    (tmp_path / "plain.html").write_text(html)
    res = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          f"--user-data-dir={tmp_path / 'profile'}", *size, f"--screenshot={shot}",
                          (tmp_path / "plain.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 800)
    raw = img.tobytes()
    green = sum(1 for i in range(0, len(raw), 3) if raw[i + 1] > raw[i] + 20 and raw[i + 1] > raw[i + 2] + 20)
    assert green > 0.02 * 1280 * 800, green  # shaded cells fill the screen's table
