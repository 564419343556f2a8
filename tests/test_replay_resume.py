"""Episodes that cannot start as planned (an EEF prefix that does not replay) are recorded as
not tried: finished, never retried by --resume, not scored, and they do not stop an experiment."""
import json

import pytest

from harness.errors import RunStoreError
from harness.rollout import EpisodeJob
from harness.run import execute
from harness.runstore import RunStore
from harness.specs import load_run_spec
from harness_toy import CounterConfig, CounterTask, CountingAgent, CountingConfig

from test_engine import jobs_for, play


def test_not_tried_episode_is_finished_for_resume_and_summary(tmp_path):
    task = CounterTask(CounterConfig(targets=[3, 4]))
    parents = play(task, CountingAgent(CountingConfig()), jobs_for(task))
    broken = parents["t4#0"].model_copy(deep=True)
    broken.steps[0].observation = "The counter is 99."
    sts = {s.id: s for s in task.subtasks()}
    jobs = [EpisodeJob(subtask=sts["t3"], prefix=parents["t3#0"], prefix_steps=1, episode_id="t3#0@1"),
            EpisodeJob(subtask=sts["t4"], prefix=broken, prefix_steps=2, episode_id="t4#0@2")]
    spec = load_run_spec(None, defaults={"task": {"name": "counter", "targets": [3, 4]},
                                         "agent": {"name": "counter_agent"}},
                         run=[f"out_dir={tmp_path}", "name=x", "progress=false"])
    store = execute(spec, jobs=jobs, task=task)
    meta = json.loads((tmp_path / "x" / "meta.json").read_text())  # the plan is in the hash, not in spec.yaml
    assert meta["run_spec_hash"] == spec.identity_hash() != meta["spec_hash"]
    s = store.summary()
    assert (s["episodes"], s["not_tried"], s["errors"], s["complete"]) == (1, 1, 0, True)
    lines = (tmp_path / "x" / "episodes.jsonl").read_text().splitlines()
    store = execute(spec, jobs=jobs, task=task, resume=tmp_path / "x")  # nothing to replay again
    assert (tmp_path / "x" / "episodes.jsonl").read_text().splitlines() == lines
    assert RunStore.open(tmp_path / "x").finished_keys() == {"t3#0@1", "t4#0@2"}
    statuses = {json.loads(x)["id"]: json.loads(x)["status"] for x in lines}
    assert statuses == {"t3#0@1": "ok", "t4#0@2": "not_tried"}
    # `harness run --resume` cannot know the jobs: it names the command that does
    with pytest.raises(RunStoreError, match="run the experiment's `harness train` command"):
        execute(spec, task=task, resume=tmp_path / "x")
