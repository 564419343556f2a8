"""The ReAct prompt: an instruction, one short worked example, then the first observation.

Same shape as the published WebShop baselines (ETO, IPR, EEF): replies are "Thought: ...\nAction:
...", observations come back as "Observation: ...". The wording and the example are ours; the
example's shop and products are made up (they are in neither catalogue).
"""
from harness import react


INSTRUCTION = """You are shopping in a web store for the product an instruction describes.
Every turn you see the current page: its texts separated by [SEP]. Buttons and product IDs on it can be clicked.

Actions:
search[keywords]: search the store (only on the search page)
click[value]: click a button, a product ID or an option value shown on the current page, \
e.g. click[Back to Search], click[Next >], click[< Prev], click[Description], click[Buy Now]

Choose the options the instruction asks for on the product page before you click Buy Now; buying ends the episode.
Answer every turn with one line of reasoning and one action, exactly in this format:
Thought: <your reasoning>
Action: <one action>"""

_TASK = "i need a gluten free dark chocolate bar, pack of 6, and price lower than 30.00 dollars"
EXAMPLE = [
    (f"WebShop [SEP] Instruction: [SEP] {_TASK} [SEP] Search", None),
    ("I should search for a gluten free dark chocolate bar.", "search[gluten free dark chocolate bar pack of 6]"),
    (f"Instruction: [SEP] {_TASK} [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] "
     "B0EXAMPLE1 [SEP] Cocoa Ridge Dark Chocolate Bar - Gluten Free, Fair Trade [SEP] $21.99 [SEP] "
     "B0EXAMPLE2 [SEP] Sweet Hollow Milk Chocolate Bar [SEP] $34.50", None),
    ("The first result is a gluten free dark chocolate bar under 30 dollars.", "click[B0EXAMPLE1]"),
    (f"Instruction: [SEP] {_TASK} [SEP] Back to Search [SEP] < Prev [SEP] size [SEP] pack of 3 [SEP] pack of 6 "
     "[SEP] Cocoa Ridge Dark Chocolate Bar - Gluten Free, Fair Trade [SEP] Price: $21.99 [SEP] Rating: N.A. [SEP] "
     "Description [SEP] Features [SEP] Reviews [SEP] Buy Now", None),
    ("The instruction asks for a pack of 6.", "click[pack of 6]"),
    (f"Instruction: [SEP] {_TASK} [SEP] Back to Search [SEP] < Prev [SEP] size [SEP] pack of 3 [SEP] pack of 6 "
     "[SEP] Cocoa Ridge Dark Chocolate Bar - Gluten Free, Fair Trade [SEP] Price: $21.99 [SEP] Rating: N.A. [SEP] "
     "Description [SEP] Features [SEP] Reviews [SEP] Buy Now", None),
    ("It is gluten free, a pack of 6 and costs less than 30 dollars, so I buy it.", "click[Buy Now]"),
]


def first_message(first_observation: str, with_example: bool = True) -> str:
    example = react.example_text(EXAMPLE, label_first_observation=True) if with_example else None
    return react.first_message(INSTRUCTION, example, first_observation)
