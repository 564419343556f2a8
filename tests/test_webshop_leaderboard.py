"""webshop-mini runs through `harness run` and shows per-category solve rates in the leaderboard."""
import csv
import io
import json
import re
import subprocess
from collections import Counter

import pytest

from conftest import REPO, harness_cmd
from harness.leaderboards import LeaderboardError, build, head_to_head
from harness.leaderboards.render import render
from harness.run import execute
from harness.runstore import RunStore
from harness.specs import load_run_spec
from harness.task import Task
from harness.tasks.webshop.task import WebShopMiniTask


def test_webshop_mini_expert_vs_noisy_in_the_leaderboard(tmp_path):
    paths = {}
    for name, agent in (("expert", {"name": "expert"}), ("noisy", {"name": "noisy_expert", "p": 0.3, "seed": 0})):
        spec = load_run_spec(None, defaults={"task": {"name": "webshop-mini", "split": "test"}, "agent": agent},
                             run=[f"out_dir={tmp_path}", f"name={name}", "progress=false"])
        store = execute(spec)
        paths[name] = store.path
        s = store.summary()
        assert s["complete"] and all(c.startswith("mini-") for c in s["categories"])
    lb = build([paths["expert"], paths["noisy"]], labels={str(paths["expert"]): "expert", str(paths["noisy"]): "noisy"})
    rows = {r.label: r for r in lb.rows}
    assert set(rows) == {"expert", "noisy"}
    expert, noisy = rows["expert"], rows["noisy"]
    assert expert.overall.win_rate == 1.0 and noisy.overall.win_rate < 1.0
    assert set(expert.categories) == set(noisy.categories) and len(expert.categories) == 5
    for _cat, cell in expert.categories.items():
        assert cell.solved == cell.subtasks > 0
    h = head_to_head(expert.run, noisy.run)
    assert len(h.only_b) == 0 and len(h.only_a) == round((1 - noisy.overall.win_rate) * noisy.overall.subtasks)

    # the action view: kinds counted on the agent's own steps, checked against the stored actions
    actions = lb.actions()
    for label in ("expert", "noisy"):
        trajs = list(RunStore.open(paths[label]).latest().values())
        acts = [[a.lower() for a in t.actions] for t in trajs]
        assert actions.episodes[label] == len(trajs)
        assert actions.uses[label]["Next >"] == sum(a.count("click[next >]") for a in acts)
        assert actions.using[label]["Back to Search"] == sum("click[back to search]" in a for a in acts)
        assert actions.uses[label]["search"] == sum(x.startswith("search[") for a in acts for x in a)
        assert sum(actions.uses[label].values()) == sum(map(len, acts))
    assert actions.using["expert"]["Buy Now"] == actions.using["expert"]["search"] == len(trajs)
    assert actions.uses["expert"]["Next >"] > 0  # the catalogue puts some targets on later result pages
    csv_text = render(actions, "csv")
    assert csv_text.splitlines()[0].startswith("label,episodes,") and "Next > episodes_using" in csv_text
    assert "Actions used" in render(actions, "markdown")


def test_webshop_action_kinds():
    kind = WebShopMiniTask.action_kind
    assert [kind(a) for a in ("search[red shoes]", "click[Next >]", "click[< Prev]", "click[Back to Search]",
                              "click[Description]", "click[Buy Now]", "click[B0ABC12345]", "click[multicolor]",
                              "click[10.5 wide]", "think about it", None)] == [
        "search", "Next >", "< Prev", "Back to Search", "Description", "Buy Now", "product", "option", "option",
        "(invalid)", "(invalid)"]
    assert Task.action_kind("open door to kitchen") == "open" and Task.action_kind("  ") == "(invalid)"


def _wins_from_page(env, subtask, query, page, asin, options):
    """Play: search, turn to ``page``, buy ``asin`` with the ``options`` values; whether that wins."""
    env.reset(subtask)
    obs = env.step(f"search[{query}]").observation
    for _ in range(page - 1):
        obs = env.step("click[Next >]").observation
    assert f"Page {page} " in obs and asin in obs.split(" [SEP] ")
    env.step(f"click[{asin}]")
    for value in options:
        env.step(f"click[{value}]")
    return env.step("click[Buy Now]").success


def test_webshop_mini_subtask_facts_agree_with_playing_the_goals():
    from harness.tasks.webshop.env import PRODUCT_WINDOW, choose_options
    task = WebShopMiniTask(WebShopMiniTask.Config(split="test"))
    subtasks = task.subtasks()
    facts = task.subtask_facts(subtasks)
    assert len(facts) == len(subtasks) == 100
    assert all(list(f) == ["difficulty", "target page", "expert steps"] for f in facts.values())
    env = task.make_env()
    catalogue = task.shop().catalogue
    for st in subtasks:
        f = facts[st.id]
        goal = catalogue.goals[st.data["goal"]]
        oracle = env.reset(st, want_oracle=True).oracle
        assert len(oracle.actions) == f["expert steps"]
        query = oracle.actions[0][len("search["):-1]
        # the goal's product is on the target page, and buying it there wins
        product = catalogue.products[catalogue.by_asin[goal.asin]]
        assert _wins_from_page(env, st, query, f["target page"], goal.asin,
                               choose_options(product.options, goal.options).values())
        # hard: no product of the first results page wins; easy: one does
        first_page = task.shop().search.search(query)[:PRODUCT_WINDOW]
        page1_wins = any(_wins_from_page(env, st, query, 1, catalogue.products[i].asin,
                                         choose_options(catalogue.products[i].options, goal.options).values())
                         for i in first_page)
        assert page1_wins == (f["difficulty"] == "easy"), st.id
        assert f["difficulty"] == "easy" or f["target page"] > 1
    counts = Counter(f["difficulty"] for f in facts.values())
    assert 0 < counts["hard"] < 100 and sum(f["target page"] > 1 for f in facts.values()) >= counts["hard"]


# ---------------------------------------------------------------- subtask facts in the leaderboard

def write_shop_run(path, episodes, task=None):
    """A run directory of webshop-mini's test goals from ``{goal: [(success, steps), ...]}`` (a sample each)."""
    import json

    import yaml

    from harness.summary import summarize
    from harness.trajectory import Step, Trajectory
    task = task or {"name": "webshop-mini", "split": "test"}
    path.mkdir(parents=True)
    (path / "spec.yaml").write_text(yaml.safe_dump({"task": task, "agent": {"name": "hf"}}))
    (path / "meta.json").write_text(json.dumps({"spec_hash": "x"}))
    with open(path / "episodes.jsonl", "w") as fh:
        for goal, samples in episodes.items():
            for i, (success, steps) in enumerate(samples):
                t = Trajectory(id=f"mini:{goal}#{i}", task=task["name"], subtask_id=f"mini:{goal}", category="mini-x",
                               sample=i, success=success, score=100.0 if success else 0.0,
                               steps=[Step(action="click[Next >]", observation="o")] * steps)
                fh.write(t.model_dump_json() + "\n")
    store = RunStore.open(path)
    store.write_summary(summarize(store.latest().values(), expected=sum(map(len, episodes.values()))))
    return path


@pytest.fixture(scope="module")
def difficulty():
    task = WebShopMiniTask(WebShopMiniTask.Config(split="test"))
    return {int(st.id.split(":")[1]): f["difficulty"] for st, f in
            zip(task.subtasks(), task.subtask_facts(task.subtasks()).values())}


@pytest.fixture
def shop_runs(tmp_path, difficulty):
    """A solves every easy goal (one sample of two), B every third hard goal (both samples); A2 is A's second seed,
    solving every hard goal of an odd number."""
    goals = sorted(difficulty)
    a = write_shop_run(tmp_path / "a", {g: [(difficulty[g] == "easy", 6), (False, 10)] for g in goals})
    b = write_shop_run(tmp_path / "b", {g: [(difficulty[g] == "hard" and g % 3 == 0, 9),
                                            (difficulty[g] == "hard" and g % 3 == 0, 8)] for g in goals})
    a2 = write_shop_run(tmp_path / "a2", {g: [(difficulty[g] == "hard" and g % 2 == 1, 7)] for g in goals})
    return {"A": a, "B": b, "A2": a2}


def test_by_difficulty_columns_count_the_subtasks_of_each_value(shop_runs, difficulty):
    easy = [g for g, d in difficulty.items() if d == "easy"]
    hard = [g for g, d in difficulty.items() if d == "hard"]
    labels = {str(shop_runs[name]): name for name in ("A", "B")}
    plain = build([shop_runs["A"], shop_runs["B"]], labels=labels)
    lb = build([shop_runs["A"], shop_runs["B"]], labels=labels, by="difficulty")
    assert lb.categories == ["easy", "hard"] and lb.by == "difficulty" and lb.warnings == []
    rows = {r.label: r for r in lb.rows}
    a, b = rows["A"].categories, rows["B"].categories
    assert (a["easy"].solved, a["easy"].subtasks, a["hard"].solved, a["hard"].subtasks) == (
        len(easy), len(easy), 0, len(hard))
    assert (b["easy"].solved, b["hard"].solved, b["hard"].episodes) == (
        0, sum(g % 3 == 0 for g in hard), 2 * len(hard))
    for row in plain.rows:  # the overall numbers do not change
        assert rows[row.label].overall == row.overall
    # --pool: A's two seeds as one row; a hard goal is solved when either seed solved it
    pooled = build([shop_runs["A"], shop_runs["A2"], shop_runs["B"]], labels={**labels, str(shop_runs["A2"]): "A"},
                   pool=True, by="difficulty")
    pa = {r.label: r for r in pooled.rows}["A"].categories
    assert (pa["easy"].solved, pa["hard"].solved, pa["hard"].episodes) == (
        len(easy), sum(g % 2 == 1 for g in hard), 3 * len(hard))
    # every format shows the fact's values as the columns
    md = render(lb, "markdown")
    assert "columns by difficulty" in md
    assert re.search(rf"\| A +\| complete +\|.*\| 100.0% \({len(easy)}/{len(easy)}\) \| +0.0% \(0/{len(hard)}\) \|", md)
    recs = {r["label"]: r for r in csv.DictReader(io.StringIO(render(lb, "csv")))}
    assert (recs["B"]["hard solved"], recs["B"]["hard subtasks"]) == (str(sum(g % 3 == 0 for g in hard)),
                                                                      str(len(hard)))
    d = json.loads(render(lb, "json"))
    assert d["by"] == "difficulty" and d["runs"][0]["categories"]["easy"]["subtasks_solved"] == len(easy)
    assert 'data-key="cat:hard"' in render(lb, "html") and "0/" + str(len(hard)) in render(lb, "rich")
    # the per-subtask view keeps the categories
    assert render(lb.per_subtask(), "csv") == render(plain.per_subtask(), "csv")
    by_page = build([shop_runs["A"]], by="target page")
    assert by_page.categories[0] == "target page 1" and all(c.startswith("target page ") for c in by_page.categories)


def test_by_an_unknown_fact_names_the_facts_there_are(shop_runs):
    with pytest.raises(LeaderboardError, match="--by 'colour': .*'difficulty', 'target page', 'expert steps'"):
        build([shop_runs["A"]], by="colour")
    res = subprocess.run(harness_cmd() + ["leaderboard", str(shop_runs["A"]), "--by", "colour"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "'difficulty', 'target page', 'expert steps'" in res.stderr
    res = subprocess.run(harness_cmd() + ["leaderboard", str(shop_runs["A"]), "--by", "difficulty", "--format",
                                          "json"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and json.loads(res.stdout)["categories"] == ["easy", "hard"], res.stderr


def test_head_to_head_lists_facts_and_the_winners_shortest_steps(shop_runs, difficulty):
    labels = {str(shop_runs[name]): name for name in ("A", "B")}
    lb = build([shop_runs["A"], shop_runs["B"]], labels=labels)
    h = head_to_head(lb.find("A"), lb.find("B"), lb.facts)
    assert h.fact_names == ["difficulty", "target page", "expert steps"]
    assert {h.facts[k]["difficulty"] for k in h.only_a} == {"easy"} and {h.facts[k]["difficulty"] for k in
                                                                       h.only_b} == {"hard"}
    md = render(h, "markdown")
    header = next(line for line in md.splitlines() if line.startswith("| subtask "))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "subtask", "category", "difficulty", "target page", "expert steps", "steps", "A", "B"]
    k = h.only_b[0]
    page, expert_steps = h.facts[k]["target page"], h.facts[k]["expert steps"]
    assert re.search(rf"\| {k[1]} +\| mini-x +\| hard +\| +{page} \| +{expert_steps} \| +8 \| +0/2 \| +2/2 \|", md)
    assert re.search(rf"\| {h.only_a[0][1]} +\| mini-x +\| easy +\| .* \| +6 \| +1/2 \| +0/2 \|", md)
    recs = list(csv.DictReader(io.StringIO(render(h, "csv"))))
    assert recs[0]["difficulty"] == "easy" and recs[0]["steps"] == "6" and recs[-1]["steps"] == "8"
    assert json.loads(render(h, "json"))["b"]["subtasks"][0]["steps"] == 8


def test_a_task_that_cannot_be_built_here_gives_boards_without_facts_and_a_warning(shop_runs, tmp_path, difficulty,
                                                                                    monkeypatch):
    goals = sorted(difficulty)
    gone = {"name": "no-such-task"}
    x = write_shop_run(tmp_path / "x", {g: [(g % 2 == 0, 5)] for g in goals}, task=gone)
    y = write_shop_run(tmp_path / "y", {g: [(g % 3 == 0, 4)] for g in goals}, task=gone)
    lb = build([x, y], labels={str(x): "X", str(y): "Y"})
    h = head_to_head(lb.find("X"), lb.find("Y"), lb.facts)
    assert h.fact_names == [] and any("no-such-task: no subtask facts" in w for w in h.warnings)
    md = render(h, "markdown")
    assert re.search(r"\| subtask +\| category +\| +steps \| +X \| +Y \|", md)
    assert "no subtask facts" in md
    # next to a webshop-mini run, --by still gives a board: the other task's subtasks under 'difficulty unknown'
    both = build([shop_runs["A"], x], labels={str(x): "X"}, by="difficulty")
    assert both.categories == ["easy", "hard", "difficulty unknown"]
    assert {r.label: sorted(r.categories) for r in both.rows}["X"] == ["difficulty unknown"]
    assert any("no-such-task: no subtask facts" in w for w in both.warnings)
    # a plugin that is there but cannot be built (webshop without its data)
    monkeypatch.delenv("WEBSHOP_DATA", raising=False)
    z = write_shop_run(tmp_path / "z", {0: [(True, 3)]}, task={"name": "webshop"})
    w = write_shop_run(tmp_path / "w", {0: [(False, 3)]}, task={"name": "webshop"})
    lb = build([z, w], labels={str(z): "Z", str(w): "W"})
    h = head_to_head(lb.find("Z"), lb.find("W"), lb.facts)
    assert len(h.only_a) == 1 and any("task webshop: no subtask facts" in w and "WEBSHOP_DATA" in w
                                      for w in h.warnings)
