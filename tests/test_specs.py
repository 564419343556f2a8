import subprocess

import pytest

from conftest import REPO, TOY_AGENT, TOY_TASK, cli_env, harness_cmd
from harness.errors import SpecError
from harness.specs import load_run_spec, parse_override


def write(tmp_path, text, name="spec.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_overrides_are_typed_and_nested():
    assert parse_override("samples=3") == (["samples"], 3)
    assert parse_override("targets=[1, 2]") == (["targets"], [1, 2])
    assert parse_override("a.b=x") == (["a", "b"], "x")
    with pytest.raises(SpecError, match="key=value"):
        parse_override("samples")


def test_valid_spec_with_overrides(tmp_path):
    p = write(tmp_path, "task: {name: counter, targets: [1, 2]}\nagent: {name: counter_agent}\nrun: {samples: 2}\n")
    spec = load_run_spec(p, task=["max_steps=5"], run=["seed=7"])
    assert spec.task.targets == [1, 2] and spec.task.max_steps == 5
    assert spec.run.samples == 2 and spec.run.seed == 7


def test_unknown_key_names_file_and_field(tmp_path):
    p = write(tmp_path, "task: {name: counter, targetz: [1]}\nagent: {name: counter_agent}\n")
    with pytest.raises(SpecError) as e:
        load_run_spec(p)
    msg = str(e.value)
    assert str(p) in msg and "task.targetz" in msg and "unknown key" in msg


def test_wrong_type_names_field_and_value(tmp_path):
    p = write(tmp_path, "task: {name: counter}\nagent: {name: counter_agent}\nrun: {samples: many}\n")
    with pytest.raises(SpecError) as e:
        load_run_spec(p)
    assert "run.samples" in str(e.value) and "'many'" in str(e.value)


def test_unknown_plugin_suggests_close_name(tmp_path):
    p = write(tmp_path, "task: {name: countr}\nagent: {name: counter_agent}\n")
    with pytest.raises(SpecError, match="did you mean 'counter'"):
        load_run_spec(p)


def test_yaml_syntax_error_names_file(tmp_path):
    p = write(tmp_path, "task: {name: counter\nagent: [")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_run_spec(p)


def test_unknown_section(tmp_path):
    p = write(tmp_path, "task: {name: counter}\nagent: {name: counter_agent}\nrn: {}\n")
    with pytest.raises(SpecError, match="unknown section"):
        load_run_spec(p)


@pytest.mark.parametrize("text,needle", [
    (f"task: {{name: {TOY_TASK}, targets: five}}\nagent: {{name: {TOY_AGENT}}}\n", "task.targets"),
    (f"task: {{name: nosuchtask}}\nagent: {{name: {TOY_AGENT}}}\n", "unknown task 'nosuchtask'"),
    (f"task: {{name: {TOY_TASK}}}\nagent: {{name: {TOY_AGENT}, bogus: 1}}\n", "agent.bogus"),
    (f"task: {{name: {TOY_TASK}\n", "not valid YAML"),
    ("task: {name: sciworld, task_types: [boill]}\nagent: {name: expert}\n", "did you mean 'boil'"),
    ("task: {name: sciworld, split_file: /nonexistent.json}\nagent: {name: expert}\n", "file not found"),
])
def test_cli_bad_spec_exits_nonzero_and_writes_nothing(tmp_path, text, needle):
    p = write(tmp_path, text)
    out = tmp_path / "runs"
    res = subprocess.run(harness_cmd() + ["run", str(p), "-R", f"out_dir={out}"], capture_output=True, text=True,
                         env=cli_env(), cwd=REPO)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()


def test_kept_runs_re_resolve_to_their_stored_identity_hash():
    """Options added to a plugin after runs were kept (added_later: webshop's spacy_model and
    goal_source, the vllm agent's continuous) stay out of the spec at their defaults, so the published
    runs, and experiments like them, still resume; set to another value, they are part of it. A run of
    explicit jobs (EEF's exploration) compares spec.yaml with its run_spec_hash: its spec_hash covers the jobs."""
    import json
    from pathlib import Path

    import yaml

    from harness.specs import resolve_plugin, run_spec_from_dict
    kept = [m.parent for m in sorted(Path(__file__).parents[1].joinpath("results").rglob("meta.json"))
            if json.loads(m.read_text()).get("kind") == "run"]
    assert any(yaml.safe_load((d / "spec.yaml").read_text())["agent"]["name"] == "vllm" for d in kept)
    for d in kept:
        spec = run_spec_from_dict(yaml.safe_load((d / "spec.yaml").read_text()), str(d))
        meta = json.loads((d / "meta.json").read_text())
        assert spec.identity_hash() == meta.get("run_spec_hash", meta["spec_hash"]), d
    vllm = {"name": "vllm", "model": "smollm2"}
    assert "continuous" not in resolve_plugin("agent", vllm, "t").model_dump(mode="json")
    assert resolve_plugin("agent", {**vllm, "continuous": False}, "t").model_dump(mode="json")["continuous"] is False
