"""The protocol record behind every number: stored per run, compared by the leaderboard."""
import json
import subprocess

from conftest import REPO, TOY_AGENT, TOY_TASK, cli_env, harness_cmd


def cli(*args):
    return subprocess.run(harness_cmd() + list(args), env=cli_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def run(tmp_path, name, task, agent):
    res = cli("run", "-T", f"name={task['name']}", *[f"-T{k}={v}" for k, v in task.items() if k != "name"],
              "-A", f"name={agent}", "-R", f"out_dir={tmp_path}", "-R", f"name={name}", "-R", "progress=false")
    assert res.returncode == 0, res.stderr
    return tmp_path / name


def test_runs_that_differ_only_in_the_step_limit_are_flagged_and_strict_refuses(tmp_path):
    a = run(tmp_path, "a", {"name": TOY_TASK, "targets": "[1, 2, 3]", "max_steps": 10}, TOY_AGENT)
    b = run(tmp_path, "b", {"name": TOY_TASK, "targets": "[1, 2, 3]", "max_steps": 6}, TOY_AGENT)
    same = run(tmp_path, "c", {"name": TOY_TASK, "targets": "[1, 2, 3]", "max_steps": 10}, TOY_AGENT)
    meta = json.loads((a / "meta.json").read_text())
    assert meta["protocol"]["max_steps"] == 10 and meta["protocol"]["subtasks"] == 3

    res = cli("leaderboard", str(a), str(b), "--format", "json")
    assert res.returncode == 0, res.stderr
    board = json.loads(res.stdout)
    assert any("'max_steps'" in w and "/a): 10" in w and "/b): 6" in w for w in board["warnings"]), board["warnings"]
    assert sorted(r["protocol_group"] for r in board["runs"]) == [1, 2]
    assert "protocol" in cli("leaderboard", str(a), str(b), "--format", "markdown").stdout.splitlines()[2]

    strict = cli("leaderboard", str(a), str(b), "--strict")
    assert strict.returncode != 0 and "max_steps" in strict.stderr

    ok = cli("leaderboard", str(a), str(same), "--strict", "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert not any("protocol" in w for w in json.loads(ok.stdout)["warnings"])


def test_runs_with_and_without_the_in_context_example_differ_in_the_prompt_field(tmp_path):
    a = run(tmp_path, "icl", {"name": "webshop-mini", "limit": 2}, "expert")
    b = run(tmp_path, "noicl", {"name": "webshop-mini", "limit": 2, "icl_example": "false"}, "expert")
    pa, pb = (json.loads((d / "meta.json").read_text())["protocol"] for d in (a, b))
    assert pa["prompt"] != pb["prompt"] and {k: v for k, v in pa.items() if k != "prompt"} == \
        {k: v for k, v in pb.items() if k != "prompt"}
    assert pa["success_rule"] == "reward == 1.0" and pa["data"].startswith("products:")
    res = cli("leaderboard", str(a), str(b), "--format", "json")
    warnings = json.loads(res.stdout)["warnings"]
    assert any("'prompt'" in w for w in warnings) and not any("'data'" in w for w in warnings)
