"""Every view (leaderboard, per-subtask matrix, head-to-head) in every output format.

Display formats (rich, markdown, html) render a `Page` of `Grid`s built once per view, so they
show the same cells. Machine formats read the data directly: JSON is the views' ``as_dict()``,
CSV one flat record per row with raw numbers.
"""
from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field
from typing import Union

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from tabulate import tabulate

from harness.stats import ci_text

from .core import (ActionUse, Curve, HeadToHead, Leaderboard, LeaderboardError, PerSubtask, Run, Stats, SubtaskKey,
                   SubtaskResult)

FORMATS = ("rich", "markdown", "csv", "json", "html", "svg")
View = Union[Leaderboard, PerSubtask, HeadToHead, ActionUse]


@dataclass
class Cell:
    text: str
    sort: float | str | None  # what the HTML page sorts by; None: no value (sorted last)

    @classmethod
    def txt(cls, text: str) -> "Cell":
        return cls(text, text)


@dataclass
class Grid:
    title: str
    columns: list[tuple[str, str]]  # (key for ``#sort=``, header)
    rows: list[list[Cell]]
    flagged: set[int] = field(default_factory=set)  # indices of rows to highlight (incomplete runs)

    def numeric(self, col: int) -> bool:
        return any(isinstance(row[col].sort, (int, float)) for row in self.rows)


@dataclass
class Page:
    title: str
    grids: list[Grid]
    warnings: list[str]
    notes: list[str] = field(default_factory=list)


NEGATIVE_SCORES = ("Mean score below zero: the task scores an episode that ends in failure below zero "
                   "(ScienceWorld: -100, e.g. after a focus on the wrong object).")


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def share(s: Stats, pooled: bool = False) -> tuple[float, str]:
    """(rate, 'n/d') of a category or a row: its share of subtasks solved; on a pooled board its share of
    episodes won, which is the mean over the pooled runs (seeds) when each plays every subtask once, where
    'solved by any run' would grow with the number of runs."""
    if pooled:
        return s.win_rate, f"{s.successes}/{s.episodes}"
    return s.solve_rate, f"{s.solved}/{s.subtasks}"


def solve_cell(s: Stats | None, pooled: bool = False) -> Cell:
    if s is None:
        return Cell("—", None)
    rate, counts = share(s, pooled)
    return Cell(f"{pct(rate)} ({counts})", rate)


def episodes_cell(r: SubtaskResult | None, mark: bool = False) -> Cell:
    if r is None:
        return Cell("", None)
    prefix = ("✓ " if r.solved else "✗ ") if mark else ""
    return Cell(f"{prefix}{r.successes}/{r.episodes}", r.successes / r.episodes)


# ---------------------------------------------------------------- pages

def leaderboard_page(lb: Leaderboard) -> Page:
    columns = [("run", "run"), ("status", "status"), ("win_rate", "win rate"), ("win_rate_ci", "95% CI"),
               ("mean_score", "mean score"), ("solved", "solved"), ("episodes", "episodes")] + [
        (f"cat:{c}", c) for c in lb.categories]  # overall numbers first: they stay on screen
    grouped = lb.protocol_groups > 1
    if grouped:  # rows of different protocols: say which is which
        columns.insert(1, ("protocol", "protocol"))
    rows = []
    for row in lb.rows:
        o = row.overall
        rows.append([Cell.txt(row.label)] + ([Cell.txt(f"P{row.run.protocol_group}")] if grouped else [])
                    + [Cell.txt(row.run.status),
                       Cell(f"{pct(o.win_rate)} ± {100 * o.win_rate_se:.1f}", o.win_rate),
                       Cell(ci_text(o.win_rate_ci), o.win_rate_ci[0]),
                       Cell(f"{o.mean_score:.1f}", o.mean_score),
                       Cell(f"{o.solved}/{o.subtasks}", o.solve_rate), Cell(str(o.episodes), o.episodes)]
                    + [solve_cell(row.categories.get(c), lb.pooled) for c in lb.categories])
    panel = (f"{len(lb.shared)} subtasks shared by every run (--common)" if lb.common
             else f"{len(lb.union)} subtasks")
    if lb.by:
        panel += f", columns by {lb.by}"
    measure = ("share of episodes won, over the runs pooled in the row (with one episode per subtask and run: "
               "the mean of the runs' shares solved)" if lb.pooled else
               "share of subtasks solved (a subtask is solved when any of its samples succeeded)")
    cells = (f"Columns: the values of the subtask fact {lb.by!r} (the task's); each cell the {measure}, among "
             "the subtasks with that value" if lb.by else f"Category cells: {measure}")
    solved = " Solved: subtasks solved by an episode of any run pooled in the row." if lb.pooled else ""
    notes = [f"{cells}.{solved} Win rate: share of episodes that succeeded ± standard error; 95% CI: Wilson "
             "score interval over episodes (harness.stats)."]
    if any(row.overall.mean_score < 0 for row in lb.rows):
        notes.append(NEGATIVE_SCORES)
    incomplete = {i for i, row in enumerate(lb.rows) if not row.run.complete}
    return Page(f"Leaderboard — {panel}", [Grid("", columns, rows, incomplete)], lb.warnings, notes)


def per_subtask_page(ps: PerSubtask) -> Page:
    columns = [("subtask", "subtask"), ("category", "category")] + [(f"run:{r.label}", r.label) for r in ps.runs]
    rows = [[Cell.txt(ps.name(k)), Cell.txt(cat)] + [episodes_cell(r.subtasks.get(k), mark=True) for r in ps.runs]
            for k, cat in ps.subtasks]
    notes = ["✓ solved (some sample succeeded), ✗ not solved; successful / counted episodes. "
             "Empty: the subtask is not in that run's panel."]
    return Page(f"Per-subtask solves — {len(ps.subtasks)} subtasks", [Grid("", columns, rows)], ps.warnings, notes)


def head_to_head_page(h: HeadToHead) -> Page:
    a, b = h.a.label, h.b.label
    counts = Grid("", [("what", "subtasks"), ("count", "count")], [
        [Cell.txt(f"solved by {a}, never by {b}"), Cell(str(len(h.only_a)), len(h.only_a))],
        [Cell.txt(f"solved by {b}, never by {a}"), Cell(str(len(h.only_b)), len(h.only_b))],
        [Cell.txt("solved by both"), Cell(str(h.both), h.both)],
        [Cell.txt("solved by neither"), Cell(str(h.neither), h.neither)],
        [Cell.txt("compared (run by both)"), Cell(str(h.shared), h.shared)],
    ])
    split = len(h.only_a) + len(h.only_b)
    notes = [f"Paired test: of the {split} subtasks only one of the two solves, {a} solves {len(h.only_a)}; "
             f"McNemar's exact p = {h.p_value:.2g} (two-sided: the chance of a split at least this uneven "
             f"if both were equally good).",
             "steps: the winner's shortest successful episode. Runs: successful / counted episodes."]
    if h.fact_names:
        notes.append(f"{', '.join(h.fact_names)}: the task's facts about the subtask (before any agent plays it).")
    return Page(f"Head-to-head: {a} vs {b}",
                [counts, _solves_grid(h, h.a, h.b, h.only_a), _solves_grid(h, h.b, h.a, h.only_b)], h.warnings,
                notes)


def _solves_grid(h: HeadToHead, winner: Run, loser: Run, keys: list[SubtaskKey]) -> Grid:
    columns = ([("subtask", "subtask"), ("category", "category")] + [(f"fact:{n}", n) for n in h.fact_names]
               + [("steps", "steps"), (f"run:{h.a.label}", h.a.label), (f"run:{h.b.label}", h.b.label)])
    rows = [[Cell.txt(k[1]), Cell.txt(winner.subtasks[k].category)]
            + [_fact_cell(h.facts.get(k, {}).get(n)) for n in h.fact_names]
            + [_fact_cell(winner.subtasks[k].shortest_win), episodes_cell(h.a.subtasks[k]),
               episodes_cell(h.b.subtasks[k])] for k in keys]
    return Grid(f"Solved by {winner.label}, never by {loser.label} ({len(keys)})", columns, rows)


def _fact_cell(value: str | int | None) -> Cell:
    return Cell("", None) if value is None else Cell(str(value), value)


def action_use_page(a: ActionUse) -> Page:
    """Kinds down, runs across: a task has more kinds of action than a comparison has runs."""
    columns = [("action", "action")] + [(f"run:{r.label}", r.label) for r in a.runs]
    rows = [[Cell.txt("episodes")] + [Cell(str(a.episodes[r.label]), a.episodes[r.label]) for r in a.runs]]
    for k in a.kinds:
        cells = [Cell.txt(k)]
        for run in a.runs:
            n, using = a.episodes[run.label], a.using[run.label][k]
            cells.append(Cell(f"{100 * using / n:.0f}% ×{a.uses[run.label][k] / n:.1f}", using / n) if n
                         else Cell("—", None))
        rows.append(cells)
    notes = ["Share of each run's counted episodes that take the action at least once, and times per "
             "episode (×). Kinds are the task's (WebShop: its buttons by name, a product, an option, a search; "
             "other tasks: the verb); only the agent's own steps count."]
    return Page(f"Actions used — {len(a.kinds)} kinds", [Grid("", columns, rows)], a.warnings, notes)


def page_of(view: View) -> Page:
    if isinstance(view, Leaderboard):
        return leaderboard_page(view)
    if isinstance(view, ActionUse):
        return action_use_page(view)
    if isinstance(view, PerSubtask):
        return per_subtask_page(view)
    return head_to_head_page(view)


def render(view: View, fmt: str, width: int = 200) -> str:
    """``view`` as text in ``fmt`` (one of FORMATS; ``rich`` gives the terminal tables without colour)."""
    if fmt == "json":
        return to_json(view)
    if fmt == "csv":
        return to_csv(view)
    if fmt == "svg":
        if not isinstance(view, Leaderboard) or not _drawable(view.curves()):
            raise LeaderboardError("--format svg draws solve rates per iteration: give experiment directories "
                                   "(or their iterN/eval runs), no --vs/--per-subtask/--actions")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n' + to_svg(view.curves(), view.pooled, standalone=True)
                + "\n")
    page = page_of(view)
    if fmt == "markdown":
        return to_markdown(page)
    if fmt == "html":
        curves = view.curves() if isinstance(view, Leaderboard) else []
        return to_html(page, [to_svg(curves, view.pooled)] if _drawable(curves) else [])
    if fmt != "rich":
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    console = Console(file=io.StringIO(), width=width, color_system=None)
    for renderable in to_rich(page, width):
        console.print(renderable)
    return "".join(line.rstrip() + "\n" for line in console.file.getvalue().splitlines())


# ---------------------------------------------------------------- display formats

def to_rich(page: Page, width: int | None = None) -> list[RenderableType]:
    """Terminal tables. A leaderboard wider than ``width`` (many categories) is shown as two tables
    that fit: the overall numbers per run, then categories down and runs across, names whole."""
    out: list[RenderableType] = []
    for i, grid in enumerate(page.grids):
        title = page.title if i == 0 else grid.title or None
        grids = [grid] if width is None or _natural_width(grid) <= width else _split_categories(
            _without_redundant_category(grid))
        for k, part in enumerate(grids):
            out.append(_rich_table(part, title if k == 0 else part.title))
    out += [Text.from_markup(f"[yellow]warning:[/] {escape(w)}") for w in page.warnings]
    out += [Text(n, style="dim") for n in page.notes]
    return out


def _rich_table(grid: Grid, title: str | None) -> Table:
    table = Table(title=title, title_justify="left")
    for col, (key, header) in enumerate(grid.columns):
        numeric = grid.numeric(col)  # numbers keep their width; names fold (whole, over two lines)
        table.add_column(header, justify="right" if numeric else "left", overflow="fold",
                         no_wrap=numeric and not key.startswith("run:"))  # run labels as headers may wrap
    for j, row in enumerate(grid.rows):
        table.add_row(*(escape(c.text) for c in row), style="yellow" if j in grid.flagged else None)
    return table


def _without_redundant_category(grid: Grid) -> Grid:
    """Subtask ids that begin with their category ('boil:14') need no category column when space is short."""
    keys = [k for k, _ in grid.columns]
    if keys[:2] != ["subtask", "category"] or not all(r[0].text.startswith(r[1].text) for r in grid.rows):
        return grid
    return Grid(grid.title, grid.columns[:1] + grid.columns[2:], [r[:1] + r[2:] for r in grid.rows], grid.flagged)


def _natural_width(grid: Grid) -> int:
    widths = [max([len(header)] + [len(r[c].text) for r in grid.rows]) for c, (_, header) in enumerate(grid.columns)]
    return sum(widths) + 3 * len(widths) + 1


def _split_categories(grid: Grid) -> list[Grid]:
    cats = [c for c, (key, _) in enumerate(grid.columns) if key.startswith("cat:")]
    if not cats:
        return [grid]
    keep = [c for c in range(len(grid.columns)) if c not in cats]
    short = {"win_rate": "win rate", "mean_score": "score"}  # narrow: the CI column gives the uncertainty
    overall = Grid(grid.title, [(k, short.get(k, h)) for k, h in (grid.columns[c] for c in keep)],
                   [[_narrow(grid.columns[c][0], r[c]) for c in keep] for r in grid.rows], grid.flagged)
    names = [r[0].text for r in grid.rows]
    by_category = Grid("Subtasks solved per category (rows) and run (columns)",
                       [("category", "category")] + [(f"run:{n}", n) for n in names],
                       [[Cell.txt(grid.columns[c][1])] + [Cell(_compact(r[c]), r[c].sort) for r in grid.rows]
                        for c in cats])
    return [overall, by_category]


def _narrow(key: str, cell: Cell) -> Cell:
    return Cell(cell.text.split(" ± ")[0], cell.sort) if key == "win_rate" else cell


def _compact(cell: Cell) -> str:
    """'66.7% (2/3)' -> '2/3': in the per-category table the count says it all."""
    text = cell.text
    return text[text.index("(") + 1:-1] if text.endswith(")") and "(" in text else text


def to_markdown(page: Page) -> str:
    parts = [f"## {page.title}"]
    for grid in page.grids:
        if grid.title:
            parts.append(f"### {grid.title}")
        parts.append(tabulate([[_md(c.text) for c in row] for row in grid.rows],
                              headers=[_md(h) for _, h in grid.columns], tablefmt="pipe", disable_numparse=True,
                              colalign=["right" if grid.numeric(i) else "left" for i in range(len(grid.columns))]))
    parts += [f"> **Warning:** {w}" for w in page.warnings]
    parts += page.notes
    return "\n\n".join(parts) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
div.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 1em 0; }
th:first-child, td:first-child { position: sticky; left: 0; background: #fff; z-index: 1; }
th:first-child { background: #f0f0f0; }
th.cat { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; text-align: left;
         vertical-align: bottom; max-height: 14em; overflow: hidden; text-overflow: ellipsis; }
svg.curves { margin: 1em 0; font-size: 12px; }
caption { text-align: left; font-weight: bold; padding: .3em 0; }
th, td { border: 1px solid #ccc; padding: .3em .6em; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " ▲"; }
th[aria-sort=descending]::after { content: " ▼"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.incomplete td { background: #fff4d6; }
p.warning { color: #8a5300; }
p.note { color: #666; }
"""

# Click a header to sort by it (numbers descending first, text ascending), again to reverse.
# `page.html#sort=key1,key2` clicks those headers on load (the keys are the th's data-key).
_SCRIPT = """
(function () {
  function value(row, col) { return row.cells[col].getAttribute("data-sort"); }
  function compare(x, y) {
    var a = parseFloat(x), b = parseFloat(y);
    return isNaN(a) || isNaN(b) ? x.localeCompare(y) : a - b;
  }
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var current = th.getAttribute("aria-sort");
    var descending = current ? current === "ascending" : th.hasAttribute("data-numeric");
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var x = value(r, col), y = value(s, col);
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      return descending ? compare(y, x) : compare(x, y);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable th").forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th); });
  });
  var m = /[#&]sort=([^&]*)/.exec(location.hash);
  if (m) {
    decodeURIComponent(m[1]).split(",").forEach(function (key) {
      var th = document.querySelector('table.sortable th[data-key="' + CSS.escape(key) + '"]');
      if (th) { th.click(); }
    });
  }
})();
"""


def to_html(page: Page, figures: list[str] = ()) -> str:
    """The page; ``figures`` (inline SVG) go after the tables."""
    e = html.escape
    body = [f"<h1>{e(page.title)}</h1>"]
    body += [f'<p class="warning">Warning: {e(w)}</p>' for w in page.warnings]
    for grid in page.grids:
        numeric = [grid.numeric(i) for i in range(len(grid.columns))]
        shaded = [key.startswith(_SHADED) for key, _ in grid.columns]
        head = "".join(f'<th data-key="{e(key)}"{" data-numeric" if num else ""}{_th_extra(key, h)}>{e(h)}</th>'
                       for (key, h), num in zip(grid.columns, numeric))
        rows = []
        for j, row in enumerate(grid.rows):
            cls = ' class="incomplete"' if j in grid.flagged else ""
            cells = "".join(_html_cell(c, num, shade, key.startswith("cat:"))
                            for c, num, shade, (key, _) in zip(row, numeric, shaded, grid.columns))
            rows.append(f"<tr{cls}>{cells}</tr>")
        caption = f"<caption>{e(grid.title)}</caption>" if grid.title else ""
        body.append(f'<div class="scroll"><table class="sortable">{caption}<thead><tr>{head}</tr></thead>'
                    f"<tbody>\n{chr(10).join(rows)}\n</tbody></table></div>")
    body += list(figures)
    body += [f'<p class="note">{e(n)}</p>' for n in page.notes]
    body.append('<p class="note">Click a column header to sort by it. Cells are shaded by solve rate.</p>')
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(page.title)}</title>'
            f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(body)
            + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")


def _th_extra(key: str, header: str) -> str:
    """Category headers stand upright (30 of them fit a screen), the name whole on hover."""
    return f' class="cat" title="{html.escape(header)}"' if key.startswith("cat:") else ""


_SHADED = ("cat:", "run:", "solved")  # columns whose cells are a share solved (or used): shaded by it


def _html_cell(c: Cell, numeric: bool, shade: bool, category: bool) -> str:
    e = html.escape
    attrs = " class=num" if numeric else ""
    if shade and isinstance(c.sort, float):
        attrs += f' style="background:rgba(46,160,67,{0.08 + 0.62 * c.sort:.2f})"'
    text = c.text
    if category and text != _compact(c):  # '66.7% (2/3)' shows as 2/3; the shade and the tooltip give the rate
        attrs += f' title="{e(text)}"'
        text = _compact(c)
    return f'<td{attrs} data-sort="{e(_sort_attr(c.sort))}">{e(text)}</td>'


def _sort_attr(value: float | str | None) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


# ---------------------------------------------------------------- the picture per iteration

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _drawable(curves: list[Curve]) -> bool:
    return any(len(c.points) > 1 for c in curves)


def to_svg(curves: list[Curve], pooled: bool = False, width: int = 640, height: int = 320,
           standalone: bool = False) -> str:
    """Share of evaluation subtasks solved per iteration, one line per experiment (SVG, no script); of a
    pooled board, share of episodes won (see share). Inline in HTML unless ``standalone``
    (a file of its own needs the namespace)."""
    e = html.escape
    left, right, top, bottom = 56, 170, 16, 44
    last = max(it for c in curves for it, _ in c.points) or 1
    def x(it: float) -> float:
        return left + it / last * (width - left - right)

    def y(rate: float) -> float:
        return top + (1 - rate) * (height - top - bottom)

    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    out = [f'<svg class="curves"{ns} width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="12">',
           "<title>Subtasks solved per iteration</title>"]
    for k in range(5):  # horizontal grid, 0-100%
        gy = y(k / 4)
        out.append(f'<line x1="{left}" y1="{gy:.1f}" x2="{width - right}" y2="{gy:.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{gy + 4:.1f}" text-anchor="end" fill="#555">{25 * k}%</text>')
    for it in range(last + 1):
        out.append(f'<text x="{x(it):.1f}" y="{height - bottom + 16}" text-anchor="middle" fill="#555">{it}</text>')
    out.append(f'<text x="{(left + width - right) / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="#333">'
               "iteration (0: SFT)</text>")
    out.append(f'<text transform="translate(14 {(top + height - bottom) / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle" fill="#333">evaluation {"episodes won" if pooled else "subtasks solved"}</text>')
    for i, c in enumerate(curves):
        colour = _COLOURS[i % len(_COLOURS)]
        pts = [(x(it), y(share(row.overall, pooled)[0]), it, row) for it, row in c.points]
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                   + " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in pts) + '"/>')
        for px, py, it, row in pts:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}"><title>{e(c.name)} iter{it}: '
                       f"{solve_cell(row.overall, pooled).text}</title></circle>")
        ly = top + 8 + 18 * i
        lx = width - right + 14
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 20}" y2="{ly}" stroke="{colour}" stroke-width="2"/>'
                   f'<text x="{lx + 26}" y="{ly + 4}">{e(c.name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


# ---------------------------------------------------------------- machine formats

def to_json(view: View) -> str:
    return json.dumps(view.as_dict(), indent=2, ensure_ascii=False) + "\n"


def to_csv(view: View) -> str:
    header, records = _records(view)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


def _records(view: View) -> tuple[list[str], list[dict]]:
    if isinstance(view, Leaderboard):
        overall = ["label", "path", "status", "complete", "episodes", "expected_episodes", "errors", "successes",
                   "win_rate", "win_rate_se", "mean_score", "subtasks", "subtasks_solved", "protocol_group"]
        header = overall + [f"{c} {what}" for c in view.categories for what in ("solved", "subtasks")]
        records = []
        for row in view.rows:
            d = row.as_dict()
            rec = {k: d[k] for k in overall}
            for c, s in row.categories.items():
                rec[f"{c} solved"], rec[f"{c} subtasks"] = s.solved, s.subtasks
            records.append(rec)
        return header, records
    if isinstance(view, PerSubtask):
        header = ["task", "subtask", "category"] + [f"{r.label} {what}" for r in view.runs
                                                     for what in ("solved", "successes", "episodes")]
        records = []
        for k, cat in view.subtasks:
            rec = {"task": k[0], "subtask": k[1], "category": cat}
            for run in view.runs:
                r = run.subtasks.get(k)
                if r is not None:
                    rec.update({f"{run.label} solved": int(r.solved), f"{run.label} successes": r.successes,
                                f"{run.label} episodes": r.episodes})
            records.append(rec)
        return header, records
    if isinstance(view, ActionUse):
        header = ["label", "episodes"] + [f"{k} {what}" for k in view.kinds for what in ("episodes_using", "uses")]
        records = [{"label": r.label, "episodes": view.episodes[r.label],
                    **{f"{k} {what}": c[r.label][k] for k in view.kinds
                       for what, c in (("episodes_using", view.using), ("uses", view.uses))}} for r in view.runs]
        return header, records
    header = ["task", "subtask", "category", "solved_only_by", *view.fact_names, "steps"]
    records = [{"task": k[0], "subtask": k[1], "category": winner.subtasks[k].category, "solved_only_by": winner.label,
                **view.facts.get(k, {}), "steps": winner.subtasks[k].shortest_win}
               for winner, keys in ((view.a, view.only_a), (view.b, view.only_b)) for k in keys]
    return header, records
