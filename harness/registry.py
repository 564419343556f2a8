"""Plugin registry: decorators, entry points (loaded lazily) and ``module:attr`` references.

Built-in plugins are found through the same entry-point groups as third-party ones, so the
core never imports a plugin package by name.
"""
from __future__ import annotations

import difflib
import importlib
import warnings
from importlib.metadata import entry_points
from typing import Callable, TypeVar

from .errors import RegistryError

KINDS = ("task", "agent", "trainer")
GROUPS = {kind: f"harness.{kind}s" for kind in KINDS}
_registry: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}
_loaded_groups: set[str] = set()

T = TypeVar("T", bound=type)


def _register(kind: str, name: str) -> Callable[[T], T]:
    def deco(cls: T) -> T:
        existing = _registry[kind].get(name)
        if existing is not None and existing is not cls and _qualname(existing) != _qualname(cls):
            raise RegistryError(f"{kind} {name!r} is registered twice: {_qualname(existing)} and {_qualname(cls)}")
        cls.registered_name = name
        _registry[kind][name] = cls
        return cls

    return deco


def register_task(name: str):
    return _register("task", name)


def register_agent(name: str):
    return _register("agent", name)


def register_trainer(name: str):
    return _register("trainer", name)


def _qualname(obj) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def _entry_points(kind: str):
    return entry_points(group=GROUPS[kind])


def _load_entry_point(kind: str, ep) -> None:
    try:
        obj = ep.load()
    except Exception as exc:  # a broken third-party plugin must not hide the others
        raise RegistryError(f"{kind} plugin {ep.name!r} ({ep.value}) failed to import: {exc}") from exc
    # An entry point may name a module (whose decorators register) or the class itself.
    if isinstance(obj, type) and ep.name not in _registry[kind]:
        _registry[kind][ep.name] = obj
        obj.registered_name = ep.name


def _load_all(kind: str) -> None:
    if kind in _loaded_groups:
        return
    for ep in _entry_points(kind):
        if ep.name not in _registry[kind]:
            try:
                _load_entry_point(kind, ep)
            except RegistryError as exc:  # listing must survive one broken plugin
                warnings.warn(str(exc), stacklevel=2)
    _loaded_groups.add(kind)


def lookup(kind: str, name: str) -> type:
    """Find a plugin class by registered name, entry point, or ``module:attr``."""
    if kind not in KINDS:
        raise ValueError(kind)
    if name in _registry[kind]:
        return _registry[kind][name]
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise RegistryError(f"cannot load {kind} {name!r}: {exc}") from exc
        if not isinstance(obj, type):
            raise RegistryError(f"{kind} {name!r} is not a class")
        _registry[kind][name] = obj
        return obj
    for ep in _entry_points(kind):  # lazy: import only the one plugin asked for
        if ep.name == name:
            _load_entry_point(kind, ep)
            if name in _registry[kind]:
                return _registry[kind][name]
    known = available(kind)
    hint = difflib.get_close_matches(name, known, n=1)
    msg = f"unknown {kind} {name!r}"
    if hint:
        msg += f"; did you mean {hint[0]!r}?"
    msg += f" Known {kind}s: {', '.join(known) or 'none'}. A class outside any package can be named as 'module:Class'."
    raise RegistryError(msg)


def available(kind: str) -> list[str]:
    _load_all(kind)
    return sorted(_registry[kind])


def create(kind: str, spec):
    """Build the plugin a validated spec names: ``lookup(kind, spec.name)(spec)``."""
    return lookup(kind, spec.name)(spec)
