"""The WebShop environment on the shipped webshop-mini catalogue: pages, actions, the expert, `harness run`."""
import json
import subprocess

import pytest
import yaml

from harness.agents.scripted import (ExpertAgent, ExpertConfig, FlawedExpertAgent, FlawedExpertConfig, NoisyExpertAgent,
                                     NoisyExpertConfig)
from conftest import cli_env, harness_cmd
from harness import Agent, AgentReply
from harness.rollout import EpisodeJob, RolloutEngine
from harness.tasks.webshop import WebShopMiniConfig, WebShopMiniTask
from harness.tasks.webshop.env import oracle_queries
from harness.tasks.webshop.reward import get_reward


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("cache")
    mp.setenv("HARNESS_CACHE", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def task(cache):
    return WebShopMiniTask(WebShopMiniConfig(split="all"))


@pytest.fixture
def env(task):
    env = task.make_env()
    env.reset(task.subtasks()[0])
    return env


def play(task, agent, subtasks, **kw):
    out = []
    RolloutEngine(task, agent, **kw).run([EpisodeJob(subtask=st, seed=i) for i, st in enumerate(subtasks)], out.append)
    return out


def triples(env, indices):
    products = env.shop.catalogue.products
    return " [SEP] ".join(f"{products[i].asin} [SEP] {products[i].title} [SEP] {products[i].price_tag}"
                          for i in indices)


# ---------------------------------------------------------------- pages and actions

def test_first_observation_is_the_search_page(task):
    env = task.make_env()
    reset = env.reset(task.subtasks()[0])
    text = env.s.goal.instruction_text
    assert reset.oracle is None
    assert len(reset.messages) == 1 and reset.messages[0]["role"] == "user"
    assert reset.messages[0]["content"].endswith(f"Observation: WebShop [SEP] Instruction: [SEP] {text} [SEP] Search")
    assert "Thought: " in reset.messages[0]["content"] and "Action: click[Buy Now]" in reset.messages[0]["content"]


def test_results_pages_ten_at_a_time_with_prev_and_next(env):
    text = env.s.goal.instruction_text
    hits = env.shop.search.search("black t-shirt")
    assert len(hits) == 50
    obs = env.step("search[Black T-Shirt]").observation
    assert obs == (f"Instruction: [SEP] {text} [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > "
                   f"[SEP] {triples(env, hits[:10])}")
    obs = env.step("click[Next >]").observation
    assert f"Page 2 (Total results: 50) [SEP] < Prev [SEP] Next > [SEP] {triples(env, hits[10:20])}" in obs
    assert "Page 1 (Total results: 50) [SEP] Next >" in env.step("click[< Prev]").observation
    for _ in range(5):
        obs = env.step("click[next >]").observation
    assert obs.endswith("Page 6 (Total results: 50) [SEP] < Prev [SEP] Next >")  # past the end: an empty page


def test_total_results_counts_only_matching_products(env):
    hits = env.shop.search.search("ballet")
    assert 0 < len(hits) < 10
    assert (f"Page 1 (Total results: {len(hits)}) [SEP] Next > [SEP] {triples(env, hits)}"
            in env.step("search[ballet]").observation)
    env.step("click[Back to Search]")
    assert env.step("search[qwzx]").observation.endswith("Page 1 (Total results: 0) [SEP] Next >")


def test_item_page_options_sub_pages_and_back(env):
    text = env.s.goal.instruction_text
    hits = env.shop.search.search("black t-shirt")
    env.step("search[black t-shirt]")
    p = env.shop.catalogue.products[hits[3]]
    assert list(p.options) == ["size", "color"]
    obs = env.step(f"click[{p.asin.lower()}]").observation  # clicks ignore case
    assert obs == (f"Instruction: [SEP] {text} [SEP] Back to Search [SEP] < Prev [SEP] size [SEP] "
                   f"{' [SEP] '.join(p.options['size'])} [SEP] color [SEP] {' [SEP] '.join(p.options['color'])} [SEP] "
                   f"{p.title} [SEP] Price: {p.price_tag} [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] "
                   "Reviews [SEP] Buy Now")
    assert env.step("click[LARGE]").observation == obs  # pages do not mark chosen options
    env.step("click[small]")  # replaces the earlier size
    env.step("click[Black]")
    assert env.s.options == {"size": "small", "color": "black"}
    assert env.step("click[Description]").observation == (
        f"Instruction: [SEP] {text} [SEP] Back to Search [SEP] < Prev [SEP] {p.description}")
    assert env.step("click[< Prev]").observation == obs
    assert env.step("click[Features]").observation.endswith(f"< Prev [SEP] {' [SEP] '.join(p.bullets)}")
    assert env.step("click[< Prev]").observation == obs and env.s.options == {"size": "small", "color": "black"}
    assert "Page 1 (Total results: 50)" in env.step("click[< Prev]").observation
    assert env.s.options == {}  # the results page clears chosen options, as in the original
    assert env.step("click[Back to Search]").observation == f"WebShop [SEP] Instruction: [SEP] {text} [SEP] Search"


@pytest.mark.parametrize("action, why", [
    ("buy the shirt", "Actions are search[keywords] and click[value]"),
    ("Click[Next >]", "Actions are search[keywords] and click[value]"),  # the verb is case-sensitive
    ("search[red shirt]", "search is only possible on the search page"),
    ("click[Buy Now]", "is not clickable on this page"),
    ("click[B0NOTHERE1]", "is not clickable on this page"),
    ("click[< prev]", "is not clickable on this page"),  # page 1 has no "< Prev"
])
def test_invalid_actions_leave_the_page_as_it_was(env, action, why):
    env.step("search[black t-shirt]")
    before = env.render()
    res = env.step(action)
    assert res.observation.startswith("Invalid action") and why in res.observation
    assert (res.reward, res.done, res.success) == (0.0, False, False)
    assert env.render() == before


def test_search_only_on_the_search_page_and_click_search_is_not_an_action(env):
    assert env.step("click[Search]").observation.startswith("Invalid action")
    assert "Page 1" in env.step("search[black t-shirt]").observation


def test_buy_now_ends_the_episode_with_the_original_reward(env):
    cat = env.shop.catalogue
    hits = env.shop.search.search("black t-shirt")
    env.step("search[black t-shirt]")
    env.step(f"click[{cat.products[hits[0]].asin}]")
    env.step("click[medium]")
    expected = get_reward(cat.products[hits[0]], env.s.goal, cat.prices[hits[0]], {"size": "medium"}, env.shop.nouns)
    res = env.step("click[Buy Now]")
    assert res.done and res.score == pytest.approx(100 * expected.total) and res.reward == res.score
    assert res.success == (expected.total == 1.0)
    assert res.observation == ("Thank you for shopping with us! [SEP] Your score (min 0.0, max 1.0) [SEP] "
                               f"{expected.total}")
    assert env.step("click[Back to Search]").observation.startswith("Invalid action")


class NextForever(Agent):
    def act(self, requests):
        return [AgentReply(text="Thought: more results.\nAction: click[Next >]") for _ in requests]


def test_step_limit_ends_an_episode_without_a_purchase(task):
    assert task.max_steps(task.subtasks()[0]) == 15
    (t,) = play(task, NextForever(None), task.subtasks()[:1], num_envs=1, max_steps=4)
    assert len(t.steps) == 4 and not t.done and not t.success and t.score == 0


# ---------------------------------------------------------------- the shipped catalogue and the expert

def test_subtasks_splits_and_honest_names(cache):
    def ids(**kw):
        return [st.id for st in WebShopMiniTask(WebShopMiniConfig(**kw)).subtasks()]

    everything = WebShopMiniTask(WebShopMiniConfig(split="all")).subtasks()
    assert len(everything) > 200
    assert all(st.id.startswith("mini:") and st.category.startswith("mini-") for st in everything)
    assert {st.category for st in everything} == {f"mini-{c}" for c in ("beauty", "electronics", "fashion", "food",
                                                                        "furniture")}
    assert ids() == [f"mini:{i}" for i in range(100)]  # test is the default split
    assert ids(split="dev") == [f"mini:{i}" for i in range(100, 150)]
    assert ids(split="train") == [f"mini:{i}" for i in range(150, len(everything))]
    assert ids(goals=[7, 3], limit=1) == ["mini:7"]


def test_the_expert_wins_every_shipped_instruction(task):
    subtasks = task.subtasks()
    cat = task.shop().catalogue
    for st in subtasks:  # the search the expert makes is the instruction itself, and finds the product
        goal = cat.goals[st.data["goal"]]
        assert cat.by_asin[goal.asin] in task.shop().search.search(oracle_queries(goal)[0]), goal.instruction_text
    out = play(task, ExpertAgent(ExpertConfig()), subtasks, num_envs=2)
    assert len(out) == len(subtasks)
    assert all(t.status == "ok" and t.success and t.score == 100 for t in out)
    paged = [t for t in out if "click[Next >]" in t.actions]
    assert len(paged) >= 5  # some products are on later results pages
    goal_of = {st.id: cat.goals[st.data["goal"]] for st in subtasks}
    assert all(t.actions[0] == f"search[{oracle_queries(goal_of[t.subtask_id])[0]}]" for t in out)


def test_the_noisy_expert_fails_some(task):
    out = play(task, NoisyExpertAgent(NoisyExpertConfig(p=0.3, seed=1)), task.subtasks()[:60], num_envs=2)
    wins = sum(t.success for t in out)
    assert 10 < wins < 55
    assert any(s.observation.startswith("Invalid action") for t in out for s in t.steps)


def _oracles(task, subtasks):
    env, cat = task.make_env(), task.shop().catalogue
    return {st.id: env.oracle(cat.goals[st.data["goal"]]) for st in subtasks}


def test_flawed_expert_slips_once_where_the_task_says_and_keeps_the_rest_of_the_path(task):
    subtasks = task.subtasks()
    oracles = _oracles(task, subtasks)
    out = play(task, FlawedExpertAgent(FlawedExpertConfig(p_hard=1.0, p_easy=1.0, seed=3)), subtasks, num_envs=2)
    for t in out:
        gold, slips = oracles[t.subtask_id].actions, oracles[t.subtask_id].slips
        assert len(t.actions) == len(gold)
        wrong = [i for i, (a, g) in enumerate(zip(t.actions, gold)) if a != g]
        assert len(wrong) == 1 and t.actions[wrong[0]] in slips[wrong[0]]
        assert not gold[wrong[0]].startswith(("search[", "click[Next >]"))  # the search and page turns stay right
    assert not any(t.success for t in out)  # every slip loses: the oracle offers only losing ones
    # thoughts say why, without repeating the action (a model imitating them needs few tokens)
    replies = [m.content for t in out for m in t.messages if m.role == "assistant"]
    assert replies and all("[" not in r.split("\nAction:")[0] for r in replies)


def test_hard_means_nothing_on_the_first_results_page_wins(task, monkeypatch):
    env, cat = task.make_env(), task.shop().catalogue
    goal = next(g for g in cat.goals if g.options)
    target = cat.by_asin[goal.asin]
    others = [i for i, p in enumerate(cat.products) if p.category != goal.category][:12]  # wrong kind: they lose
    assert not env.oracle(goal).hard  # webshop-mini as shipped: page 1 holds a winner
    monkeypatch.setattr(task.shop().search, "search", lambda q, k=50: others + [target])
    oracle = env.oracle(goal)
    assert oracle.hard and oracle.actions[1] == "click[Next >]" and oracle.actions[2] == f"click[{goal.asin}]"
    monkeypatch.setattr(task.shop().search, "search", lambda q, k=50: others[:3] + [target] + others[3:])
    assert not env.oracle(goal).hard


def test_flawed_expert_chances_and_seeds(task):
    subtasks = task.subtasks()[:80]
    oracles = _oracles(task, subtasks)

    def slipped(seed, **p):
        out = play(task, FlawedExpertAgent(FlawedExpertConfig(seed=seed, **p)), subtasks, num_envs=2)
        return {t.subtask_id for t in out if t.actions != oracles[t.subtask_id].actions}

    assert slipped(0, p_hard=1.0, p_easy=0.0) == {st.id for st in subtasks if oracles[st.id].hard}
    assert slipped(0, p_hard=0.0, p_easy=1.0) == {st.id for st in subtasks if not oracles[st.id].hard}
    some = slipped(1, p_hard=0.5, p_easy=0.5)
    assert some == slipped(1, p_hard=0.5, p_easy=0.5)  # seeded per episode
    assert some != slipped(2, p_hard=0.5, p_easy=0.5) and 15 < len(some) < 65


def test_expert_wins_with_stemming_too(cache):
    pytest.importorskip("Stemmer")
    task = WebShopMiniTask(WebShopMiniConfig(split="all", stemmer="english"))
    assert all(t.success for t in play(task, ExpertAgent(ExpertConfig()), task.subtasks(), num_envs=2))


def test_harness_run_writes_per_category_solve_rates(tmp_path, cache):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"task": {"name": "webshop-mini", "limit": 10},
                                    "agent": {"name": "expert"},
                                    "run": {"out_dir": str(tmp_path / "runs"), "name": "ws", "progress": False}}))
    res = subprocess.run(harness_cmd() + ["run", str(spec), "-T", "split=dev"], capture_output=True, text=True,
                         env=cli_env(HARNESS_CACHE=str(cache)), timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "runs" / "ws" / "summary.json").read_text())
    assert summary["episodes"] == 10 and summary["win_rate"] == 1.0 and summary["complete"]
    assert summary["categories"] and all(c.startswith("mini-") and v["win_rate"] == 1.0
                                         for c, v in summary["categories"].items())
    episodes = [json.loads(line) for line in (tmp_path / "runs" / "ws" / "episodes.jsonl").read_text().splitlines()]
    assert sorted(e["subtask_id"] for e in episodes) == sorted(f"mini:{i}" for i in range(100, 110))
