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


MODEL_AGENT = {"name": "hf", "model": "tiny-random", "temperature": 0.8, "max_new_tokens": 12}
WEBSHOP = {"name": "webshop-mini", "split": "test", "limit": 6}


def _records(run_dir) -> dict[str, dict]:
    out = {}
    for line in (run_dir / "episodes.jsonl").read_text().splitlines():
        rec = json.loads(line)
        out[rec["id"]] = {k: v for k, v in rec.items() if k not in ("elapsed_s", "env_errors")}
    return out


def test_model_agent_in_the_driver_env_workers_on_ray(tmp_path, monkeypatch):
    """A model agent: generation in the driver (one batch over every worker's episodes), environments
    on Ray env workers that never import a model library; the records equal the local executor's,
    also after a worker is killed mid-run (its episodes in flight are retried on a fresh worker)."""
    from harness import distributed

    pools = []

    class Recorded(distributed.RayEnvPool):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            pools.append(self)

    monkeypatch.setattr(distributed, "RayEnvPool", Recorded)
    runs = {}
    for name, opts in {"local": [], "ray": ["executor=ray", "ray_shards=2"],
                       "killed": ["executor=ray", "ray_shards=2"]}.items():
        spec = load_run_spec(None, defaults={"task": WEBSHOP, "agent": MODEL_AGENT},
                             run=[f"out_dir={tmp_path}", f"name={name}", "progress=false", "num_envs=3", "seed=4",
                                  *opts])
        killed = []

        def kill_one(traj, name=name, killed=killed):
            if name == "killed" and not killed:  # after the first episode: others are in flight
                pool = pools[-1]
                modules = ray.get(pool.workers[0].modules.remote())
                assert not {"torch", "transformers", "vllm"} & set(modules), "an env worker imported a model library"
                killed.append(pool.workers[0])
                ray.kill(pool.workers[0])

        store = execute(spec, on_episode=kill_one)
        assert store.summary()["complete"], name
        runs[name] = _records(tmp_path / name)
    ray.shutdown()
    assert len(runs["local"]) == 6
    assert runs["ray"] == runs["local"]
    assert runs["killed"] == runs["local"]
    assert pools[-1].replaced >= 1
    retried = [json.loads(x) for x in (tmp_path / "killed" / "episodes.jsonl").read_text().splitlines()]
    assert any(r["env_errors"] for r in retried), "no episode was in flight on the killed worker"
