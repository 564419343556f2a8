"""ALFWorld on the real engine (PyPI alfworld): our engine wrapper against the engine's own loop, the
alfworld-mini games, the experts, prefix replay, and the official-data path on a folder laid out
like the official download. Skipped without alfworld (pip install 'harness[alfworld]').

The mini games are generated once per machine into the harness cache (~3 min the first time).
"""
import json
import random
import shutil
import subprocess

import pytest

pytest.importorskip("alfworld")
pytest.importorskip("textworld")

from conftest import REPO, cli_env, harness_cmd  # noqa: E402
from harness import Agent, AgentReply, AgentSpec  # noqa: E402
from harness.agents.scripted import ExpertAgent, ExpertConfig, NoisyExpertAgent, NoisyExpertConfig  # noqa: E402
from harness.rollout import EpisodeJob, RolloutEngine  # noqa: E402
from harness.tasks.alfworld import AlfWorldConfig, AlfWorldMiniConfig, AlfWorldMiniTask, AlfWorldTask  # noqa: E402
from harness.tasks.alfworld.engine import Engine  # noqa: E402
from harness.tasks.alfworld.games import MAX_WALKTHROUGH, _Room, _task_params, _write_game, mini_root  # noqa: E402

SIX = {"pick_and_place", "pick_clean_then_place", "pick_heat_then_place", "pick_cool_then_place", "look_at_obj",
       "pick_two_obj"}


@pytest.fixture(scope="module")
def root():
    return mini_root()


@pytest.fixture(scope="module")
def train(root):
    return AlfWorldMiniTask(AlfWorldMiniConfig(split="train"))


@pytest.fixture(scope="module")
def test_part(root):
    return AlfWorldMiniTask(AlfWorldMiniConfig(split="test"))


def play(task, agent, jobs, num_envs=2):
    out = []
    RolloutEngine(task, agent, num_envs=num_envs).run(jobs, out.append)
    return sorted(out, key=lambda t: t.id)


def reference_env(game_file):
    """The engine's default loop, as AlfredTWEnv plays a game (without the gym's subprocess)."""
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
    from textworld.envs.pddl import PddlEnv
    env = AlfredInfos(AlfredDemangler(PddlEnv(textworld.EnvInfos(won=True, admissible_commands=True,
                                                                 extras=["gamefile"]))))
    env.load(game_file)
    return env


class Fixed(Agent):
    """Replies with a fixed text every turn."""
    batched = False

    def __init__(self, text):
        super().__init__(AgentSpec(name="fixed"))
        self.text = text

    def act(self, requests):
        return [AgentReply(text=self.text) for _ in requests]


# ---------------------------------------------------------------- the game set

def test_mini_set_has_every_task_type_in_both_parts_and_unseen_test_rooms(train, test_part):
    for task in (train, test_part):
        cats = {s.category for s in task.subtasks()}
        assert cats == {f"mini-{c}" for c in SIX}
        assert all(s.id.startswith(f"mini:{task.config.split}/") for s in task.subtasks())
    rooms = lambda task: {s.id.split("/")[1].rsplit("-", 1)[1] for s in task.subtasks()}  # noqa: E731
    assert len(rooms(train)) >= 4 and len(rooms(test_part)) >= 3 and not rooms(train) & rooms(test_part)


def test_games_are_in_the_official_format(root):
    for trial in (root / "test").glob("*/*/"):
        game = json.loads((trial / "game.tw-pddl").read_text())
        traj = json.loads((trial / "traj_data.json").read_text())
        assert game["solvable"] is True and 0 < len(game["walkthrough"]) <= MAX_WALKTHROUGH
        assert "UNKNOWN GOAL" not in game["grammar"] and "(:goal" in game["pddl_problem"]
        assert set(traj["pddl_params"]) == {"object_target", "parent_target", "toggle_target", "mrecep_target",
                                            "object_sliced"}
        assert trial.parent.name.startswith(traj["task_type"])


def test_generation_is_deterministic(tmp_path):
    room = _Room(305)  # a small bedroom: a game takes about a second
    for out in ("a", "b"):
        rng = random.Random(7)
        params = _task_params(room, "pick_and_place_simple", rng)
        assert _write_game(tmp_path / out, room, "pick_and_place_simple", params, 7, rng)
    for name in ("game.tw-pddl", "traj_data.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


# ---------------------------------------------------------------- our engine wrapper vs the engine's loop

@pytest.mark.parametrize("index", [0, -1])
def test_engine_matches_the_default_loop_on_random_and_invalid_commands(test_part, index):
    game_file = test_part.subtasks()[index].data["game_file"]
    ref = reference_env(game_file)
    state = ref.reset()
    ours = Engine()
    ours.load(game_file)
    assert ours.reset() == state.feedback
    rng = random.Random(index)
    for _ in range(30):
        assert ours.admissible_commands() == state["admissible_commands"]
        command = rng.choice(state["admissible_commands"] + ["jump", "take the moon from sky 1"])
        state, _, _ = ref.step(command)
        assert ours.step(command) == state.feedback
        assert ours.won == state["won"]
    # a second episode of the same game starts from the start again (a kept translation)
    assert ours.reset() == ref.reset().feedback
    for command in json.loads(open(game_file).read())["walkthrough"]:
        assert ours.step(command) == ref.step(command)[0].feedback
    assert ours.won
    ours.close()


# ---------------------------------------------------------------- experts, prompts, invalid output

def test_expert_wins_every_game(train, test_part):
    for task in (train, test_part):
        trajs = play(task, ExpertAgent(ExpertConfig()), [EpisodeJob(subtask=s) for s in task.subtasks()])
        assert all(t.status == "ok" and t.success and t.done for t in trajs)
        assert all(len(t.steps) <= task.max_steps(None) for t in trajs)
        assert all(t.steps[-1].score == 100 for t in trajs)


def test_first_message_is_instruction_example_and_the_room_without_the_banner(test_part):
    env = test_part.make_env()
    content = env.reset(test_part.subtasks()[0]).messages[0]["content"]
    assert "Welcome to TextWorld" not in content
    room = content.split("Now it is your turn.\n", 1)[1]
    assert room.startswith("You are in the middle of a room.") and "\n\nYour task is to: " in room
    assert "Action: move soapbar 1 to toilet 1" in content  # the worked example
    env.close()


def test_malformed_output_answers_nothing_happens_and_the_step_counts(test_part):
    st = test_part.subtasks()[:1]
    (t,) = play(test_part, Fixed("I am not sure what to do."), [EpisodeJob(subtask=s) for s in st])
    assert len(t.steps) == 40 and not t.success
    assert all(s.action is None and s.observation == "Nothing happens." for s in t.steps)
    (t,) = play(test_part, Fixed("Thought: hm\nAction: fly to the moon"), [EpisodeJob(subtask=s) for s in st])
    assert t.steps[0].action == "fly to the moon" and t.steps[0].observation == "Nothing happens."


def test_noisy_expert_fails_with_useful_prefixes_and_replays_deterministically(train):
    jobs = lambda: [EpisodeJob(subtask=s, seed=i) for i, s in enumerate(train.subtasks())]  # noqa: E731
    a = play(train, NoisyExpertAgent(NoisyExpertConfig(p=0.3, seed=1)), jobs())
    b = play(train, NoisyExpertAgent(NoisyExpertConfig(p=0.3, seed=1)), jobs(), num_envs=1)
    assert [t.model_dump(exclude={"elapsed_s"}) for t in a] == [t.model_dump(exclude={"elapsed_s"}) for t in b]
    failed = [t for t in a if not t.success]
    assert failed and any(t.success for t in a)
    # EEF's restarts: replay k stored steps of each failed expert, then the expert's agent takes over
    by_id = {s.id: s for s in train.subtasks()}
    restarts = [EpisodeJob(subtask=by_id[t.subtask_id], prefix=t, prefix_steps=k, episode_id=f"{t.id}@{k}")
                for t in failed for k in (1, len(t.steps) // 2)]
    replayed = play(train, Fixed("Thought: I look around.\nAction: look"), restarts)
    assert all(r.status == "ok" for r in replayed), [r.error for r in replayed if r.status != "ok"]
    parents = {t.id: t for t in failed}
    for r in replayed:
        parent = parents[r.parent]
        k = r.prefix_steps
        assert [(s.action, s.observation) for s in r.steps[:k]] == [(s.action, s.observation)
                                                                     for s in parent.steps[:k]]
        assert r.steps[k].action == "look"


# ---------------------------------------------------------------- the official data path

def official_layout(root, dest):
    """A folder laid out like the official download, holding our games."""
    for part, splits in (("train", ["train"]), ("test", ["valid_seen", "valid_unseen"])):
        for split in splits:
            shutil.copytree(root / part, dest / "json_2.1.1" / split)
    # what the engine's loader leaves out: a movable-receptacle game, and an unsolvable one
    some = next((dest / "json_2.1.1" / "valid_unseen").glob("*/*/"))
    shutil.copytree(some, dest / "json_2.1.1" / "valid_unseen" / "pick_and_place_with_movable_recep-X-Y-Z-1" / "t")
    bad = dest / "json_2.1.1" / "valid_unseen" / "pick_and_place_simple-A-B-C-2" / "t"
    shutil.copytree(some, bad)
    game = json.loads((bad / "game.tw-pddl").read_text())
    (bad / "game.tw-pddl").write_text(json.dumps({**game, "solvable": False}))
    return dest


def test_official_splits_play_through_the_engines_loader(root, tmp_path, test_part):
    data = official_layout(root, tmp_path / "alfworld_data")
    task = AlfWorldTask(AlfWorldConfig(data_dir=data, split="valid_unseen"))
    subtasks = task.subtasks()
    assert len(subtasks) == len(test_part.subtasks())  # the movable and the unsolvable game left out
    assert {s.category for s in subtasks} == SIX and all(s.id.startswith("alfworld:valid_unseen/") for s in subtasks)
    trajs = play(task, ExpertAgent(ExpertConfig()), [EpisodeJob(subtask=s) for s in subtasks])
    assert all(t.success for t in trajs)
    assert task.protocol()["data"].startswith("games:") and task.protocol()["success_rule"] == "won"

    # the CLI, with the folder from $ALFWORLD_DATA; the leaderboard has a column per task type
    out = tmp_path / "runs"
    res = subprocess.run(harness_cmd() + ["run", "-T", "name=alfworld", "-T", "split=valid_seen", "-T", "games=1",
                                          "-A", "name=expert", "-R", f"out_dir={out}", "-R", "name=r",
                                          "-R", "progress=false"],
                         env=cli_env(ALFWORLD_DATA=str(data)), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    board = subprocess.run(harness_cmd() + ["leaderboard", str(out / "r"), "--format", "json"], env=cli_env(),
                           cwd=REPO, capture_output=True, text=True, timeout=120)
    assert board.returncode == 0, board.stderr[-3000:]
    text = board.stdout
    assert all(c in text for c in SIX) and "1.0" in text


@pytest.mark.parametrize("case", ["missing", "empty", "broken"])
def test_missing_or_broken_data_fails_before_anything_is_written(tmp_path, case):
    data = tmp_path / "data"
    if case == "empty":
        (data / "json_2.1.1" / "valid_unseen" / "some-game" / "t").mkdir(parents=True)
    if case == "broken":
        trial = data / "json_2.1.1" / "valid_unseen" / "some-game" / "t"
        trial.mkdir(parents=True)
        (trial / "game.tw-pddl").write_text("<html>not found</html>")
    out = tmp_path / "runs"
    res = subprocess.run(harness_cmd() + ["run", "-T", "name=alfworld", "-T", f"data_dir={data}", "-A", "name=expert",
                                          "-R", f"out_dir={out}"], env=cli_env(), cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert str(data) in res.stderr and "alfworld-download" in res.stderr
    assert not out.exists()
