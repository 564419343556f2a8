"""ALFWorld games on TextWorld's PDDL engine, asking it only for what a step needs.

The engine's own step (``textworld.envs.pddl.PddlEnv``) lists every applicable action and renders
each one's command through the grammar on every step, so that the next command can be looked up
in that list, whether or not anyone reads the list (3-5 steps/s on a kitchen-sized room). Here a
step renders only the commands it needs (those whose verb is the command's) and not rendered
before in this game: a command depends on the action and its arguments (the one state-dependent
template, ``go to``, reads only the fixed ``receptacleAtLocation`` facts), so the rendering of an
(action, arguments) pair is kept for the process (for 64 games). The state, its transitions,
feedback texts and the goal check are the engine's. ``tests/test_alfworld.py`` compares our
commands and observations with the engine's default loop.

Translating a problem to SAS (fast-downward's Python translator) is the other big cost (~1 s on
a kitchen); it is done once per game and process: a reset reloads the kept translation.
"""
from __future__ import annotations

import functools
import json
import threading

# TextWorld's parsers (TatSu, module-level singletons) and fast-downward's translator (it swaps
# sys.stdout) are not thread-safe: engines of one process take turns (the GIL allows little more).
_LOCK = threading.RLock()
_TRANSLATIONS: dict[tuple[str, str], tuple] = {}  # (domain, problem) -> (task, sas, sas_replan)
_LOGICS: dict[str, object] = {}  # grammar text -> parsed GameLogic (its types grow, never change)
_RENDERED: dict[tuple[str, str], dict] = {}  # (grammar, problem) -> {(action, arguments): command}


def _locked(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)
    return wrapper


def _translate(domain: str, problem: str) -> tuple:
    import fast_downward
    key = (domain, problem)
    with _LOCK:
        if key not in _TRANSLATIONS:
            if len(_TRANSLATIONS) > 64:  # bound the memory: a translation of a kitchen is ~1 MB
                _TRANSLATIONS.pop(next(iter(_TRANSLATIONS)))
            task, sas = fast_downward.pddl2sas(domain, problem)
            _, sas_replan = fast_downward.pddl2sas(domain, problem, optimize=True)
            _TRANSLATIONS[key] = (task, sas, sas_replan)
        return _TRANSLATIONS[key]


def _logic(domain: str, grammar: str):
    from textworld.envs.pddl import logic as pddl_logic
    with _LOCK:
        key = domain + "\0" + grammar
        if key not in _LOGICS:
            if len(_LOGICS) > 64:
                _LOGICS.pop(next(iter(_LOGICS)))
            _LOGICS[key] = pddl_logic.GameLogic(domain=domain, grammar=grammar)
        return _LOGICS[key]


def _make_state(lib, domain: str, problem: str, logic):
    """The engine's PddlState, built from a kept translation instead of translating again."""
    import fast_downward
    from textworld.envs.pddl import logic as pddl_logic

    task, sas, sas_replan = _translate(domain, problem)
    real = fast_downward.pddl2sas
    answers = iter([(task, sas), (task, sas_replan)])  # what its two pddl2sas calls return
    state = pddl_logic.PddlState.__new__(pddl_logic.PddlState)
    with _LOCK:
        fast_downward.pddl2sas = lambda *a, **k: next(answers)
        try:
            pddl_logic.PddlState.__init__(state, lib, problem, logic)
        finally:
            fast_downward.pddl2sas = real
    return state


class Engine:
    """One ALFWorld game at a time: load, reset, step, commands (only when asked), expert plan."""

    def __init__(self):
        import fast_downward
        self._lib = fast_downward.load_lib()  # a private copy of the planner library per engine
        self.game_file: str | None = None

    @_locked
    def load(self, game_file: str) -> None:
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler  # noqa: F401 (the names)
        from alfworld.agents.utils.misc import Demangler
        data = json.loads(open(game_file).read())
        self.game_file = game_file
        self.data = data
        self.walkthrough = data.get("walkthrough")
        self._logic = _logic(data["pddl_domain"], data["grammar"])
        state = _make_state(self._lib, data["pddl_domain"], data["pddl_problem"], self._logic)
        # entity names as the engine's AlfredDemangler gives them ("cabinet 3")
        from textworld.generator.game import EntityInfo
        infos = {v.name: EntityInfo(v.name, v.type) for fact in state.facts for v in fact.arguments}
        demangler = Demangler(game_infos=infos, shuffle=False)
        for info in infos.values():
            info.name = demangler.demangle_alfred_name(info.id)
            info.definite, info.indefinite = "the", "a"
        self._infos = infos
        self._names = {k: info.name for k, info in infos.items()}
        key = (data["grammar"], data["pddl_problem"])
        if key not in _RENDERED and len(_RENDERED) > 64:
            _RENDERED.pop(next(iter(_RENDERED)))
        self._rendered = _RENDERED.setdefault(key, {})  # shared by engines and episodes of this game
        self._state = state
        self._fresh = True

    @_locked
    def reset(self) -> str:
        """The intro text: the room and the task."""
        if not self._fresh:  # a used state: rebuild it from the kept translation
            self._state = _make_state(self._lib, self.data["pddl_domain"], self.data["pddl_problem"], self._logic)
        self._fresh = False
        self._actions = None
        self.won = bool(self._state.check_goal())
        return self._derive("#intro#", {}, {})

    def _derive(self, rule: str, variables: dict, mapping: dict) -> str:
        context = {"state": self._state, "facts": list(self._state.facts), "variables": variables,
                   "mapping": mapping, "entity_infos": self._infos}
        return self._logic.grammar.derive(rule, context)

    def _render(self, action) -> str:
        key = (action.name, tuple((ph.name, var.name) for ph, var in action.mapping.items()))
        text = self._rendered.get(key)
        if text is None:
            variables = {ph.name: self._infos[var.name] for ph, var in action.mapping.items()}
            action.command_template = self._derive(action.command_template, variables, action.mapping)
            text = self._rendered[key] = action.format_command(self._names)
        return text

    def _applicable(self) -> list:
        if self._actions is None:
            self._actions = self._state.all_applicable_actions()
        return self._actions

    @_locked
    def admissible_commands(self) -> list[str]:
        """What the engine lists as admissible commands (sorted, no duplicates)."""
        return sorted({self._render(a) for a in self._applicable()})

    def _find(self, command: str):
        """The engine's action for a command: the first applicable action rendering to it. Only
        actions whose template starts with the command's first word are rendered (a template
        starts with its verb)."""
        verb = command.split(" ", 1)[0]
        for action in self._applicable():
            first = action.command_template.split(" ", 1)[0]
            if (first == verb or first[:1] in "{[") and self._render(action) == command:
                return action
        return None

    @_locked
    def step(self, command: str) -> str:
        action = self._find(command.strip())
        if action is None:
            return "Nothing happens."  # the engine's answer to a command it does not know
        self._state.apply(action)
        variables = {ph.name: self._infos[var.name] for ph, var in action.mapping.items()}
        feedback = self._derive(action.feedback_rule, variables, action.mapping)
        self._actions = None
        self.won = bool(self._state.check_goal())
        return feedback

    @_locked
    def facts(self) -> list:
        """The state's facts with entity names ("cabinet 3"), as the engine's handcoded expert reads them."""
        from textworld.logic import Proposition, Variable
        return [Proposition(f.name, [Variable(self._names[v.name], v.type) for v in f.arguments])
                for f in self._state.facts]

    @_locked
    def plan(self) -> list[str]:
        """The planner's (fast-downward) commands from the current state to the goal; [] if none."""
        return list(self._state.replan(self._infos))

    def close(self) -> None:
        # The library copy is dropped, not unloaded: dlclose (fast_downward.close_lib) of one engine's
        # copy crashed the process while other engines ran in threads; TextWorld never unloads either.
        self._lib = None
        self._state = None
