"""One Registry class serves tasks, methods, models and tables (DESIGN principle 1)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.errors import unknown_name


@dataclass(frozen=True)
class Entry:
    """A registered object with its metadata (family, paper, metric, ...)."""

    name: str
    obj: Any
    meta: dict = field(default_factory=dict)

    def __getattr__(self, key):
        # Metadata reads like attributes: entry.family, entry.paper.
        meta = self.__dict__.get("meta", {})
        if isinstance(meta, dict) and key in meta:
            return meta[key]
        if not isinstance(meta, dict) and hasattr(meta, key):
            return getattr(meta, key)
        raise AttributeError(key)


class Registry:
    def __init__(self, kind: str, meta_type: type | None = None):
        self.kind = kind
        self.meta_type = meta_type  # a frozen dataclass that checks each entry's metadata
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, obj: Any = None, **meta) -> Callable | Any:
        """Register `obj` under `name`; without `obj`, return a decorator."""

        def add(target):
            if name in self._entries:
                raise ValueError(f"duplicate {self.kind} name {name!r}")
            info = self.meta_type(**meta) if self.meta_type else dict(meta)
            self._entries[name] = Entry(name, target, info)
            return target

        return add if obj is None else add(obj)

    def get(self, name: str) -> Entry:
        discover()
        try:
            return self._entries[name]
        except KeyError:
            raise unknown_name(self.kind, name, self._entries) from None

    def __contains__(self, name: str) -> bool:
        discover()
        return name in self._entries

    def names(self) -> list[str]:
        discover()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]


def _method_info():
    from bench.method import MethodInfo  # light: dataclasses and typing only

    return MethodInfo


TASKS = Registry("task")
METHODS = Registry("method", meta_type=_method_info())
MODELS = Registry("model")
TABLES = Registry("table")

# Packages whose every module registers entries on import (DESIGN principle 2).
PLUGIN_PACKAGES = ("tasks", "methods", "bench.modeling.zoo", "bench.tables")
_discovered = False


def discover() -> None:
    """Import every module of the plugin packages once, so their entries register."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for package_name in PLUGIN_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package_name}.{info.name}")
