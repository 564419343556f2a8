"""alfworld-mini: a small game set of our own, generated from what the `alfworld` package ships.

The package has the PDDL domain (`alfred.pddl`), the text grammar (`alfred.twl2`), the goal
library and the room layouts of ALFRED's scenes (which receptacles a room has, with their ids,
and which object types), but no games. This module turns layouts into games in the official
on-disk format (one folder per game with `game.tw-pddl` and `traj_data.json`), so they load through
the engine's own loader like the official ones. Object placement, task parameters and the task
sentence are drawn from a seeded generator: the set depends only on this code and the package.

The walkthrough of each game is the engine's handcoded expert playing it (what `alfworld-generate`
stores in official games); a game whose expert does not win within `MAX_WALKTHROUGH` steps is
redrawn. Rooms of the `test` part are not used for `train` (like ALFWorld's unseen split).

These are not ALFWorld's games: ALFRED's object placements come from its simulator, ours are drawn.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

from harness.cache import build_once, cache_dir
from harness.protocol import digest, package_version

GENERATOR_VERSION = 1  # bump when the games change: the cache folder is named after it
MAX_WALKTHROUGH = 30  # steps; the task's limit is 40, so a noisy expert has room to recover

TASK_TYPES = ("pick_and_place_simple", "pick_clean_then_place_in_recep", "pick_heat_then_place_in_recep",
              "pick_cool_then_place_in_recep", "look_at_obj_in_light", "pick_two_obj_and_place")

# floor plans per part: kitchens (1-30), living rooms (201-), bedrooms (301-), bathrooms (401-)
ROOMS = {"train": (7, 10, 205, 302, 402), "test": (3, 305, 403)}
GAMES_PER_ROOM_AND_TYPE = {"train": 1, "test": 1}

# which rooms can host which task type (ALFRED's constants.GOALS_VALID, by floor plan number)
_KINDS = {"pick_and_place_simple": "KLBR", "pick_two_obj_and_place": "KLBR", "look_at_obj_in_light": "LR",
          "pick_clean_then_place_in_recep": "KB", "pick_heat_then_place_in_recep": "K",
          "pick_cool_then_place_in_recep": "K"}

OBJECTS_PER_GAME = 14  # object types drawn per game (plus the targets), 1-3 instances each
_LAMPS = ("DeskLamp", "FloorLamp")
_LAMP_PLACES = ("Desk", "SideTable", "Dresser", "Shelf", "CoffeeTable", "DiningTable", "TVStand", "ArmChair")
# what a heated/cooled/cleaned object is put back on is never the appliance that changed it
_NOT_PARENT = {"pick_clean_then_place_in_recep": {"SinkBasin", "BathtubBasin"},
               "pick_heat_then_place_in_recep": {"Microwave"}, "pick_cool_then_place_in_recep": {"Fridge"}}


def room_kind(floor_plan: int) -> str:
    return "K" if floor_plan < 200 else "L" if floor_plan < 300 else "R" if floor_plan < 400 else "B"


def _pddl_name(alfred_id: str) -> str:
    """ALFRED's object id in the PDDL form the engine's demangler reads back ('Apple|+01.00|...')."""
    for a, b in (("|", "_bar_"), ("-", "_minus_"), ("+", "_plus_"), (".", "_dot_"), (",", "_comma_")):
        alfred_id = alfred_id.replace(a, b)
    return alfred_id


def _coord(rng: random.Random) -> str:
    x = rng.uniform(-3, 3)
    return f"{'+' if x >= 0 else '-'}{abs(x):05.2f}"


class _Room:
    def __init__(self, floor_plan: int):
        import alfworld.gen.constants as C
        layouts = Path(C.__file__).parent / "layouts"
        self.floor_plan = floor_plan
        self.types = json.loads((layouts / f"FloorPlan{floor_plan}-objects.json").read_text())
        openable = json.loads((layouts / f"FloorPlan{floor_plan}-openable.json").read_text())
        static = set(C.VAL_RECEPTACLE_OBJECTS) - set(C.MOVABLE_RECEPTACLES)
        # receptacle id -> type: the layout's ids, then one of each other receptacle type the room has
        self.receptacles = {rid: rid.split("|")[-1] if rid.count("|") == 4 else rid.split("|")[0]
                            for rid in sorted(openable)}
        have = set(self.receptacles.values())
        for i, t in enumerate(sorted(set(self.types) & static - have)):
            self.receptacles[f"{t}|+0{i % 10}.00|+00.00|-00.{i:02d}"] = t
        self.contains = {t: set(C.VAL_RECEPTACLE_OBJECTS[t]) for t in set(self.receptacles.values())}
        placeable = set().union(*self.contains.values())
        # pickable object types: the room's types that some receptacle here can hold
        self.objects = sorted(t for t in self.types if t in placeable and t in C.OBJECTS_SET and t not in static)
        self.lamps = [t for t in _LAMPS if t in self.types]
        self.actions = C.VAL_ACTION_OBJECTS
        self.movable = set(C.MOVABLE_RECEPTACLES)
        self.openable = set(C.OPENABLE_CLASS_LIST)
        self.rtypes = sorted(static)
        self.otypes = sorted(C.OBJECTS_SET - static)

    def parents(self, obj: str, exclude=()) -> list[str]:
        return sorted({t for t in self.receptacles.values() if obj in self.contains[t] and t not in exclude})


def _task_params(room: _Room, task_type: str, rng: random.Random) -> dict | None:
    """Object, receptacle and lamp of one task, or None when this room cannot host it."""
    need = {"pick_clean_then_place_in_recep": ("Cleanable", "SinkBasin"),
            "pick_heat_then_place_in_recep": ("Heatable", "Microwave"),
            "pick_cool_then_place_in_recep": ("Coolable", "Fridge")}.get(task_type)
    candidates = [o for o in room.objects if not o.endswith("Sliced")]
    if need is not None:
        prop, appliance = need
        if appliance not in room.receptacles.values():
            return None
        candidates = [o for o in candidates if o in room.actions[prop]]
    toggle = ""
    if task_type == "look_at_obj_in_light":
        if not room.lamps:
            return None
        toggle = rng.choice(room.lamps)
    pairs = [(o, p) for o in candidates for p in room.parents(o, _NOT_PARENT.get(task_type, ()))]
    if task_type == "look_at_obj_in_light":
        pairs = [(o, "") for o in candidates if o not in room.movable]
    if not pairs:
        return None
    obj, parent = rng.choice(pairs)
    return {"object_target": obj, "parent_target": parent, "toggle_target": toggle, "mrecep_target": "",
            "object_sliced": False}


def _problem(room: _Room, task_type: str, params: dict, rng: random.Random, goal_pddl: str) -> str:
    """The PDDL problem: the room's receptacles, drawn objects placed in receptacles that can hold them."""
    obj, parent, toggle = params["object_target"], params["parent_target"], params["toggle_target"]
    others = [o for o in room.objects if o not in (obj, parent)]
    kinds = [obj] + rng.sample(others, min(OBJECTS_PER_GAME, len(others)))
    placed: dict[str, str] = {}  # object id -> receptacle id
    recep_ids = sorted(room.receptacles)
    for kind in kinds:
        n = rng.randint(2, 3) if kind == obj and task_type == "pick_two_obj_and_place" else rng.randint(1, 2)
        # never already where it must go: the task would be solved by doing nothing
        places = [r for r in recep_ids if kind in room.contains[room.receptacles[r]]
                  and not (kind == obj and room.receptacles[r] == parent)]
        for _ in range(n if places else 0):
            placed[f"{kind}|{_coord(rng)}|{_coord(rng)}|{_coord(rng)}"] = rng.choice(places)
    if toggle:
        spots = [r for r in recep_ids if room.receptacles[r] in _LAMP_PLACES] or recep_ids
        placed[f"{toggle}|{_coord(rng)}|{_coord(rng)}|{_coord(rng)}"] = rng.choice(spots)

    rname = {rid: _pddl_name(rid) for rid in recep_ids}
    oname = {oid: _pddl_name(oid) for oid in sorted(placed)}
    loc = {rid: f"loc_bar_{i}_bar_0_bar_0_bar_0" for i, rid in enumerate(recep_ids)}
    start = f"loc_bar_{len(recep_ids)}_bar_0_bar_0_bar_0"  # the middle of the room: no receptacle there
    kind_of = {oid: oid.split("|")[0] for oid in placed}
    used_r = sorted(set(room.receptacles.values()))
    used_o = sorted(set(kind_of.values()) | {obj})

    objects = ["agent1 - agent"]
    objects += [f"{t}Type - otype" for t in room.otypes] + [f"{t}Type - rtype" for t in room.rtypes]
    objects += [f"{oname[o]} - object" for o in oname] + [f"{rname[r]} - receptacle" for r in rname]
    objects += [f"{loc[r]} - location" for r in recep_ids] + [f"{start} - location"]
    init = [f"(atLocation agent1 {start})"]
    for r in recep_ids:
        t = room.receptacles[r]
        init += [f"(receptacleType {rname[r]} {t}Type)", f"(receptacleAtLocation {rname[r]} {loc[r]})"]
        if t in room.openable:
            init.append(f"(openable {rname[r]})")
    for o, r in placed.items():
        k = kind_of[o]
        init += [f"(objectType {oname[o]} {k}Type)", f"(inReceptacle {oname[o]} {rname[r]})",
                 f"(objectAtLocation {oname[o]} {loc[r]})"]
        init.append(f"(toggleable {oname[o]})" if k in _LAMPS else f"(pickupable {oname[o]})")
        if k in room.movable:
            init.append(f"(isReceptacleObject {oname[o]})")
        for prop, pred in (("Cleanable", "cleanable"), ("Heatable", "heatable"), ("Coolable", "coolable"),
                           ("Sliceable", "sliceable")):
            if k in room.actions[prop]:
                init.append(f"({pred} {oname[o]})")
    for t in used_r:
        init += [f"(canContain {t}Type {k}Type)" for k in used_o if k in room.contains[t]]
    body = "\n        ".join
    return (f"(define (problem mini_{room.floor_plan}_{task_type})\n    (:domain alfred)\n"
            f"    (:objects\n        {body(objects)}\n    )\n"
            f"    (:init\n        {body(init)}\n    )\n{goal_pddl}")


def _goal(task_type: str, params: dict, rng: random.Random) -> tuple[str, str]:
    """The goal in PDDL and the task sentence, from the package's goal library and its templates."""
    import alfworld.gen.goal_library as glib
    entry = glib.gdict[task_type]
    goal = entry["pddl"].format(obj=params["object_target"], recep=params["parent_target"],
                                toggle=params["toggle_target"], mrecep="").replace(" # ", " - ")
    sentence = rng.choice(entry["templates"]).format(
        obj=params["object_target"].lower(), recep=params["parent_target"].lower(),
        toggle=params["toggle_target"].lower(), mrecep="")
    return goal, sentence


def _handcoded(engine, seed: int) -> list[str] | None:
    """The engine's handcoded expert playing the loaded game, fed as its AlfredExpert wrapper feeds it
    (first "look", then one action per state), or None if it does not win within MAX_WALKTHROUGH."""
    from alfworld.agents.expert import HandCodedTWAgent

    expert = HandCodedTWAgent(max_steps=200)
    expert.reset(engine.game_file)
    saved = random.getstate()  # the expert breaks ties with the global generator: seed it, then restore
    random.seed(seed)
    try:
        expert.observe(engine.reset())
        path, action = [], "look"
        while True:
            feedback = engine.step(action)
            path.append(action)
            if engine.won:
                return path
            if len(path) >= MAX_WALKTHROUGH:
                return None
            state = {"feedback": feedback, "admissible_commands": engine.admissible_commands(),
                     "facts": engine.facts(), "won": engine.won}
            action = expert.act(state, 0, False, action)
            if action not in state["admissible_commands"]:
                action = "look"  # what the wrapper plans when the expert's action is not admissible
    except Exception:  # the expert gives up (timeout, no idea left): the planner takes over
        return None
    finally:
        random.setstate(saved)


def _walkthrough(game_file: Path, seed: int) -> tuple[list[str], str] | None:
    """The engine's expert path: its handcoded expert's (as alfworld-generate stores), else its
    planner's (fast-downward), if that wins within MAX_WALKTHROUGH steps."""
    from .engine import Engine
    engine = Engine()
    try:
        engine.load(str(game_file))
        path = _handcoded(engine, seed)
        if path is not None:
            return path, "handcoded"
        engine.reset()
        path = engine.plan()
        engine.reset()
        for action in path:
            engine.step(action)
        return (path, "planner") if engine.won and len(path) <= MAX_WALKTHROUGH else None
    finally:
        engine.close()


def _write_game(folder: Path, room: _Room, task_type: str, params: dict, seed: int, rng: random.Random) -> bool:
    from alfworld.info import ALFRED_PDDL_PATH, ALFRED_TWL2_PATH
    goal, sentence = _goal(task_type, params, rng)
    traj = {"task_type": task_type, "pddl_params": params, "scene": {"floor_plan": f"FloorPlan{room.floor_plan}"},
            "task_id": f"mini_{seed}", "turk_annotations": {"anns": [{"task_desc": sentence}]},
            "harness": {"generator": GENERATOR_VERSION, "note": "alfworld-mini: generated by harness, not ALFWorld"}}
    game = {"pddl_domain": Path(ALFRED_PDDL_PATH).read_text(),
            "grammar": Path(ALFRED_TWL2_PATH).read_text().replace("UNKNOWN GOAL", sentence),
            "pddl_problem": _problem(room, task_type, params, rng, goal), "solvable": False, "walkthrough": None}
    folder.mkdir(parents=True)
    (folder / "traj_data.json").write_text(json.dumps(traj, indent=1))
    (folder / "game.tw-pddl").write_text(json.dumps(game))
    found = _walkthrough(folder / "game.tw-pddl", seed)
    if found is None:
        shutil.rmtree(folder)
        return False
    game.update(solvable=True, walkthrough=found[0])
    traj["harness"]["expert"] = found[1]
    (folder / "traj_data.json").write_text(json.dumps(traj, indent=1))
    (folder / "game.tw-pddl").write_text(json.dumps(game))
    return True


def generate(root: Path) -> None:
    """Writes the whole set under ``root/<part>/<task folder>/trial_<n>/`` (ALFWorld's layout)."""
    for part, floor_plans in ROOMS.items():
        for fp in floor_plans:
            room = _Room(fp)
            for task_type in TASK_TYPES:
                if room_kind(fp) not in _KINDS[task_type]:
                    continue
                made = 0
                for attempt in range(40):
                    if made == GAMES_PER_ROOM_AND_TYPE[part]:
                        break
                    seed = int(digest([fp, task_type, attempt]), 16) % 2**31
                    rng = random.Random(seed)
                    params = _task_params(room, task_type, rng)
                    if params is None:
                        break
                    name = "-".join([task_type, params["object_target"], "None", params["parent_target"] or
                                     params["toggle_target"], str(fp)])
                    made += _write_game(root / part / name / f"trial_{seed:010d}", room, task_type, params, seed, rng)


def mini_root() -> Path:
    """The generated set in the cache (generated on first use, by one process at a time)."""
    def generate_whole(out: Path) -> None:
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        generate(tmp)
        (tmp / "done").write_text("")
        os.replace(tmp, out)

    out = cache_dir() / f"alfworld-mini-v{GENERATOR_VERSION}-alfworld{package_version('alfworld')}"
    return build_once(out, "done", generate_whole, ".alfworld-mini.lock")
