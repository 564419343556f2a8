"""WebShop (princeton-nlp/WebShop): find and buy the product an instruction describes in a simulated web store.

Two registered tasks share one environment (``env.py``), the original reward (``reward.py``) and
BM25 search (``search.py``):

- ``webshop``: the official data files from a directory (``data_dir`` or ``$WEBSHOP_DATA``);
- ``webshop-mini``: a small catalogue of our own in the same schema (``mini.py``), for tests and
  offline demos; its ids and categories are marked ``mini``.

Subtask = one human instruction (id ``webshop:<goal index>``), category = product category,
success = reward 1.0, score = 100 x reward.
"""
from .task import WebShopConfig, WebShopMiniConfig, WebShopMiniTask, WebShopTask

__all__ = ["WebShopConfig", "WebShopMiniConfig", "WebShopMiniTask", "WebShopTask"]
