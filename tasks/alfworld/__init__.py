"""ALFWorld (PyPI `alfworld`, TextWorld engine): household tasks in text, six task types.

Two registered tasks share one environment (``task.py``, on the engine wrapper ``engine.py``) and
one prompt (``prompt.py``):

- ``alfworld``: the official games from a downloaded data folder (``data_dir`` or ``$ALFWORLD_DATA``);
- ``alfworld-mini``: a small game set of our own generated from the package's domain, grammar and
  room layouts (``games.py``), for tests and offline demos; its ids and categories are marked ``mini``.

Subtask = one game, category = its task type, success = won (score 100), step limit 40 (ETO's).
"""
from .task import AlfWorldConfig, AlfWorldEnv, AlfWorldMiniConfig, AlfWorldMiniTask, AlfWorldTask

__all__ = ["AlfWorldConfig", "AlfWorldEnv", "AlfWorldMiniConfig", "AlfWorldMiniTask", "AlfWorldTask"]
