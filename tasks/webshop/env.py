"""The WebShop text environment: pages, clickables and actions as in the original's ``WebAgentTextEnv``.

Observations are the original's ``observation_mode="text"`` (as used by the LLM-agent baselines
ETO, IPR and EEF): the visible texts of the page, stripped and joined with " [SEP] ". For example
``WebShop [SEP] Instruction: [SEP] i need ... [SEP] Search`` for the search page, and for a results
page ``Instruction: [SEP] ... [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next >
[SEP] B0... [SEP] <title> [SEP] $12.99 [SEP] ...`` (10 results a page, "< Prev" from page 2 on;
"Next >" is always there, as in the original, and past the last page shows an empty page).
An item page lists each option name followed by its values, then the title, "Price: ...",
"Rating: N.A.", "Description", "Features", "Reviews" and "Buy Now"; its sub-pages show the
description, the bullet points, or (no reviews exist in the data) nothing. Like the original's
"text" mode, pages do not mark which options are selected.

Actions: ``search[keywords]`` and ``click[value]``, parsed as the original (``name[arg]``, the
argument lower-cased; the verb is case-sensitive). A click must name a clickable of the current
page: a button ("Back to Search", "Next >", "< Prev", "Description", "Features", "Reviews",
"Buy Now"), a product ASIN on a results page, or an option value on an item page; case does not
matter. Choosing an option keeps it until the results page is shown again. "Buy Now" ends the
episode with the reward of ``reward.get_reward``. Where the original silently does nothing, this
env answers with an observation starting "Invalid action" and leaves the page as it was; it also
refuses ``search[...]`` away from the search page, which the original's text env runs from any
page although only the search page has a search bar (agents are offered search only there).

After "Buy Now" the original shows a page with the score and, in hidden HTML that its text mode
still prints, the goal; here it is "Thank you for shopping with us! [SEP] Your score (min 0.0,
max 1.0) [SEP] <reward>". ``score`` is 100 x the reward (the 0-100 "average reward" scale of the
papers) and the step's ``reward`` the change in score; success = reward 1.0.
"""
from __future__ import annotations

import functools

import re
from dataclasses import dataclass, field
from typing import Callable

from harness import Env, Oracle, ResetResult, StepResult, Subtask

from .catalogue import Catalogue, Goal
from .prompt import first_message
from .reward import FUZZY_THRESHOLD, fuzzy, get_reward, normalize_color
from .search import SearchEngine

PRODUCT_WINDOW = 10
SUB_PAGES = ("Description", "Features", "Reviews")
_ACTION = re.compile(r"(.+)\[(.+)\]")  # the original's parse: greedy, anchored at the start only
_PRICE_CLAUSE = re.compile(r",? and price lower than [\d.]+ dollars$")


@dataclass
class Shop:
    """What every env of a task shares (read-only): the catalogue, its search engine and the noun tagger."""
    catalogue: Catalogue
    search: SearchEngine
    nouns: Callable[[str], list[str]]
    icl_example: bool = True


@dataclass
class _Session:
    goal: Goal
    page: str = "search"  # search | results | item | sub | done
    results: list[int] = field(default_factory=list)  # the last search's products, best first
    page_num: int = 1
    item: int = -1  # product shown on the item page and its sub-pages
    options: dict[str, str] = field(default_factory=dict)  # option name -> chosen value
    sub_page: str = ""


def oracle_queries(goal: Goal) -> list[str]:
    ("""Searches the scripted expert tries, in order: the instruction without its price clause, """
     """the product's query, its title.""")
    return [_PRICE_CLAUSE.sub("", goal.instruction_text).lower(), goal.query, goal.name.lower()]


class WebShopEnv(Env):
    def __init__(self, shop: Shop):
        self.shop = shop
        self.s: _Session | None = None

    # ------------------------------------------------------------ episode

    def reset(self, subtask: Subtask, *, want_oracle: bool = False) -> ResetResult:
        goal = self.shop.catalogue.goals[subtask.data["goal"]]
        self.s = _Session(goal=goal)
        messages = [{"role": "user", "content": first_message(self.format_observation(self.render()),
                                                              self.shop.icl_example)}]
        return ResetResult(messages=messages, oracle=self.oracle(goal) if want_oracle else None)

    def step(self, action: str) -> StepResult:
        s = self.s
        if s.page == "done":
            return self._stay("Invalid action: the episode is over.")
        m = _ACTION.match(action)
        if m is None or m.group(1) not in ("search", "click"):
            return self._stay(f"Invalid action: {action!r}. Actions are search[keywords] and click[value].")
        verb, arg = m.group(1), m.group(2).lower()
        if verb == "search":
            if s.page != "search":
                return self._stay("Invalid action: search is only possible on the search page "
                                  "(click[Back to Search] first).")
            s.results = self.shop.search.search(arg)
            self._show_results(1)
        else:
            clickables = self.clickables()
            if arg not in clickables:
                return self._stay(f"Invalid action: {m.group(2)!r} is not clickable on this page.")
            if arg == "buy now":
                return self._buy()
            self._click(arg, clickables[arg])
        return StepResult(observation=self.render(), reward=0.0, score=0.0, done=False, success=False)

    def _stay(self, message: str) -> StepResult:
        return StepResult(observation=message, reward=0.0, score=0.0, done=False, success=False)

    def _show_results(self, page_num: int) -> None:
        s = self.s
        s.page, s.page_num, s.item, s.options = "results", page_num, -1, {}

    def _click(self, name: str, target: tuple[str, object]) -> None:
        """The original's dispatch order: buttons by name first, then a product or an option."""
        s = self.s
        if name == "back to search":
            self.s = _Session(goal=s.goal)
        elif name == "next >" and s.page == "results":
            self._show_results(s.page_num + 1)
        elif name == "< prev" and s.page == "results":
            self._show_results(s.page_num - 1)
        elif name == "< prev" and s.page == "sub":
            s.page = "item"
        elif name == "< prev" and s.page == "item":
            self._show_results(s.page_num)
        elif name in ("description", "features", "reviews"):
            s.page, s.sub_page = "sub", name.capitalize()
        else:
            kind, value = target
            if kind == "product":
                s.item = value
            else:
                s.options[value] = name
            s.page = "item"

    def _buy(self) -> StepResult:
        s = self.s
        product = self.shop.catalogue.products[s.item]
        r = get_reward(product, s.goal, self.shop.catalogue.prices[s.item], s.options, self.shop.nouns).total
        s.page = "done"
        obs = f"Thank you for shopping with us! [SEP] Your score (min 0.0, max 1.0) [SEP] {r}"
        return StepResult(observation=obs, reward=100 * r, score=100 * r, done=True, success=r >= 1.0)

    # ------------------------------------------------------------ pages

    def clickables(self) -> dict[str, tuple[str, object]]:
        """Lower-cased clickable text -> what it is: ("button", None), ("product", index) or ("option", option name)."""
        s = self.s
        products = self.shop.catalogue.products
        out: dict[str, tuple[str, object]] = {}
        if s.page in ("results", "item", "sub"):
            out["back to search"] = ("button", None)
        if s.page == "results":
            if s.page_num > 1:
                out["< prev"] = ("button", None)
            out["next >"] = ("button", None)
            for i in self._page_results():
                out[products[i].asin.lower()] = ("product", i)
        elif s.page == "item":
            out["< prev"] = ("button", None)
            for name in SUB_PAGES:
                out[name.lower()] = ("button", None)
            out["buy now"] = ("button", None)
            for name, values in products[s.item].options.items():
                for v in values:
                    out[v] = ("option", name)
        elif s.page == "sub":
            out["< prev"] = ("button", None)
        return out

    def _page_results(self) -> list[int]:
        s = self.s
        return s.results[(s.page_num - 1) * PRODUCT_WINDOW: s.page_num * PRODUCT_WINDOW]

    def render(self) -> str:
        s = self.s
        head = ["Instruction:", s.goal.instruction_text, "Back to Search"]
        if s.page == "search":
            texts = ["WebShop", "Instruction:", s.goal.instruction_text, "Search"]
        elif s.page == "results":
            texts = head + [f"Page {s.page_num} (Total results: {len(s.results)})"]
            texts += (["< Prev"] if s.page_num > 1 else []) + ["Next >"]
            for i in self._page_results():
                p = self.shop.catalogue.products[i]
                texts += [p.asin, p.title, p.price_tag]
        elif s.page == "item":
            p = self.shop.catalogue.products[s.item]
            texts = head + ["< Prev"]
            for name, values in p.options.items():
                texts += [name, *values]
            texts += [p.title, f"Price: {p.price_tag}", "Rating: N.A.", *SUB_PAGES, "Buy Now"]
        else:
            p = self.shop.catalogue.products[s.item]
            body = {"Description": [p.description], "Features": p.bullets, "Reviews": []}[s.sub_page]
            texts = head + ["< Prev", *body]
        return " [SEP] ".join(t.strip() for t in texts if t.strip())

    # ------------------------------------------------------------ scripted expert

    def oracle(self, goal: Goal) -> Oracle:
        """The winning path: a search ranking the goal's product in the top 50, "Next >" to its page, the product,
        the goal's options, "Buy Now"; distractors are other products, other values of those options, and buttons.

        On the official data the path scores below 1.0 when the goal names options its product does
        not offer, and none of ``oracle_queries`` may find the product (then this raises, and the
        engine records the episode as an env error).
        """
        cat = self.shop.catalogue
        target = cat.by_asin[goal.asin]
        product = cat.products[target]
        for query in oracle_queries(goal):
            results = self.shop.search.search(query)
            if target in results:
                break
        else:
            raise RuntimeError(f"goal {goal.index}: no expert search finds {goal.asin} in the top 50")
        rank = results.index(target)
        page_start = rank - rank % PRODUCT_WINDOW
        actions = [f"search[{query}]"] + ["click[Next >]"] * (rank // PRODUCT_WINDOW) + [f"click[{goal.asin}]"]
        chosen = choose_options(product.options, goal.options)
        actions += [f"click[{v}]" for v in chosen.values()] + ["click[Buy Now]"]
        others = [cat.products[i].asin for i in results[page_start: page_start + PRODUCT_WINDOW] if i != target]
        wrong_options = [v for name in chosen for v in product.options[name] if v != chosen[name]]
        distractors = ([f"click[{a}]" for a in others[:4]] + [f"click[{v}]" for v in wrong_options]
                       + [f"search[{goal.query}]", "click[Back to Search]", "click[< Prev]", "click[Description]",
                          "click[Features]", "click[Next >]"])
        # Mistakes that lose the goal: a neighbour of the target on its page, a wrong value of an option
        # (only those that score below 1.0: near-identical products can win as well).
        def loses(i: int, options: dict[str, str]) -> bool:
            return get_reward(cat.products[i], goal, cat.prices[i], options, self.shop.nouns).total < 1.0

        @functools.cache
        def bought_loses(i: int) -> bool:  # product i bought with the options an expert would choose
            return loses(i, choose_options(cat.products[i].options, goal.options))

        neighbours = [i for i in results[page_start: page_start + PRODUCT_WINDOW] if i != target]
        product_at = len(actions) - len(chosen) - 2
        slips = {product_at: [f"click[{cat.products[i].asin}]" for i in neighbours if bought_loses(i)][:4]}
        for k, name in enumerate(chosen):
            slips[product_at + 1 + k] = [f"click[{v}]" for v in product.options[name]
                                         if v != chosen[name] and loses(target, {**chosen, name: v})]
        # hard: nothing on the first results page wins, so the page must be turned
        hard = all(bought_loses(i) for i in results[:PRODUCT_WINDOW])
        return Oracle(actions=actions, distractors=distractors, slips=slips, hard=hard)


def choose_options(options: dict[str, list[str]], goal_options: list[str] | dict[str, str]) -> dict[str, str]:
    ("""Per goal option, the product's value that the reward counts as a match (an equal one first), """
     """one per option name; a synthetic goal's named options where the product has them.""")
    if isinstance(goal_options, dict):
        return {name: value for name, value in goal_options.items() if value in options.get(name, [])}
    chosen: dict[str, str] = {}
    for wanted in goal_options:
        candidates = [(name, v) for name, values in options.items() if name not in chosen for v in values]
        equal = [(n, v) for n, v in candidates if v == wanted.lower()]
        close = [(n, v) for n, v in candidates
                 if fuzzy(normalize_color(v), normalize_color(wanted)) > FUZZY_THRESHOLD]
        if equal or close:
            name, value = (equal or close)[0]
            chosen[name] = value
    return chosen
