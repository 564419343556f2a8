"""The HTML leaderboard in a real browser: the table is there and header clicks sort it.

`page.html#sort=key1,key2` clicks those headers on load, so headless Chromium's --dump-dom shows
the order a user gets by clicking.
"""
import re
import shutil
import subprocess

import pytest

from harness.leaderboards.core import build
from harness.leaderboards.render import render
from test_leaderboard import EEF, PARTIAL, RFT, write_run

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def dom_after(page, fragment, profile):
    res = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run",
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
    assert dom.count("<tr") == 4 and ">66.7% (2/3)</td>" in dom
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
