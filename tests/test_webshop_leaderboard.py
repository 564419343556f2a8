"""webshop-mini runs through `harness run` and shows per-category solve rates in the leaderboard."""
from harness.run import execute
from harness.specs import load_run_spec
from harness.leaderboards import build, head_to_head


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
