"""Property-based tests (hypothesis): the ReAct action parser, the trajectory JSON round trip and
the run store's torn-tail repair."""
import math
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from harness.react import format_reply, parse_action
from harness.runstore import EPISODES_FILE, RunStore
from harness.trajectory import Message, Step, Trajectory, Usage

# No per-example deadline: on a shared 2-core machine a slow example is load, not a fault.
settings.register_profile("harness", deadline=None)
settings.load_profile("harness")

# ---------------------------------------------------------------- parse_action

# Text that is likely to contain near-misses of the format.
FRAGMENTS = st.sampled_from(["Thought:", "Action", "action", "ACTION", "Act", "ion", ":", " :", " ", "\t", "\n",
                             "\r\n", "\u2028", "Observation:", "`", "'", '"', ".", "open door", "inc", "ı", "İ", "ſ"])
FORMATISH = st.lists(st.one_of(FRAGMENTS, st.text(max_size=5)), max_size=25).map("".join)


def normalized(action: str) -> str | None:
    """What the parser promises for a one-line action: surrounding whitespace, quotes, backticks and
    trailing periods are dropped; nothing left means no action."""
    a = action.strip().strip("`'\" ").rstrip(".").strip()
    return a or None


def one_line(s: str) -> bool:
    return s == "" or s.splitlines() == [s]


@given(st.one_of(st.text(), FORMATISH, st.none(), st.integers(), st.binary()))
@example("Action:")
@example("Action:\n\n")
@example("Thought: \nAction: \u2028")
def test_parse_action_never_raises(text):
    out = parse_action(text)
    assert out is None or (isinstance(out, str) and out == out.strip() and out and "\n" not in out)


@given(thought=st.one_of(st.text(), FORMATISH), action=st.one_of(st.text(), FORMATISH).filter(one_line))
@example(thought="I know what to do. Next Action:", action="open door")  # a thought ending with the label
@example(thought="Action: dec", action="")
@example(thought="x", action="look at Action: figure")
@example(thought="x", action="'focus on seed'.")
def test_parse_action_returns_the_action_of_a_formatted_reply(thought, action):
    assert parse_action(format_reply(thought, action)) == normalized(action)


@given(st.one_of(st.text(), FORMATISH))
@example("Actıon: go")  # dotless i: only ASCII case-insensitivity makes 'Action'
@example("ACTİON: go")
@example("Action\n: go")
@example("Thought: I will act.\nDo: go north")
def test_no_action_without_an_action_label(text):
    label = re.sub(r"[ \t]+:", ":", text).lower()  # "Action :" is still the label; "Action\n:" is not
    assume("action:" not in label)
    assert parse_action(text) is None


# ---------------------------------------------------------------- trajectories

TEXT = st.text(max_size=30)  # any unicode scalar values (hypothesis leaves out lone surrogates)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
INTS = st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1)
messages = st.builds(Message, role=st.sampled_from(["system", "user", "assistant"]), content=TEXT, train=st.booleans())
steps = st.builds(Step, action=st.none() | TEXT, observation=TEXT, reward=FLOATS, score=FLOATS)
usages = st.builds(Usage, prompt_tokens=st.integers(0, 2 ** 40), completion_tokens=st.integers(0, 2 ** 40), cost=FLOATS)


def trajectories(ids=TEXT):
    return st.builds(
        Trajectory, id=ids, task=TEXT, subtask_id=TEXT, category=TEXT, sample=INTS, agent=TEXT,
        messages=st.lists(messages, max_size=4), prompt_len=INTS, steps=st.lists(steps, max_size=4), score=FLOATS,
        success=st.booleans(), done=st.booleans(), status=st.sampled_from(["ok", "error"]), error=st.none() | TEXT,
        usage=usages, source=st.sampled_from(["expert", "self", "eef", "imported"]), parent=st.none() | TEXT,
        prefix_steps=INTS, seed=INTS, elapsed_s=FLOATS)


@given(trajectories())
@example(Trajectory(id="é\u2028\x00😀", task="t", subtask_id="s\n", category='"c"', score=-0.0, elapsed_s=5e-324,
                    usage=Usage(cost=1.7976931348623157e308), steps=[Step(action=None, observation="\r\n\x85")]))
def test_trajectory_json_round_trip(t):
    line = t.model_dump_json()
    assert "\n" not in line  # one record, one line
    assert Trajectory.model_validate_json(line) == t


@pytest.mark.parametrize("field, value", [
    ("score", math.nan),
    ("score", math.inf),
    ("elapsed_s", -math.inf),
    ("error", "half an emoji \ud83d"),
    ("score", 100.0),
    ("error", "a whole emoji \U0001f600"),
])
def test_a_trajectory_that_can_be_built_can_be_stored_and_read_back(tmp_path, field, value):
    """Either a value is refused when the record is built, or it survives the run store (a lone
    surrogate as U+FFFD: it cannot be written as UTF-8)."""
    try:
        t = Trajectory(id="a#0", task="t", subtask_id="s", category="c", **{field: value})
    except ValueError:
        return  # refused at the source: fine
    store = RunStore(tmp_path)
    store.append(t)
    store.close()
    (back,) = store.latest().values()
    got = getattr(back, field)
    assert got == getattr(t, field)
    assert got == value or (isinstance(value, str) and got == value.replace("\ud83d", "\ufffd"))


# ---------------------------------------------------------------- run store: torn tail

@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(trajs=st.lists(trajectories(ids=st.sampled_from(["a#0", "a#1", "b#0", "ü#0"])), max_size=6),
       data=st.data())
def test_repair_keeps_exactly_the_complete_lines(trajs, data):
    with tempfile.TemporaryDirectory() as d:
        store = RunStore(Path(d))
        f = Path(d) / EPISODES_FILE
        f.touch()
        for t in trajs:
            store.append(t)
        store.close()
        raw = f.read_bytes()
        cut = data.draw(st.integers(0, len(raw)), label="cut")
        f.write_bytes(raw[:cut])  # a crash cut the file here (possibly inside a UTF-8 sequence)

        complete = raw[:cut].count(b"\n")  # records whose line (with its newline) made it to disk
        dropped = store.repair()
        assert dropped == cut - (raw[:cut].rfind(b"\n") + 1)
        expected: dict = {}
        for t in trajs[:complete]:
            expected[t.key] = t  # a later record of the same episode supersedes an earlier one
        assert store.latest() == expected
        assert store.repair() == 0  # idempotent

        # the repaired file takes new records cleanly (no half line glued to the next record)
        extra = Trajectory(id="new#0", task="t", subtask_id="s", category="c")
        store.append(extra)
        store.close()
        assert store.latest() == {**expected, extra.key: extra}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(trajs=st.lists(trajectories(ids=st.sampled_from(["a#0", "a#1", "b#0", "ü#0"])), max_size=8))
def test_streamed_briefs_are_the_latest_record_of_each_episode(trajs):
    """`iter_latest_briefs` (what summaries and leaderboards read) agrees with `latest`."""
    with tempfile.TemporaryDirectory() as d:
        store = RunStore(Path(d))
        (Path(d) / EPISODES_FILE).touch()
        for t in trajs:
            store.append(t)
        store.close()
        latest = store.latest()
        briefs = list(store.iter_latest_briefs())
        assert sorted(b.key for b in briefs) == sorted(latest)  # one brief per episode
        for b in briefs:
            t = latest[b.key]
            assert (b.task, b.subtask_id, b.category, b.status, b.success, b.score, b.usage) == \
                (t.task, t.subtask_id, t.category, t.status, t.success, t.score, t.usage)
