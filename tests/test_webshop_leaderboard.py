"""webshop-mini runs through `harness run` and shows per-category solve rates in the leaderboard."""
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
