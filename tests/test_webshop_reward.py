"""The original WebShop reward on hand-made products, with every number worked out here.

reward = (attribute matches + option matches + [price <= limit]) / (n attributes + n options + 1) * r_type
The regex noun tagger is used, so title scores can be counted by hand (nouns = words that are
not function words).
"""
import pytest

from harness.tasks.webshop.catalogue import Goal, Product
from harness.tasks.webshop.reward import (SpacyNouns, get_reward, normalize_color, option_matches, regex_nouns,
                                          spacy_missing, type_score)
from harness.tasks.webshop.task import PYPI_SPACY_MODEL

CATEGORY = "Beauty & Personal Care › Hair Care › Shampoos"


def product(**kw) -> Product:
    base = dict(asin="B000000001", title="Lumina Shampoo Bottle", description="A gentle shampoo for daily use.",
                bullets=["Smells of lavender.", "Made with tea tree oil."], price_tag="$20.0", pricing=[20.0],
                options={"color": ["black", "light blue"], "size": ["small", "large"]},
                attributes=["sulfate free", "essential oil"], category="beauty", query="shampoo",
                product_category=CATEGORY)
    return Product(**{**base, **kw})


def goal(**kw) -> Goal:
    base = dict(index=0, asin="B000000001", category="beauty", query="shampoo", name="Lumina Shampoo Bottle",
                product_category=CATEGORY, instruction_text="i need sulfate free shampoo", price_upper=30.0,
                attributes=["sulfate free", "essential oils"], options=["black", "large"])
    return Goal(**{**base, **kw})


RIGHT_OPTIONS = {"color": "black", "size": "large"}


def test_exact_purchase_scores_one():
    r = get_reward(product(), goal(), price=20.0, selected_options=RIGHT_OPTIONS)
    # 'essential oils' matches the attribute 'essential oil' by token_set_ratio (> 85)
    assert (r.attribute_matches, r.option_matches, r.r_price, r.r_type) == (2, 2, True, 1.0)
    assert r.total == 1.0  # (2 + 2 + 1) / (2 + 2 + 1)


def test_wrong_option_loses_its_share():
    r = get_reward(product(), goal(), price=20.0, selected_options={"color": "light blue", "size": "large"})
    assert r.option_matches == 1
    assert r.total == pytest.approx(4 / 5)  # (2 + 1 + 1) / 5


def test_options_never_chosen_count_as_misses():
    assert get_reward(product(), goal(), price=20.0, selected_options={}).total == pytest.approx(3 / 5)


def test_price_above_the_limit_loses_the_price_share():
    r = get_reward(product(), goal(), price=30.01, selected_options=RIGHT_OPTIONS)
    assert r.r_price is False
    assert r.total == pytest.approx(4 / 5)  # (2 + 2 + 0) / 5
    assert get_reward(product(), goal(), price=30.0, selected_options=RIGHT_OPTIONS).total == 1.0  # limit inclusive


def test_attribute_found_in_text_counts_and_missing_one_does_not():
    # 'tea tree' is no product attribute but occurs in the bullet points; 'paraben free' occurs nowhere
    g = goal(attributes=["tea tree", "paraben free", "sulfate free"])
    r = get_reward(product(), g, price=20.0, selected_options=RIGHT_OPTIONS)
    assert r.attribute_matches == 2
    assert r.total == pytest.approx(5 / 6)  # (2 + 2 + 1) / (3 + 2 + 1)


def test_text_search_does_not_lower_case_the_goal_attribute():
    """Quirk kept: the title is lower-cased, the goal attribute is not."""
    p = product(attributes=[], bullets=[], description="")
    assert get_reward(p, goal(attributes=["lumina"], options=[]), 20.0, {}).attribute_matches == 1
    assert get_reward(p, goal(attributes=["Lumina"], options=[]), 20.0, {}).attribute_matches == 0


def test_goal_without_options_divides_by_attributes_plus_one():
    r = get_reward(product(), goal(options=[]), price=99.0, selected_options=RIGHT_OPTIONS)
    assert r.total == pytest.approx(2 / 3)  # (2 + 0 + 0) / (2 + 0 + 1)


NAME_3 = "Lumina Shampoo Bottle"  # regex nouns: 3
NAME_5 = "Lumina Shampoo Bottle Pump Refill"
NAME_11 = "Lumina Shampoo Bottle Pump Refill Cap Label Box Seal Travel Kit"


@pytest.mark.parametrize("title, query, path, name, r_type, title_score", [
    # a title score of exactly 0.2 (1 of 5 nouns) is not "> 0.2"; the same query rescues it ...
    ("Shampoo Brush", "shampoo", "X › Y", NAME_5, 1.0, 0.2),
    # ... or 2 shared category parts ...
    ("Shampoo Brush", "conditioner", "Beauty & Personal Care › Hair Care › Brushes", NAME_5, 1.0, 0.2),
    # ... or more than 20% of the goal's nouns (2 of 3)
    ("Lumina Shampoo", "conditioner", "X › Y", NAME_3, 1.0, 2 / 3),
    # none of the three: half
    ("Shampoo Brush", "conditioner", "X › Y", NAME_5, 0.5, 0.2),
    # under 10% of the nouns: 0.1, even with the same query
    ("Shampoo", "shampoo", "X › Y", NAME_11, 0.1, 1 / 11),
    # no shared noun: 0, whatever else matches
    ("Garden Hose", "shampoo", CATEGORY, NAME_3, 0.0, 0.0),
])
def test_type_score_bands(title, query, path, name, r_type, title_score):
    g = goal(name=name, query="shampoo")
    got = type_score(product(title=title, query=query, product_category=path), g, regex_nouns)
    assert got[0] == r_type and got[3] == pytest.approx(title_score)


def test_regex_nouns_are_the_words_that_are_not_function_words():
    assert regex_nouns(NAME_11) == NAME_11.lower().split()
    assert regex_nouns("Shampoo for the Dry Hair, 2 pack") == ["shampoo", "dry", "hair", "pack"]


def test_type_score_scales_the_whole_reward():
    p = product(title="Shampoo Brush", query="conditioner", product_category="X › Y")
    g = goal(name=NAME_5)
    r = get_reward(p, g, price=20.0, selected_options=RIGHT_OPTIONS)
    assert (r.r_type, r.total) == (0.5, 0.5)  # (2 + 2 + 1) / 5 * 0.5


def test_goal_name_without_nouns_scores_title_point_two():
    r_type, *_, title_score = type_score(product(query="other", product_category="X › Y"),
                                         goal(name="of the and"), regex_nouns)
    assert (title_score, r_type) == (0.2, 0.5)


def test_colour_normalisation_matches_by_substring():
    """Quirks kept: the first listed colour found anywhere in the string replaces it."""
    assert normalize_color("navy blue") == normalize_color("light blue") == "blue"  # 'blue' precedes 'light', 'navy'
    assert normalize_color("standard") == "tan"
    assert normalize_color("dark wash") == "ash"
    assert normalize_color("x-large") == "x-large"
    assert option_matches(["light blue"], ["navy blue"]) == 1
    assert option_matches(["standard"], ["tan"]) == 1
    assert option_matches(["navy"], ["black"]) == 0


def test_fuzzy_option_match_as_in_the_original():
    assert option_matches(["powder snow", "xl"], ["cool powder snow", "XL", "pack of 12"]) == 2
    # token_set_ratio forgives a differing number: 'pack of 12' for 'pack of 6' scores 88, 'x-large' for 'xx-large' 93
    assert option_matches(["pack of 12"], ["pack of 6"]) == 1
    assert option_matches(["x-large"], ["xx-large"]) == 1
    assert option_matches(["small"], ["large"]) == 0


def test_synthetic_goal_options_match_as_name_value_pairs():
    """The original scores a synthetic goal's options (a dict) as (name, value) tuples: no colour substring
    test, and the fuzzy match against the name's and the value's words together."""
    assert option_matches(["x-large"], ["large"]) == 1  # token_set_ratio 100: 'large' is a subset of 'x large'
    assert option_matches(["x-large"], {"size": "large"}) == 0  # 'x large' vs 'size large': 83
    assert option_matches(["tan"], ["standard"]) == 1  # 'standard' contains 'tan'
    assert option_matches(["tan"], {"size": "standard"}) == 0  # the tuple holds no colour
    # a value equal to a listed colour still becomes it, and a value's words inside the pair's still match
    assert option_matches(["black"], {"color": "black"}) == 1
    assert option_matches(["light blue"], {"color": "navy blue"}) == 1  # 'blue' vs 'color navy blue'
    assert option_matches(["small", "large"], {"color": "black", "size": "large"}) == 1


def test_synthetic_goal_reward_differs_from_matching_values():
    options = {"color": "black", "size": "large"}
    bought = {"color": "black", "size": "x-large"}
    synthetic = get_reward(product(), goal(options=options), price=20.0, selected_options=bought)
    by_value = get_reward(product(), goal(options=list(options.values())), price=20.0, selected_options=bought)
    assert (synthetic.option_matches, synthetic.total) == (1, pytest.approx(4 / 5))  # (2 + 1 + 1) / (2 + 2 + 1)
    assert (by_value.option_matches, by_value.total) == (2, 1.0)
    assert get_reward(product(), goal(options=options), price=20.0, selected_options=options).total == 1.0


needs_pypi_model = pytest.mark.skipif(spacy_missing(PYPI_SPACY_MODEL) is not None,
                                      reason="pip install 'harness[webshop-spacy]'")


@needs_pypi_model
def test_the_pypi_spacy_model_tags_nouns_as_the_original():
    nouns = SpacyNouns(PYPI_SPACY_MODEL)
    assert nouns("natural wireless bluetooth headphones") == ["wireless", "bluetooth", "headphones"]
    assert nouns("high quality stainless steel water bottle") == ["quality", "steel", "water", "bottle"]
    assert nouns("Men's Slim Fit Long Sleeve Cotton Shirt") == ["men", "slim", "fit", "long", "sleeve", "cotton",
                                                                "shirt"]
    assert nouns("Kestrel Trail Mix, Tropical") == ["kestrel", "trail", "mix", "tropical"]


@needs_pypi_model
def test_the_tagger_can_move_the_type_score_between_bands():
    """Adjectives are no nouns for spaCy: a high chair shares no noun with a stainless water bottle."""
    p = product(title="stainless high chair", query="chair", product_category="X › Y")
    g = goal(name="high quality stainless steel water bottle")
    assert type_score(p, g, SpacyNouns(PYPI_SPACY_MODEL))[0::3] == (0.0, 0.0)
    assert type_score(p, g, regex_nouns)[0::3] == (1.0, pytest.approx(2 / 6))  # 'high', 'stainless' shared
