"""webshop-mini: a small catalogue of our own in WebShop's data schema, for tests and offline demos.

Generated deterministically (``random.Random(MINI_SEED)``) from the tables below: 35 product
types in WebShop's five categories (beauty, electronics, fashion, food, furniture), 378
products (8 per type; 30 t-shirts and 24 phone cases, near-identical ones that push some
products to later results pages; 12 premium ones for each of the 10 crowded types) with
attributes, size/colour/flavour/scent options (a tenth of the products have none), single prices
and price ranges, and human-style instructions (one for about three regular products in four, a
second one for one in two). Each names the product's type and some of its attributes (some name
only its kind, e.g. "gadget", and no attribute) and the value wanted for each option.

Hard goals: in each crowded type (two per category) a premium line whose titles and descriptions
name every attribute of the type, with every option, outranks the regular products, whose titles,
descriptions and first bullet points (the searched text) name none (their attribute list and later
bullet points still do, so they win); premium prices lie above every price limit of the type's
instructions. So an
instruction for a crowded type finds its product on results page 2 or later and nothing on page 1
wins (the price point is lost): the path needs ``Next >``, the navigation skill the EEF paper saw
its student learn from the expert's failures. The oracle marks such goals ``hard``.

The data goes through the same loader as the official files (``catalogue.build_catalogue``), so
goals get their price limits and their order exactly as WebShop's do. Buying an instruction's
product with the named options scores 1.0, and the scripted expert's search (the instruction
without its price clause) ranks that product in the top 50; tests check both for every
instruction, with and without stemming.

None of this is WebShop data: the task is registered as ``webshop-mini``, its subtask ids are
``mini:<n>`` and its categories ``mini-<category>``, so its numbers never pass for WebShop's.
"""
from __future__ import annotations

import random
import string

from .catalogue import Catalogue, build_catalogue, fingerprint_of

MINI_SEED = 5
PRODUCTS_PER_TYPE = 8
# Popular types: many near-identical products offering every option, so an instruction's product is
# often not the best-scoring match and sits on a later results page.
POPULAR = {"t-shirt": 30, "phone case": 24}
INSTRUCTION_SHARE = 0.75
SECOND_INSTRUCTION_SHARE = 0.5
# Two crowded types per category (see the module's docstring): its premium line fills results page 1.
CROWDED = {"shampoo", "deodorant", "bluetooth speaker", "wireless mouse", "running shoes", "sunglasses", "coffee beans",
           "green tea", "office chair", "nightstand"}
PREMIUM_PER_TYPE = 12
PREMIUM_MARKUP = (60, 200)  # dollars above the type's highest regular price: above any price limit drawn
NO_OPTIONS_SHARE = 0.1
PRICE_RANGE_SHARE = 0.2

BRANDS = [
    "Lumina", "Northpeak", "Verdant", "Aurora & Co", "Bluefin", "Cedar Lane", "Kestrel", "Mosswood", "Solace",
    "Brightwell", "Halcyon", "Ironbark", "Juniper", "Larkspur", "Meridian", "Oakhurst", "Pebble Bay", "Quillon",
    "Redcliff", "Saltmarsh", "Tidewater", "Umberline", "Vantage", "Willowby", "Zephyr", "Amberly", "Copperfield",
]

# category -> (category path root, [(query, title noun, path tail, {option name: values}, attribute pool, price range)])
TYPES = {
    "beauty": ("Beauty & Personal Care", [
        ("shampoo", "Shampoo", "Hair Care › Shampoo & Conditioner › Shampoos",
         {"size": ["8 fl oz (pack of 1)", "12 fl oz (pack of 1)", "16.9 fl oz (pack of 2)"],
          "scent": ["lavender", "coconut", "tea tree", "unscented"]},
         ["sulfate free", "paraben free", "natural ingredients", "dry hair", "color treated hair", "cruelty free"],
         (6, 28)),
        ("face moisturizer", "Face Moisturizer", "Skin Care › Face › Creams & Moisturizers",
         {"size": ["1.7 oz", "3.4 oz"]},
         ["sensitive skin", "fragrance free", "hyaluronic acid", "anti aging", "oil free", "spf 30"], (9, 45)),
        ("lipstick", "Matte Lipstick", "Makeup › Lips › Lipstick",
         {"color": ["classic red", "nude beige", "rose pink", "deep plum", "coral"]},
         ["long lasting", "cruelty free", "highly pigmented", "moisturizing formula", "vegan"], (5, 22)),
        ("nail polish", "Nail Polish", "Foot, Hand & Nail Care › Nail Art & Polish › Nail Polish",
         {"color": ["cherry red", "ballet pink", "jet black", "pure white", "champagne gold"]},
         ["quick dry", "non toxic", "long lasting", "chip resistant", "high gloss"], (4, 16)),
        ("deodorant", "Deodorant", "Personal Care › Deodorants & Antiperspirants",
         {"scent": ["lavender", "citrus", "cedarwood", "unscented"],
          "size": ["2.65 oz (pack of 1)", "2.65 oz (pack of 2)"]},
         ["aluminum free", "natural ingredients", "sensitive skin", "long lasting", "baking soda free"], (7, 24)),
        ("makeup brush set", "Makeup Brush Set", "Tools & Accessories › Makeup Brushes & Tools › Brush Sets",
         {"color": ["black", "rose gold", "silver"]},
         ["synthetic hair", "travel size", "easy clean", "cruelty free", "storage case"], (10, 35)),
        ("hair dryer", "Hair Dryer", "Hair Care › Styling Tools & Appliances › Hair Dryers",
         {"color": ["black", "white", "pink"]},
         ["fast drying", "ionic technology", "low noise", "travel size", "diffuser attachment"], (20, 90)),
    ]),
    "electronics": ("Electronics", [
        ("wireless earbuds", "Wireless Earbuds", "Headphones, Earbuds & Accessories › Earbud Headphones",
         {"color": ["black", "white", "navy blue"]},
         ["noise cancelling", "bluetooth 5.0", "long battery life", "water resistant", "charging case"], (19, 120)),
        ("bluetooth speaker", "Bluetooth Speaker", "Portable Audio & Video › Portable Speakers & Docks",
         {"color": ["black", "ocean blue", "red", "gray"]},
         ["waterproof", "portable", "long battery life", "deep bass", "built in microphone"], (18, 110)),
        ("hdmi cable", "HDMI Cable", "Television & Video › Accessories › Cables › HDMI Cables",
         {"size": ["3 feet", "6 feet", "10 feet", "15 feet"]},
         ["high speed", "4k ultra hd", "gold plated", "braided nylon", "ethernet support"], (6, 25)),
        ("usb c charger", "USB C Charger", "Cell Phones & Accessories › Chargers & Power Adapters › Wall Chargers",
         {"style": ["20w", "30w", "65w"]},
         ["fast charging", "compact design", "foldable plug", "usb type c", "overheat protection"], (12, 50)),
        ("phone case", "Phone Case", "Cell Phones & Accessories › Cases, Holsters & Sleeves › Basic Cases",
         {"color": ["clear", "black", "midnight green", "lavender purple"],
          "size": ["iphone 13", "iphone 14", "iphone 14 pro"]},
         ["shockproof", "wireless charging compatible", "slim fit", "raised edges", "anti yellowing"], (8, 30)),
        ("wireless mouse", "Wireless Mouse", "Computers & Accessories › Computer Accessories › Mice",
         {"color": ["black", "gray", "white"]},
         ["ergonomic design", "silent click", "usb receiver", "rechargeable battery", "adjustable dpi"], (9, 45)),
        ("tablet stand", "Tablet Stand", "Computers & Accessories › Tablet Accessories › Stands",
         {"color": ["silver", "black", "space gray"]},
         ["adjustable height", "aluminum alloy", "non slip", "foldable", "heat dissipation"], (12, 40)),
    ]),
    "fashion": ("Clothing, Shoes & Jewelry", [
        ("running shoes", "Running Shoes", "Men › Shoes › Athletic › Running",
         {"size": ["8", "9", "10", "11", "12"], "color": ["black", "white", "grey", "navy"]},
         ["rubber sole", "lace up", "breathable mesh", "arch support", "lightweight"], (35, 140)),
        ("t-shirt", "Crew Neck T-Shirt", "Men › Clothing › Shirts › T-Shirts",
         {"size": ["small", "medium", "large", "x-large", "xx-large"],
          "color": ["black", "white", "heather grey", "navy", "red"]},
         ["machine wash", "short sleeve", "cotton jersey", "classic fit", "tagless"], (8, 30)),
        ("jeans", "Jeans", "Men › Clothing › Jeans",
         {"size": ["30w x 30l", "32w x 32l", "34w x 32l", "36w x 34l"],
          "color": ["dark wash", "medium wash", "black"]},
         ["slim fit", "button closure", "machine wash", "stretch denim", "five pocket"], (25, 80)),
        ("winter jacket", "Winter Jacket", "Women › Clothing › Coats, Jackets & Vests › Down & Parkas",
         {"size": ["small", "medium", "large", "x-large"], "color": ["black", "olive green", "navy", "burgundy"]},
         ["water resistant", "zipper closure", "detachable hood", "fleece lining", "machine wash"], (45, 190)),
        ("sunglasses", "Polarized Sunglasses", "Men › Accessories › Sunglasses & Eyewear Accessories › Sunglasses",
         {"color": ["black", "tortoise", "gold"]},
         ["polarized lens", "uv protection", "metal frame", "lightweight", "spring hinges"], (12, 60)),
        ("socks", "Athletic Socks", "Men › Clothing › Socks › Athletic Socks",
         {"size": ["shoe size 6-9", "shoe size 9-12"], "color": ["black", "white", "assorted"]},
         ["moisture wicking", "cushioned sole", "arch support", "breathable", "reinforced heel"], (9, 28)),
        ("summer dress", "Summer Dress", "Women › Clothing › Dresses › Casual",
         {"size": ["small", "medium", "large"], "color": ["floral blue", "black", "red", "white"]},
         ["short sleeve", "v neck", "pocket design", "hand wash", "flowy"], (18, 55)),
    ]),
    "food": ("Grocery & Gourmet Food", [
        ("coffee beans", "Whole Bean Coffee", "Beverages › Coffee, Tea & Cocoa › Coffee › Whole Coffee Beans",
         {"flavor name": ["medium roast", "dark roast", "espresso"],
          "size": ["12 ounce (pack of 1)", "2 pound (pack of 1)"]},
         ["fair trade", "usda organic", "low acid", "single origin", "freshly roasted"], (9, 35)),
        ("green tea", "Green Tea", "Beverages › Coffee, Tea & Cocoa › Tea › Green",
         {"flavor name": ["jasmine", "matcha", "mint", "lemon"], "size": ["20 count (pack of 6)", "100 count"]},
         ["usda organic", "non gmo", "individually wrapped", "natural ingredients", "antioxidant rich"], (6, 30)),
        ("protein bars", "Protein Bars", "Snack Foods › Bars › Protein Bars",
         {"flavor name": ["chocolate peanut butter", "cookies and cream", "vanilla almond"],
          "size": ["12 count", "24 count"]},
         ["gluten free", "low sugar", "high protein", "keto friendly", "non gmo"], (15, 48)),
        ("dark chocolate", "Dark Chocolate Bar", "Snacks & Sweets › Chocolate › Chocolate Bars",
         {"flavor name": ["sea salt", "orange", "mint", "85% cacao"],
          "size": ["3.5 ounce (pack of 4)", "3.5 ounce (pack of 12)"]},
         ["dairy free", "fair trade", "gluten free", "low sugar", "ethically sourced"], (10, 42)),
        ("trail mix", "Trail Mix", "Snack Foods › Trail Mix",
         {"flavor name": ["classic", "tropical", "chocolate"], "size": ["1.5 oz (pack of 24)", "26 oz"]},
         ["individually wrapped", "non gmo", "high protein", "resealable bag", "no artificial flavors"], (8, 32)),
        ("olive oil", "Extra Virgin Olive Oil", "Pantry Staples › Cooking & Baking › Oils › Olive",
         {"size": ["16.9 fl oz", "33.8 fl oz"]},
         ["cold pressed", "non gmo", "usda organic", "first harvest", "glass bottle"], (9, 38)),
        ("pasta sauce", "Pasta Sauce", "Pantry Staples › Pasta & Noodles › Pasta Sauces",
         {"flavor name": ["marinara", "tomato basil", "arrabbiata"],
          "size": ["24 ounce (pack of 2)", "24 ounce (pack of 6)"]},
         ["no sugar added", "gluten free", "non gmo", "low sodium", "slow simmered"], (7, 36)),
    ]),
    "furniture": ("Home & Kitchen › Furniture", [
        ("office chair", "Office Chair", "Home Office Furniture › Home Office Chairs › Desk Chairs",
         {"color": ["black", "gray", "white"]},
         ["lumbar support", "height adjustable", "easy assemble", "breathable mesh", "swivel"], (60, 260)),
        ("bookshelf", "Bookshelf", "Living Room Furniture › Bookcases",
         {"color": ["walnut", "white", "black oak"], "size": ["3 tier", "5 tier"]},
         ["easy assemble", "storage space", "living room", "solid wood", "anti tip"], (35, 160)),
        ("coffee table", "Coffee Table", "Living Room Furniture › Tables › Coffee Tables",
         {"color": ["rustic brown", "white", "black"]},
         ["living room", "storage shelf", "easy assemble", "solid wood", "metal frame"], (45, 220)),
        ("bar stools", "Bar Stools Set of 2", "Kitchen & Dining Room Furniture › Barstools",
         {"color": ["black", "gray", "brown"], "size": ["24 inch", "30 inch"]},
         ["swivel", "height adjustable", "faux leather", "footrest", "easy assemble"], (70, 240)),
        ("nightstand", "Nightstand", "Bedroom Furniture › Nightstands",
         {"color": ["white", "black", "natural"]},
         ["drawer storage", "easy assemble", "mid century", "bedroom", "charging station"], (30, 130)),
        ("tv stand", "TV Stand", "Living Room Furniture › Television Stands & Entertainment Centers",
         {"color": ["espresso", "white", "black"], "size": ["55 inch", "65 inch"]},
         ["living room", "storage shelves", "cable management", "easy assemble", "engineered wood"], (55, 250)),
        ("bean bag chair", "Bean Bag Chair", "Living Room Furniture › Chairs › Bean Bags",
         {"color": ["charcoal", "navy", "grey", "pink"], "size": ["small", "large", "x-large"]},
         ["memory foam", "removable cover", "machine washable cover", "living room", "kids and adults"], (40, 180)),
    ]),
}

# Human-style instruction templates: {t} type, {a} attributes, {o} options (", in black color, size 9", or "").
TEMPLATES = [
    "i'm looking for {a} {t}{o}",
    "i need a {t} that is {a}{o}",
    "find me {a} {t}{o}",
    "i want to buy a {t} which is {a}{o}",
    "looking for a {a} {t}{o}",
    "i would like {a} {t}{o}",
]
# Some instructions name only the kind of product and its two options (their attribute is implied, as
# annotators sometimes did): many products fit the words, so the product may be on a later page.
VAGUE_TEMPLATE = "i'm looking for a {t}{o}"
VAGUE_NOUNS = {"beauty": "beauty product", "electronics": "gadget", "fashion": "fashion item", "food": "food item",
               "furniture": "piece of furniture"}
VAGUE_SHARE = 0.15
OPTION_PHRASES = {
    "color": "in {v} color", "size": "in size {v}", "scent": "with {v} scent", "flavor name": "in {v} flavor",
    "style": "{v} style",
}


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _asin(rng: random.Random, used: set[str]) -> str:
    while True:
        asin = "B0" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(8))
        if asin not in used:
            used.add(asin)
            return asin


def _price(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high)) - 0.01


def raw_data() -> tuple[list[dict], dict, dict]:
    """(products, attributes, human instructions) in the schema of the official files."""
    rng = random.Random(MINI_SEED)
    products, attributes, human = [], {}, {}
    used: set[str] = set()
    for category, (root, types) in TYPES.items():
        for query, noun, path, option_pool, attribute_pool, (low, high) in types:
            popular, crowded = query in POPULAR, query in CROWDED
            for _ in range(POPULAR.get(query, PRODUCTS_PER_TYPE)):
                asin = _asin(rng, used)
                brand = rng.choice(BRANDS)
                attrs = rng.sample(attribute_pool, rng.randint(2, 4))
                options = {name: values if popular else
                           sorted(rng.sample(values, rng.randint(min(2, len(values)), len(values))), key=values.index)
                           for name, values in option_pool.items()}
                if not popular and rng.random() < NO_OPTIONS_SHARE:
                    options = {}
                price = _price(rng, low, high)
                if rng.random() < PRICE_RANGE_SHARE:
                    pricing = f"${price:.2f} - ${price + rng.randint(2, 15):.2f}"
                else:
                    pricing = f"${price:.2f}"
                title = f"{brand} {noun}" if crowded else f"{brand} {noun} - {', '.join(a.title() for a in attrs[:2])}"
                products.append(_product(asin, title, category, query, f"{root} › {path}", pricing, brand, noun, attrs,
                                         options, searchable_attributes=not crowded))
                attributes[asin] = {"attributes": attrs}
                if rng.random() < INSTRUCTION_SHARE:
                    human[asin] = [_instruction(rng, category, query, attrs, options)]
                    if rng.random() < SECOND_INSTRUCTION_SHARE:
                        human[asin].append(_instruction(rng, category, query, attrs, options))
            if crowded:  # the premium line: every attribute, every option, priced out of every goal
                for _ in range(PREMIUM_PER_TYPE):
                    asin = _asin(rng, used)
                    brand = rng.choice(BRANDS)
                    pricing = f"${_price(rng, high + PREMIUM_MARKUP[0], high + PREMIUM_MARKUP[1]):.2f}"
                    title = f"{brand} Premium {noun} - {', '.join(a.title() for a in attribute_pool)}"
                    products.append(_product(asin, title, category, query, f"{root} › {path}", pricing, brand, noun,
                                             list(attribute_pool), dict(option_pool)))
                    attributes[asin] = {"attributes": list(attribute_pool)}
    return products, attributes, human


def _product(asin: str, title: str, category: str, query: str, product_category: str, pricing: str, brand: str,
             noun: str, attrs: list[str], options: dict[str, list[str]], searchable_attributes: bool = True) -> dict:
    description = f"The {brand} {noun.lower()}{' is ' + _and_list(attrs) if searchable_attributes else ''}."
    bullets = [f"{a.upper()}: a {noun.lower()} that is {a}." for a in attrs[1:]]
    packaging = ["Ships in recyclable packaging."]
    return {
        "asin": asin, "name": title, "category": category, "query": query, "product_category": product_category,
        "pricing": pricing,
        "full_description": f"{description} Made for everyday use and backed by our satisfaction guarantee.",
        "small_description": bullets + packaging if searchable_attributes else packaging + bullets,
        "customization_options": {name: [{"value": v, "image": None} for v in values]
                                  for name, values in options.items()},
        "images": [],
    }


def _instruction(rng: random.Random, category: str, query: str, attrs: list[str],
                 options: dict[str, list[str]]) -> dict:
    vague = rng.random() < VAGUE_SHARE and len(options) >= 2
    wanted = rng.sample(attrs, 1 if vague else rng.randint(1, min(3, len(attrs))))
    chosen = {name: rng.choice(values) for name, values in options.items()}
    option_text = ", ".join(OPTION_PHRASES[name].format(v=v) for name, v in chosen.items())
    template, kind = (VAGUE_TEMPLATE, VAGUE_NOUNS[category]) if vague else (rng.choice(TEMPLATES), query)
    text = template.format(t=kind, a=_and_list(wanted), o=f", {option_text}" if option_text else "")
    return {"instruction": text, "instruction_attributes": wanted, "instruction_options": list(chosen.values())}


def mini_catalogue(price_seed: int = 0) -> Catalogue:
    products, attributes, human = raw_data()
    sources = {role: f"webshop-mini {role}" for role in ("products", "attributes", "human")}
    return build_catalogue(products, attributes, human, price_seed=price_seed,
                           fingerprint=fingerprint_of("webshop-mini", products), sources=sources)
