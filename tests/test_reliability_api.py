"""The `openai` agent, through the real `openai` client, against a local scripted server
(tests/fault_server.py): retries within the bound, errored episodes beyond it and --resume,
the attempt bound per request, Retry-After, and 1,000 concurrent episodes under a concurrency cap."""
import io
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from conftest import REPO, TOY_TASK, cli_env, harness_cmd
from fault_server import FaultServer, drop, malformed, ok, rate_limited, slow, status

pytest.importorskip("openai")

from harness.agents.openai_api import OpenAIAgent, OpenAIConfig  # noqa: E402
from harness.agent import AgentRequest  # noqa: E402
from harness.run import execute  # noqa: E402
from harness.specs import load_run_spec  # noqa: E402

KEY_ENV = "HARNESS_FAULT_TEST_KEY"
KEY = "sk-test-faultserver-0000000000"
PRICE_PROMPT, PRICE_COMPLETION = 0.5, 1.5


@pytest.fixture
def server():
    s = FaultServer().start()
    yield s
    s.stop()
    left = [t.name for t in threading.enumerate() if "process_request" in t.name or t.name == "fault-server"]
    assert not left, f"server threads still alive: {left}"


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def write_spec(tmp_path: Path, server: FaultServer, targets, *, run=None, **agent) -> Path:
    spec = {
        "task": {"name": TOY_TASK, "targets": list(targets), "max_steps": max(targets) + 2},
        "agent": {"name": "openai", "model": "fault-model", "base_url": server.url, "api_key_env": KEY_ENV,
                  "max_retries": 3, "timeout_s": 5.0, "concurrency": 4, "max_tokens": 32,
                  "price_prompt_per_1k": PRICE_PROMPT, "price_completion_per_1k": PRICE_COMPLETION, **agent},
        "run": {"samples": 1, "num_envs": len(targets), "progress": False, "out_dir": str(tmp_path / "runs"),
                "name": "r", **(run or {})},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec))
    return path


def run_inprocess(spec_path: Path):
    log = io.StringIO()
    store = execute(load_run_spec(spec_path), console=Console(file=log, width=200))
    return store, log.getvalue()


def records(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "episodes.jsonl").read_text().splitlines()]


def attempts_by_key(server: FaultServer) -> dict:
    out: dict = {}
    for a in server.attempts:
        out.setdefault(a.key, []).append(a)
    return out


def expected_usage(server: FaultServer, target: int) -> tuple[int, int, float]:
    """Sum of the usage blocks of the successful responses of one episode (keys are (target, step))."""
    used = [a.usage for a in server.attempts if a.key[0] == target and a.usage is not None]
    p = sum(u["prompt_tokens"] for u in used)
    c = sum(u["completion_tokens"] for u in used)
    return p, c, sum(u["prompt_tokens"] * PRICE_PROMPT + u["completion_tokens"] * PRICE_COMPLETION for u in used) / 1000


# ---------------------------------------------------------------- retries within the bound

def test_faults_within_the_retry_bound_then_success_with_exact_token_accounting(tmp_path, server, key):
    max_retries = 3
    # every kind of fault, each request at most max_retries times (3, 1) uses all max_retries + 1 attempts
    server.script((1, 0), status(500), drop())
    server.script((2, 0), malformed(), status(503))
    server.script((2, 1), slow(), status(502), malformed())
    server.script((3, 0), drop())
    server.script((3, 1), status(500), status(500), status(500))
    server.script((3, 2), malformed(), malformed())
    spec = write_spec(tmp_path, server, [1, 2, 3], max_retries=max_retries, timeout_s=0.5)
    store, _ = run_inprocess(spec)

    assert server.pending() == {}, "every scripted fault was served"
    by_key = attempts_by_key(server)
    assert max(len(v) for v in by_key.values()) == max_retries + 1 == len(by_key[(3, 1)])
    slow_attempt = by_key[(2, 1)][0]
    assert slow_attempt.behaviour.kind == "slow" and slow_attempt.client_gave_up, "the client timed out and hung up"

    recs = records(store.path)
    assert len(recs) == 3 and all(r["status"] == "ok" and r["success"] for r in recs)
    for r in recs:
        target = int(r["subtask_id"][1:])
        assert len(r["steps"]) == target
        p, c, cost = expected_usage(server, target)
        assert (r["usage"]["prompt_tokens"], r["usage"]["completion_tokens"]) == (p, c)  # exact
        assert r["usage"]["cost"] == pytest.approx(cost, rel=1e-12, abs=0)
    summary = store.summary()
    assert summary["complete"] and summary["errors"] == 0 and summary["episodes"] == 3
    ok_usage = [a.usage for a in server.attempts if a.usage is not None]
    assert len(ok_usage) == 1 + 2 + 3  # one successful response per agent turn, nothing else counted
    assert summary["usage"]["prompt_tokens"] == sum(u["prompt_tokens"] for u in ok_usage)
    assert summary["usage"]["completion_tokens"] == sum(u["completion_tokens"] for u in ok_usage)


# ---------------------------------------------------------------- beyond the bound, then --resume

def test_beyond_the_bound_the_episode_errors_the_run_fails_and_resume_completes_it(tmp_path, server):
    max_retries = 2
    server.script((2, 0), *[status(500)] * (max_retries + 1))
    server.script((3, 1), *[drop()] * (max_retries + 1))  # mid-episode
    # the agent's and the client's retries share one budget
    server.script((4, 2), malformed(), status(500), malformed())
    spec = write_spec(tmp_path, server, [1, 2, 3, 4], max_retries=max_retries)
    env = cli_env(**{KEY_ENV: KEY})
    run_dir = tmp_path / "runs" / "r"

    res = subprocess.run(harness_cmd() + ["run", str(spec)], env=env, cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode != 0, res.stdout + res.stderr
    assert server.pending() == {}
    by_key = attempts_by_key(server)
    for k in [(2, 0), (3, 1), (4, 2)]:
        assert len(by_key[k]) == max_retries + 1, k
    recs = {r["id"]: r for r in records(run_dir)}
    assert recs["t1#0"]["status"] == "ok" and recs["t1#0"]["success"]
    for eid, kind in [("t2#0", "InternalServerError"), ("t3#0", "APIConnectionError"), ("t4#0", "MalformedResponse")]:
        r = recs[eid]
        assert r["status"] == "error" and not r["success"], r  # errored, not a failed episode
        assert kind in r["error"], r["error"]
    assert len(recs["t3#0"]["steps"]) == 1 and len(recs["t4#0"]["steps"]) == 2  # the steps before the fault are kept
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["errors"] == 3 and summary["episodes"] == 1 and summary["complete"] is False
    assert summary["expected_episodes"] == 4

    # The server is healthy again: --resume plays only the errored episodes, to the end.
    server.reset()
    res = subprocess.run(harness_cmd() + ["run", "--resume", str(run_dir)], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert {a.key[0] for a in server.attempts} == {2, 3, 4}  # t1 was not played again
    assert all(len(v) == 1 for v in attempts_by_key(server).values())
    lines = records(run_dir)
    assert [r["id"] for r in lines].count("t1#0") == 1 and len(lines) == 4 + 3
    final = {r["id"]: r for r in lines}
    assert all(r["status"] == "ok" and r["success"] for r in final.values())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] is True and summary["errors"] == 0 and summary["episodes"] == 4
    for t in (2, 3, 4):  # the resumed episodes count only the responses of their new attempt
        p, c, _ = expected_usage(server, t)
        assert (final[f"t{t}#0"]["usage"]["prompt_tokens"], final[f"t{t}#0"]["usage"]["completion_tokens"]) == (p, c)


# ---------------------------------------------------------------- the attempt bound

@pytest.mark.parametrize("max_retries", [0, 2])
def test_http_attempts_per_request_never_exceed_max_retries_plus_one(server, key, max_retries):
    faults = {1: status(500), 2: status(429), 3: drop(), 4: malformed(), 5: slow()}
    n = max_retries + 1
    for target, fault in faults.items():
        server.script((target, 0), *[fault] * (n + 3))  # more faults than attempts allowed
    # mixed: the client's retries (500, drop) and the agent's (malformed body) draw on one budget
    mixed = {6: [malformed(), status(500), malformed(), drop(), malformed(), ok()],
             7: [malformed(), *[status(500)] * 5, ok()]}
    for target, script in mixed.items():
        server.script((target, 0), *script)
    agent = OpenAIAgent(OpenAIConfig(model="m", base_url=server.url, api_key_env=KEY_ENV, max_retries=max_retries,
                                     timeout_s=0.3, concurrency=8))
    try:
        reqs = [AgentRequest(episode_id=f"t{t}#0", seed=0, messages=[
            {"role": "system", "content": "count"}, {"role": "user", "content": f"Target {t}. The counter is 0."}])
            for t in range(1, 8)]
        replies = agent.act(reqs)
    finally:
        agent.close()
    by_key = attempts_by_key(server)
    assert all(r.error is not None and r.usage.prompt_tokens == 0 for r in replies), replies
    for target in range(1, 8):
        assert len(by_key[(target, 0)]) == n, (target, [a.behaviour.kind for a in by_key[(target, 0)]])
    for target, script in mixed.items():  # each request stopped where its budget ran out
        assert server.pending()[(target, 0)] == len(script) - n


# ---------------------------------------------------------------- Retry-After

def test_retry_after_of_a_429_is_honoured(tmp_path, server, key):
    retry_after = 1.0  # the client's own backoff before a first retry is at most 0.5 s
    server.script((1, 0), rate_limited(retry_after))
    store, _ = run_inprocess(write_spec(tmp_path, server, [1], max_retries=2))
    first, second = server.attempts_for((1, 0))
    assert first.behaviour.code == 429 and second.behaviour.kind == "ok"
    assert second.retry_count == "1"
    assert second.arrived - first.answered >= retry_after - 0.05
    (rec,) = records(store.path)
    assert rec["status"] == "ok" and rec["usage"]["prompt_tokens"] == second.usage["prompt_tokens"]


# ---------------------------------------------------------------- odd but valid bodies

def test_a_reply_with_half_an_emoji_is_stored_not_fatal(tmp_path, server, key):
    # JSON may escape UTF-16 code units; a reply cut inside a surrogate pair decodes to a lone
    # surrogate, which UTF-8 cannot encode: it used to crash RunStore.append and with it the run.
    server.script((1, 0), ok(text="Thought: almost \ud83d\nAction: inc"))
    server.script((2, 0), ok(text="Thought: whole \ud83d\ude00\nAction: inc"))
    store, _ = run_inprocess(write_spec(tmp_path, server, [1, 2]))
    recs = {r["id"]: r for r in records(store.path)}
    assert all(r["status"] == "ok" and r["success"] for r in recs.values())
    assert recs["t1#0"]["messages"][2]["content"] == "Thought: almost \ufffd\nAction: inc"
    assert recs["t2#0"]["messages"][2]["content"] == "Thought: whole \U0001f600\nAction: inc"


# ---------------------------------------------------------------- load

def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_a_thousand_concurrent_episodes_under_a_concurrency_cap(tmp_path, server, key):
    n, cap = 1000, 32
    server.reset(default=ok(delay_s=0.02))  # some server latency, so requests overlap
    spec = write_spec(tmp_path, server, [1], run={"samples": n, "num_envs": n, "max_steps": 1},
                      concurrency=cap, max_retries=0)
    rss0 = _rss_mb()
    peak = [rss0]
    done = threading.Event()
    outcome: dict = {}

    def sample_rss():
        while not done.wait(0.05):
            peak[0] = max(peak[0], _rss_mb())

    def play():
        try:
            outcome["store"], _ = run_inprocess(spec)
        except BaseException as exc:  # surfaced below
            outcome["error"] = exc
        finally:
            done.set()

    sampler = threading.Thread(target=sample_rss, name="rss-sampler")
    runner = threading.Thread(target=play, name="load-run", daemon=True)
    t0 = time.monotonic()
    sampler.start()
    runner.start()
    finished = done.wait(240)
    wall = time.monotonic() - t0
    done.set()
    sampler.join(5)
    if not finished:
        server.stop()  # unblock whatever is stuck, then fail
        pytest.fail(f"{n} episodes did not finish in 240 s (deadlock?)")
    runner.join(30)
    assert "error" not in outcome, outcome.get("error")
    growth = peak[0] - rss0
    print(f"\nload: {n} episodes in {wall:.1f}s, peak in flight {server.max_in_flight}/{cap}, "
          f"RSS growth {growth:.0f} MB (peak {peak[0]:.0f} MB)")

    recs = records(outcome["store"].path)
    ids = [r["id"] for r in recs]
    assert len(ids) == n and set(ids) == {f"t1#{i}" for i in range(n)}  # each episode exactly once
    assert all(r["status"] == "ok" and r["success"] for r in recs)
    assert len(server.attempts) == n
    assert server.max_in_flight <= cap
    assert server.max_in_flight >= cap // 4, "requests should overlap: the cap is what bounds them"
    assert growth < 300, f"RSS grew by {growth:.0f} MB"
    summary = outcome["store"].summary()
    assert summary["complete"] and summary["episodes"] == n
