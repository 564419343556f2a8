import json

import pytest

from harness.errors import RunStoreError
from harness.run import execute
from harness.runstore import RunStore
from harness.specs import load_run_spec


def spec(tmp_path, targets=(1, 2, 3, 4, 5), **run):
    run_over = [f"out_dir={tmp_path}", "name=r", "progress=false"] + [f"{k}={v}" for k, v in run.items()]
    return load_run_spec(None, defaults={"task": {"name": "counter", "targets": list(targets)},
                                         "agent": {"name": "counter_agent"}}, run=run_over)


def test_run_writes_spec_meta_episodes_and_summary(tmp_path):
    store = execute(spec(tmp_path, samples=2))
    d = tmp_path / "r"
    assert (d / "spec.yaml").is_file()
    meta = json.loads((d / "meta.json").read_text())
    assert meta["spec_hash"] and "python" in meta["versions"] and "pydantic" in meta["versions"]
    lines = (d / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 10
    s = store.summary()
    assert s["complete"] and s["episodes"] == 10 and s["win_rate"] == 1.0
    assert s["categories"]["odd"]["subtasks"] == 3 and s["categories"]["even"]["subtasks"] == 2


def test_resume_refuses_a_changed_spec(tmp_path):
    execute(spec(tmp_path))
    with pytest.raises(RunStoreError, match="spec changed"):
        execute(spec(tmp_path, seed=5), resume=tmp_path / "r")


def test_new_run_into_existing_dir_is_refused(tmp_path):
    execute(spec(tmp_path))
    with pytest.raises(RunStoreError, match="--resume"):
        execute(spec(tmp_path))


def test_torn_last_line_is_cut_and_that_episode_rerun(tmp_path):
    execute(spec(tmp_path))
    f = tmp_path / "r" / "episodes.jsonl"
    lines = f.read_text().splitlines(keepends=True)
    f.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])  # a write cut mid-record
    assert len(RunStore.open(tmp_path / "r").latest()) == 3  # the torn record is not counted
    store = execute(spec(tmp_path), resume=tmp_path / "r")
    ids = [json.loads(x)["id"] for x in f.read_text().splitlines()]
    assert sorted(ids) == sorted({"t1#0", "t2#0", "t3#0", "t4#0", "t5#0"}) and len(ids) == 5
    assert store.summary()["complete"]


def test_errored_episodes_are_rerun_on_resume(tmp_path):
    s = load_run_spec(None, defaults={"task": {"name": "counter", "targets": [1, 2], "crash_on": ["t2"]},
                                      "agent": {"name": "counter_agent"}},
                      run=[f"out_dir={tmp_path}", "name=r", "progress=false", "env_retries=0"])
    store = execute(s)
    assert store.summary()["errors"] == 1 and not store.summary()["complete"]
    # the fault is gone (e.g. the API is back): resume reruns only the errored episode
    from harness_toy import CounterTask
    task = CounterTask(s.task.model_copy(update={"crash_on": []}))
    store = execute(s, resume=tmp_path / "r", task=task)
    latest = RunStore.open(tmp_path / "r").latest()
    assert all(t.status == "ok" for t in latest.values()) and store.summary()["complete"]
    assert len((tmp_path / "r" / "episodes.jsonl").read_text().splitlines()) == 3


def test_second_writer_is_locked_out(tmp_path):
    execute(spec(tmp_path))
    first = RunStore.open(tmp_path / "r")
    first.lock()
    try:
        with pytest.raises(RunStoreError, match="in use"):
            RunStore.open(tmp_path / "r").lock()
    finally:
        first.close()


def test_latest_is_in_id_order_whatever_order_episodes_finished_in(tmp_path):
    d = tmp_path / "r"
    execute(spec(tmp_path, targets=range(1, 12), samples=2))
    lines = (d / "episodes.jsonl").read_text().splitlines(keepends=True)
    orders = []
    for written in (lines, lines[::-1], lines[1::2] + lines[::2]):
        (d / "episodes.jsonl").write_text("".join(written))
        orders.append(list(RunStore.open(d).latest()))
    assert orders[0] == orders[1] == orders[2]
    assert orders[0][:4] == ["t1#0", "t1#1", "t2#0", "t2#1"] and orders[0][-2:] == ["t11#0", "t11#1"]  # 2 before 11
