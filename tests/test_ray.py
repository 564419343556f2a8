"""executor=ray: the same episodes as the local engine, through Ray actors on a local cluster."""
import json

import pytest

from harness.run import execute
from harness.specs import load_run_spec

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")


def test_ray_executor_matches_local(tmp_path, monkeypatch):
    # The toy plugin is on the driver's sys.path only (conftest), as a user's local plugin is: the
    # workers get it from the driver, also after a run of built-in plugins started Ray without it.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    # and metadata that claims it is installed, as pip leaves in a source folder it built from
    meta = tmp_path / "meta" / "harness_toy_plugin.egg-info"
    meta.mkdir(parents=True)
    (meta / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: harness-toy-plugin\nVersion: 0.1\n")
    (meta / "top_level.txt").write_text("harness_toy\n")
    monkeypatch.syspath_prepend(str(meta.parent))
    import importlib.metadata
    assert "harness_toy" in importlib.metadata.packages_distributions()
    first = load_run_spec(None, defaults={"task": {"name": "webshop-mini", "limit": 2}, "agent": {"name": "expert"}},
                          run=[f"out_dir={tmp_path}", "name=builtin", "progress=false", "executor=ray"])
    assert execute(first).summary()["complete"]
    defaults = {"task": {"name": "counter", "targets": list(range(1, 9)), "max_steps": 12},
                "agent": {"name": "counter_agent", "p_mistake": 0.3, "seed": 2}}
    runs = {}
    for ex in ("local", "ray"):
        spec = load_run_spec(None, defaults=defaults, run=[f"out_dir={tmp_path}", f"name={ex}", "progress=false",
                                                           f"executor={ex}", "ray_shards=2", "num_envs=2"])
        store = execute(spec)
        runs[ex] = {t.id: (t.success, t.actions) for t in store.latest().values()}
        assert store.summary()["complete"]
    ray.shutdown()
    assert runs["ray"] == runs["local"] and len(runs["ray"]) == 8
    lines = (tmp_path / "ray" / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 8 and len({json.loads(x)["id"] for x in lines}) == 8
