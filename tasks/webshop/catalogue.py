"""Products and human goals, read from WebShop's official data files (or built in memory in their schema).

The official files (princeton-nlp/WebShop ``setup.sh``):

- ``items_shuffle.json`` / ``items_shuffle_1000.json``: a list of scraped products, each with
  ``asin``, ``name``, ``full_description``, ``small_description`` (bullet points, list or string),
  ``pricing`` ("$12.99" or "$10.99 - $15.99"), ``customization_options``
  (``{option name: [{"value": ...}, ...]}``), ``category``, ``query``, ``product_category``
  ("A › B › C"). ``Title``/``Description``/``BulletPoints`` are accepted in place of
  ``name``/``full_description``/``small_description``.
- ``items_ins_v2.json`` / ``items_ins_v2_1000.json``: ``{asin: {"attributes": [...], "instruction",
  "instruction_attributes"}}``; the last two are the synthetic goals' (``instruction`` may be null).
- ``items_human_ins.json``: ``{asin: [{"instruction", "instruction_attributes",
  "instruction_options"}, ...]}``, the human instructions.

Normalisation follows the original ``load_products``: ASINs that are 'nan' or longer than 10
characters and repeated ASINs are skipped; option values are stripped, lower-cased and '/'
becomes ' | '; a product without attributes gets ``['DUMMY_ATTR']``; the query is lower-cased;
missing pricing means $100.0. Missing text fields read as empty (the original would crash).
The original's ``average_rating`` and reviews are not shown (it shows "Rating: N.A." and no
reviews for every product), so they are not read.

Goals follow ``get_human_goals``: one per human instruction with at least one attribute, in
product order; ``price_upper`` is drawn from [10, 20, ..., 990] above the product's price and
appended to the instruction text ("..., and price lower than 40.00 dollars"); then the list is
shuffled with ``random.seed(233)``. The original draws prices of products with a price range and
each ``price_upper`` from Python's global RNG, unseeded at that point, so its instruction texts
change from process to process. We draw them in the same order from ``random.Random(price_seed)``:
the goals are what the original gives after ``random.seed(price_seed)`` at start-up, and every
run sees the same ones. The shuffle is the original's, so goal *i* is the original's session *i*.

Synthetic goals (``goal_source="synthetic"``, the original's ``human_goals=False``) follow
``get_synthetic_goals``: per product whose ``items_ins_v2`` entry has an ``instruction``, one
``price_upper`` drawn as above, then one goal per combination of the product's option values
(option names sorted; a product without options gives one goal), with options as a dict
name -> value and the text "<instruction> with <name>: <value>, and <name>: <value>, and price
lower than ... dollars" (the instruction not stripped of '.'). Its attributes are the entry's
``instruction_attributes``, which must not be empty (the original asserts it). Products missing
from ``items_ins_v2`` give no goals (the original stops with a KeyError). The same shuffle follows.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from harness.errors import SpecError

PRICE_RANGE = [10.0 * i for i in range(1, 100)]
GOAL_SHUFFLE_SEED = 233  # the original's fixed seed for the goal order
NO_PRICE_LIMIT = 1_000_000.0

# (full catalogue, 1000-product subset) file names per role
PRODUCT_FILES = ("items_shuffle.json", "items_shuffle_1000.json")
ATTRIBUTE_FILES = ("items_ins_v2.json", "items_ins_v2_1000.json")
HUMAN_FILE = "items_human_ins.json"


@dataclass
class Product:
    asin: str
    title: str  # also the 'name' the type reward compares
    description: str
    bullets: list[str]
    price_tag: str  # as shown: "$12.99" or "$10.99 to $15.99"
    pricing: list[float]
    options: dict[str, list[str]]  # option name -> values, in page order
    attributes: list[str]
    category: str
    query: str
    product_category: str

    def search_text(self) -> str:
        """What the original indexes: title, description, first bullet point and the options."""
        option_text = ", and ".join(f"{name}: {', '.join(values)}" for name, values in self.options.items())
        first_bullet = self.bullets[0] if self.bullets else ""
        return " ".join([self.title, self.description, first_bullet, option_text]).lower()


@dataclass
class Goal:
    index: int  # position in the shuffled goal list: the original's session number
    asin: str
    category: str
    query: str
    name: str
    product_category: str
    instruction_text: str
    attributes: list[str]
    price_upper: float
    # human goals: the wanted option values; synthetic goals: option name -> value (the reward then
    # matches (name, value) pairs, as the original)
    options: list[str] | dict[str, str] = field(default_factory=list)


@dataclass
class Catalogue:
    products: list[Product]
    prices: list[float]  # what each product sells for (a drawn price when it lists a range)
    goals: list[Goal]
    fingerprint: str  # hash of the product data: keys the search index cache
    by_asin: dict[str, int] = field(init=False)

    def __post_init__(self):
        self.by_asin = {p.asin: i for i, p in enumerate(self.products)}


# ---------------------------------------------------------------- reading files

def data_files(data_dir: Path, catalogue: str) -> dict[str, Path]:
    """The product, attribute and human-instruction files to read; raises ValueError naming what is missing.

    ``catalogue``: "full" (items_shuffle.json, items_ins_v2.json), "1000" (the ``_1000`` files) or
    "auto" (full when items_shuffle.json is there, else 1000).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ValueError(f"WebShop data directory not found: {data_dir}")
    if catalogue == "auto":
        catalogue = "full" if (data_dir / PRODUCT_FILES[0]).is_file() else "1000"
    i = 0 if catalogue == "full" else 1
    files = {"products": data_dir / PRODUCT_FILES[i], "attributes": data_dir / ATTRIBUTE_FILES[i],
             "human": data_dir / HUMAN_FILE}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise ValueError(f"{data_dir}: missing WebShop data file(s) {missing} (from princeton-nlp/WebShop's "
                         f"setup.sh: items_shuffle[_1000].json, items_ins_v2[_1000].json, {HUMAN_FILE})")
    for role, path in files.items():
        _check_starts_like_json(path, "[" if role == "products" else "{")
    return files


def _check_starts_like_json(path: Path, opener: str) -> None:
    """A cheap early check; the full parse comes when the task loads (before any episode)."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    if not head.startswith(opener.encode()):
        what = "a list" if opener == "[" else "an object"
        raise ValueError(f"{path}: expected a JSON file holding {what}, found {head[:20]!r}")


def _read_json(path: Path, hasher=None) -> Any:
    data = path.read_bytes()
    if hasher is not None:
        hasher.update(data)
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid JSON ({exc})") from None


def load_catalogue(files: dict[str, Path], price_seed: int = 0, goal_source: str = "human") -> Catalogue:
    hasher = hashlib.sha256()
    raw_products = _read_json(files["products"], hasher)
    raw_attributes = _read_json(files["attributes"])
    raw_human = _read_json(files["human"])
    return build_catalogue(raw_products, raw_attributes, raw_human, price_seed=price_seed,
                           fingerprint=hasher.hexdigest(),
                           sources={k: str(v) for k, v in files.items()}, goal_source=goal_source)


# ---------------------------------------------------------------- normalising

def build_catalogue(raw_products: Any, raw_attributes: Any, raw_human: Any, *, price_seed: int, fingerprint: str,
                    sources: dict[str, str], goal_source: str = "human") -> Catalogue:
    """Products and shuffled goals (``goal_source``: "human" or "synthetic") from data in the official schema;
    errors name ``sources[role]``."""
    for role, value, kind in (("products", raw_products, list), ("attributes", raw_attributes, dict),
                              ("human", raw_human, dict)):
        if not isinstance(value, kind):
            raise SpecError(f"{sources[role]}: expected a JSON {'list' if kind is list else 'object'}, "
                            f"found {type(value).__name__}")
    products: list[Product] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_products):
        asin = raw.get("asin") if isinstance(raw, dict) else None
        if not isinstance(asin, str):
            raise SpecError(f"{sources['products']}: product #{i} has no 'asin'")
        if asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        try:
            products.append(_product(raw, raw_attributes.get(asin)))
        except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
            raise SpecError(f"{sources['products']}: product #{i} ({asin}): {_describe(exc)}") from None
    rng = random.Random(price_seed)
    prices = [_selling_price(p.pricing, rng) for p in products]
    if goal_source == "synthetic":
        goals = _synthetic_goals(products, prices, raw_attributes, rng, sources["attributes"])
    else:
        goals = _human_goals(products, prices, raw_human, rng, sources["human"])
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    for i, g in enumerate(goals):
        g.index = i
    return Catalogue(products=products, prices=prices, goals=goals, fingerprint=fingerprint)


def _describe(exc: Exception) -> str:
    return f"missing key {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"


def _text(raw: dict, *keys: str) -> str:
    for k in keys:
        if raw.get(k) is not None:
            return str(raw[k])
    return ""


def _product(raw: dict, attributes: Any) -> Product:
    bullets = raw.get("small_description", raw.get("BulletPoints"))
    if bullets is None:
        bullets = []
    elif not isinstance(bullets, list):
        bullets = [bullets]
    pricing, price_tag = _parse_pricing(raw.get("pricing"))
    options: dict[str, list[str]] = {}
    for name, contents in (raw.get("customization_options") or {}).items():
        if contents is None:
            continue
        options[name.lower()] = [c["value"].strip().replace("/", " | ").lower() for c in contents]
    attrs = attributes.get("attributes") if isinstance(attributes, dict) else None
    return Product(
        asin=raw["asin"], title=_text(raw, "name", "Title"), description=_text(raw, "full_description", "Description"),
        bullets=[str(b) for b in bullets], price_tag=price_tag, pricing=pricing, options=options,
        attributes=list(attrs) if attrs is not None else ["DUMMY_ATTR"],
        category=raw["category"], query=raw["query"].lower().strip(), product_category=raw["product_category"],
    )


def _parse_pricing(pricing: Any) -> tuple[list[float], str]:
    """'$a' -> [a]; '$a - $b' (any text between) -> [a, b]; missing -> $100.0, as the original."""
    if not pricing:
        return [100.0], "$100.0"
    values = [float(Decimal(re.sub(r"[^\d.]", "", part))) for part in str(pricing).split("$")[1:]]
    if not values:
        raise ValueError(f"cannot read a price from pricing {pricing!r}")
    if len(values) == 1:
        return values, f"${values[0]}"
    return values[:2], f"${values[0]} to ${values[1]}"


def _selling_price(pricing: list[float], rng: random.Random) -> float:
    return pricing[0] if len(pricing) == 1 else rng.uniform(*pricing[:2])


def _price_limit(price: float, rng: random.Random) -> tuple[float, str]:
    """(price_upper, text appended to the instruction): the larger of two of the 4 limits above the price."""
    above = [p for p in PRICE_RANGE if p > price][:4]
    if len(above) < 2:
        return NO_PRICE_LIMIT, ""
    price_upper = sorted(rng.sample(above, 2))[1]
    return price_upper, f", and price lower than {price_upper:.2f} dollars"


def _human_goals(products: list[Product], prices: list[float], raw_human: dict, rng: random.Random,
                 source: str) -> list[Goal]:
    goals = []
    for product, price in zip(products, prices):
        for j, ins in enumerate(raw_human.get(product.asin, [])):
            try:
                attributes = list(ins["instruction_attributes"])
                options = ins.get("instruction_options") or []
                if not isinstance(options, list):
                    raise TypeError(f"instruction_options must be a list, found {type(options).__name__}")
                text = ins["instruction"].strip(".")
            except (KeyError, TypeError, AttributeError) as exc:
                raise SpecError(f"{source}: {product.asin} instruction #{j}: {_describe(exc)}") from None
            if not attributes:  # the original skips these
                continue
            price_upper, price_text = _price_limit(price, rng)
            goals.append(Goal(index=-1, asin=product.asin, category=product.category, query=product.query,
                              name=product.title, product_category=product.product_category,
                              instruction_text=text + price_text, attributes=attributes, price_upper=price_upper,
                              options=[str(o) for o in options]))
    return goals


def _synthetic_goals(products: list[Product], prices: list[float], raw_attributes: dict, rng: random.Random,
                     source: str) -> list[Goal]:
    goals = []
    for product, price in zip(products, prices):
        entry = raw_attributes.get(product.asin)
        text = entry.get("instruction") if isinstance(entry, dict) else None
        if text is None:
            continue
        attributes = entry.get("instruction_attributes")
        if not isinstance(attributes, list) or not attributes:
            raise SpecError(f"{source}: {product.asin} has an instruction but no instruction_attributes "
                            "(a synthetic goal needs some)")
        price_upper, price_text = _price_limit(price, rng)
        names = sorted(product.options)
        for values in itertools.product(*(product.options[n] for n in names)):
            options = dict(zip(names, values))
            option_text = ", and ".join(f"{n}: {v}" for n, v in options.items())
            goals.append(Goal(index=-1, asin=product.asin, category=product.category, query=product.query,
                              name=product.title, product_category=product.product_category,
                              instruction_text=f"{text}{' with ' + option_text if option_text else ''}{price_text}",
                              attributes=[str(a) for a in attributes], price_upper=price_upper, options=options))
    return goals


def fingerprint_of(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
