"""The API key never reaches a file, a log or a terminal: runs whose failing requests echo the
Authorization header back, with every logger at debug, grepped everywhere for the planted key;
and a spec names the key's environment variable, never holds the key."""
import json
import subprocess
import threading

import pytest

from conftest import REPO, TOY_TASK, cli_env, harness_cmd
from fault_server import FaultServer, drop, echo_auth, malformed

pytest.importorskip("openai")

KEY_ENV = "HARNESS_SECRET_TEST_KEY"
KEYS = {
    "sk": "sk-test-PLANTEDKEY-7f3c9a1e5b2d4c6e",
    "other": "gsk_PLANTEDKEY_no_sk_prefix_Qx81Zt",  # not caught by the sk-... pattern: redacted as the secret itself
}


@pytest.fixture
def server():
    s = FaultServer().start()
    yield s
    s.stop()
    assert not [t for t in threading.enumerate() if "process_request" in t.name or t.name == "fault-server"]


def leaks(text: str, key: str) -> bool:
    # the whole key, or a recognisable part of it (an error that echoes a cut or masked key)
    return key in text or key[-16:] in text or key[:20] in text


def spec_dict(server, **agent):
    return {
        "task": {"name": TOY_TASK, "targets": [1, 2, 3, 4, 5, 6], "max_steps": 3},
        "agent": {"name": "openai", "model": "fault-model", "base_url": server.url, "api_key_env": KEY_ENV,
                  "max_retries": 1, "timeout_s": 5.0, "concurrency": 6, **agent},
        "run": {"samples": 1, "num_envs": 6, "progress": False},
    }


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_the_key_is_in_no_file_log_or_output_even_when_errors_echo_it(tmp_path, server, kind):
    key = KEYS[kind]
    server.script((1, 0), echo_auth(401))  # not retried: the episode errors with the echoed header
    server.script((2, 0), echo_auth(500), echo_auth(500))  # retried, then errors
    server.script((3, 0), echo_auth(500))  # retried, then succeeds
    server.script((4, 0), drop(), drop())
    server.script((5, 0), malformed(), malformed())
    server.script((6, 0), echo_auth(403))
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps(spec_dict(server)))
    out = tmp_path / "runs"
    env = cli_env(**{KEY_ENV: key, "OPENAI_LOG": "debug", "HTTPX_LOG_LEVEL": "trace"})
    res = subprocess.run(harness_cmd() + ["-vv", "run", str(spec), "-R", f"out_dir={out}", "-R", "name=s"],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    (tmp_path / "run.stdout").write_text(res.stdout)
    (tmp_path / "run.stderr").write_text(res.stderr)
    run_dir = out / "s"
    assert res.returncode == 1, res.stderr[-3000:]  # some episodes errored
    show = subprocess.run(harness_cmd() + ["-vv", "show", str(run_dir), "--episodes"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert show.returncode == 0, show.stderr
    (tmp_path / "show.stdout").write_text(show.stdout + show.stderr)

    # The test is not vacuous: the key went out, came back in error bodies, and the errors were stored.
    assert server.pending() == {}
    assert {a.authorization for a in server.attempts} == {f"Bearer {key}"}
    assert sum(key in a.sent.decode() for a in server.attempts) == 1 + 2 + 1 + 1
    eps = {json.loads(x)["id"]: json.loads(x) for x in (run_dir / "episodes.jsonl").read_text().splitlines()}
    errored = {i for i, e in eps.items() if e["status"] == "error"}
    assert errored == {"t1#0", "t2#0", "t4#0", "t5#0", "t6#0"}
    assert all("you sent Authorization" in eps[i]["error"] for i in ("t1#0", "t2#0", "t6#0"))
    assert "[REDACTED]" in eps["t1#0"]["error"]
    assert "DEBUG" in res.stderr and "openai" in res.stderr  # the libraries' debug logs were on

    written = [f for f in tmp_path.rglob("*") if f.is_file()]
    assert {p.name for p in run_dir.iterdir()} >= {"spec.yaml", "meta.json", "episodes.jsonl", "summary.json"}
    for f in written:
        assert not leaks(f.read_bytes().decode("utf-8", "replace"), key), f"the key leaked into {f}"
    for name, text in [("run stdout", res.stdout), ("run stderr", res.stderr), ("show", show.stdout + show.stderr)]:
        assert not leaks(text, key), f"the key leaked into {name}"
    # The resolved spec names the variable; the key is not in it.
    stored = (run_dir / "spec.yaml").read_text()
    assert f"api_key_env: {KEY_ENV}" in stored


@pytest.mark.parametrize("where", ["spec", "override"])
def test_a_key_given_where_the_variable_name_belongs_is_refused_and_not_echoed(tmp_path, server, where):
    key = KEYS["sk"]
    d = spec_dict(server)
    args = []
    if where == "spec":
        d["agent"]["api_key_env"] = key
    else:
        args = ["-A", f"api_key_env={key}"]
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps(d))
    out = tmp_path / "runs"
    res = subprocess.run(harness_cmd() + ["run", str(spec), "-R", f"out_dir={out}", "-R", "name=s", *args],
                         env=cli_env(), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "api_key_env" in res.stderr and "NAME of the environment variable" in res.stderr
    assert not leaks(res.stdout + res.stderr, key)
    assert not out.exists(), "nothing is written for a spec that fails validation"
    assert server.attempts == []


def test_key_like_values_are_told_apart_from_variable_names():
    from harness.agents.openai_api import OpenAIConfig
    from pydantic import ValidationError

    for name in ["OPENAI_API_KEY", "HARNESS_TEST_KEY", "my_key", "GROQ_API_KEY_FOR_THE_EVAL_CLUSTER_2"]:
        assert OpenAIConfig(model="m", api_key_env=name).api_key_env == name
    for key in [KEYS["sk"], KEYS["other"], "AIzaSyD-PLANTED_abcdefghijklmnopqrstuv",
                "hf_PLANTEDaBcDeFgHiJkLmNoPqRsTuVwXyZ1234"]:
        with pytest.raises(ValidationError) as info:
            OpenAIConfig(model="m", api_key_env=key)
        assert not leaks(str(info.value), key)
        assert not leaks(json.dumps(info.value.errors(include_url=False), default=str), key)
