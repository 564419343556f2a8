"""The embedded default run: what `harness run` plays with no spec file.

The noisy ScienceWorld expert on a handful of short subtasks of four task types (dev split):
runs offline in about a minute and shows solve rates that differ by category.
"""
DEFAULT_RUN = {
    "task": {
        "name": "sciworld",
        "split": "dev",
        "task_types": ["find-living-thing", "use-thermometer", "boil", "chemistry-mix-paint-secondary-color"],
        "variations": 3,
    },
    "agent": {"name": "noisy_expert", "p": 0.15},
    "run": {"samples": 1, "num_envs": 2},
}
