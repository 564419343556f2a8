"""ScienceWorld (PyPI `scienceworld`): 30 task types of elementary science experiments."""
from .task import SciWorldConfig, SciWorldEnv, SciWorldTask

__all__ = ["SciWorldConfig", "SciWorldEnv", "SciWorldTask"]
