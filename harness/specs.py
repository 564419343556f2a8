"""Specs: what a run, a task, an agent and a trainer are, validated before any work starts.

A spec file (YAML or JSON) has the sections ``task``, ``agent`` and ``run`` (and ``trainer``
for experiments). ``task``/``agent``/``trainer`` each name a registered plugin; the rest of
the section is validated by that plugin's own ``Config`` model (unknown keys rejected).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer

from . import registry
from .errors import HarnessError, SpecError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def added_later(default: Any, **kwargs) -> Any:
    """A plugin option added after runs were kept: left out of the resolved spec while it has this
    default (the behaviour from before it existed), so the specs and identity hashes of the runs and
    experiments written before it stay equal, and they still resume."""
    return Field(default, json_schema_extra={"added_later": True}, **kwargs)


class PluginSpec(Strict):
    name: str = Field(description="registered plugin name, entry point, or 'module:Class'")

    @model_serializer(mode="wrap")
    def _without_later_defaults(self, handler):
        d = handler(self)
        for name, f in type(self).model_fields.items():
            extra = f.json_schema_extra
            if isinstance(extra, dict) and extra.get("added_later") and name in d and getattr(self, name) == f.default:
                del d[name]
        return d


class TaskSpec(PluginSpec):
    """Base of every task's Config."""


class AgentSpec(PluginSpec):
    """Base of every agent's Config."""


class TrainerSpec(PluginSpec):
    """Base of every trainer's Config."""


class RunOptions(Strict):
    samples: int = Field(1, ge=1, description="episodes per subtask")
    num_envs: int = Field(2, ge=1, description="environments stepped in parallel (one live episode each)")
    max_steps: int | None = Field(None, ge=1, description="override the task's per-subtask step limit")
    seed: int = 0
    env_retries: int = Field(2, ge=0, description="re-runs of an episode whose environment crashed")
    out_dir: Path = Path("runs")
    name: str | None = Field(None, description="run directory name (default: task-agent-timestamp)")
    executor: Literal["local", "ray"] = "local"
    ray_shards: int = Field(4, ge=1, description="with executor=ray: Ray env workers the num_envs "
                            "environments are spread over (the agent stays in the driver)")
    progress: bool = True


class RunSpec(Strict):
    task: TaskSpec
    agent: AgentSpec
    run: RunOptions = RunOptions()

    def resolved_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.model_dump(mode="json"),
            "agent": self.agent.model_dump(mode="json"),
            "run": self.run.model_dump(mode="json"),
        }

    def identity_hash(self) -> str:
        """Hash of what determines the episodes' content (not where or how fast they run)."""
        return spec_hash(identity_of(self.resolved_dict()))


# Run options that say where or how fast episodes run, never what they contain.
VOLATILE_RUN_OPTIONS = ("out_dir", "name", "num_envs", "progress", "executor", "ray_shards")


def identity_of(resolved: dict[str, Any]) -> dict[str, Any]:
    """A resolved spec (run or experiment) without its volatile run options."""
    d = json.loads(json.dumps(resolved))
    for volatile in VOLATILE_RUN_OPTIONS:
        d.get("run", {}).pop(volatile, None)
    return d


def spec_hash(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- loading

def read_spec_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:  # file:line: the parser's own words, not its 8-line report
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{where}: not valid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{path}: the top level must be a mapping with sections such as task/agent/run")
    return data


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b=value`` -> (["a", "b"], value parsed as YAML, so 3 -> int, [a, b] -> list)."""
    if "=" not in item:
        raise SpecError(f"override {item!r}: expected key=value")
    key, _, raw = item.partition("=")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return [k for k in key.strip().split(".") if k], value


def apply_overrides(data: dict, section: str, overrides: list[str]) -> None:
    for item in overrides:
        keys, value = parse_override(item)
        node = data.setdefault(section, {})
        if not isinstance(node, dict):
            raise SpecError(f"override {item!r}: section {section!r} is not a mapping")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value


def _format_validation(exc: ValidationError, where: str, section: str) -> str:
    lines = [f"{where}: invalid {section} spec:"]
    for err in exc.errors():
        loc = ".".join(str(x) for x in (section, *err["loc"]))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `harness list --options` shows the allowed keys)"
        elif "expected" in err.get("ctx", {}):
            msg += f" (allowed: {err['ctx']['expected']})"
        lines.append(f"  {loc}: {msg} [got {err.get('input')!r}]" if err["type"] != "missing" else f"  {loc}: {msg}")
    return "\n".join(lines)


def resolve_plugin(kind: str, section: dict | None, where: str) -> PluginSpec:
    """Validate one plugin section with the Config model of the plugin it names."""
    if not isinstance(section, dict) or "name" not in section:
        raise SpecError(f"{where}: section '{kind}' needs a 'name' (one of: {', '.join(registry.available(kind))})")
    try:
        cls = registry.lookup(kind, str(section["name"]))
    except HarnessError as exc:
        raise SpecError(f"{where}: {kind}.name: {exc}") from exc
    config_cls = getattr(cls, "Config", None)
    if config_cls is None:
        raise SpecError(f"{where}: {kind} {section['name']!r} has no Config model")
    try:
        return config_cls.model_validate(_split_list_strings(config_cls, section))
    except ValidationError as exc:
        raise SpecError(_format_validation(exc, where, kind)) from None


def _split_list_strings(config_cls: type[BaseModel], section: dict) -> dict:
    """``-T task_types=boil,melt`` (or ``=boil``) arrives as a string: a list field takes it as
    its comma-separated items, as the YAML form ``[boil, melt]`` would give them."""
    out = dict(section)
    for name, field in config_cls.model_fields.items():
        value = out.get(name)
        if isinstance(value, str) and _is_list_field(field.annotation):
            out[name] = [item.strip() for item in value.split(",") if item.strip()]
    return out


def _is_list_field(annotation) -> bool:
    origin = get_origin(annotation)
    if origin is list:
        return True
    return origin in (Union, UnionType) and any(get_origin(a) is list for a in get_args(annotation))


def load_run_spec(path: str | Path | None = None, *, task: list[str] = (), agent: list[str] = (),
                  run: list[str] = (), defaults: dict | None = None) -> RunSpec:
    data: dict[str, Any] = json.loads(json.dumps(defaults or {}))
    where = "<defaults>"
    if path is not None:
        file_data = read_spec_file(path)
        where = str(path)
        unknown = set(file_data) - {"task", "agent", "run"}
        if unknown:
            raise SpecError(f"{where}: unknown section(s) {sorted(unknown)}; a run spec has task, agent, run")
        for key, value in file_data.items():
            # a file's section replaces the default one when it names another plugin
            default = data.get(key)
            same_plugin = isinstance(default, dict) and value.get("name", default.get("name")) == default.get("name")
            if isinstance(value, dict) and same_plugin:
                data[key] = {**data[key], **value}
            else:
                data[key] = value
    for section, items in (("task", task), ("agent", agent)):
        named = [parse_override(i)[1] for i in items if parse_override(i)[0] == ["name"]]
        if named and isinstance(data.get(section), dict) and data[section].get("name") != named[-1]:
            data[section] = {}  # another plugin: the default section's options are not its options
        apply_overrides(data, section, list(items))
    apply_overrides(data, "run", list(run))
    if task or agent or run:
        where += " + command-line overrides"
    return run_spec_from_dict(data, where)


def run_spec_from_dict(data: dict[str, Any], where: str) -> RunSpec:
    """A RunSpec from its sections as plain data (a spec file after overrides, a stored spec.yaml,
    a spec sent to a worker): each plugin section is validated by that plugin's Config."""
    task_spec = resolve_plugin("task", data.get("task"), where)
    agent_spec = resolve_plugin("agent", data.get("agent"), where)
    try:
        run_opts = RunOptions.model_validate(data.get("run") or {})
    except ValidationError as exc:
        raise SpecError(_format_validation(exc, where, "run")) from None
    return RunSpec(task=task_spec, agent=agent_spec, run=run_opts)


def option_rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, description) of every option of a Config, nested models as ``train.epochs``
    (a plugin's ``name`` is the plugin itself, not an option)."""
    rows = []
    for name, field in model.model_fields.items():
        if name == "name" and issubclass(model, PluginSpec):
            continue
        key = prefix + name
        nested = field.annotation if isinstance(field.annotation, type) else None
        if nested is not None and issubclass(nested, BaseModel):
            rows += option_rows(nested, key + ".")
            continue
        if field.is_required():
            default = "<required>"
        else:
            value = field.default_factory() if field.default_factory is not None else field.default
            default = str(value) if isinstance(value, Path) else repr(value)
        rows.append((key, default, field.description or ""))
    return rows
