"""webshop-mini runs through `harness run` and shows per-category solve rates in the leaderboard."""
from collections import Counter

from harness.leaderboards import build, head_to_head
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
