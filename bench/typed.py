"""Strict construction of frozen option dataclasses from untrusted mappings (YAML, flags).

Unknown keys and wrong types are errors that name the closest valid key, raised before
any cell runs (DESIGN principle 3).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing

from bench.errors import UsageError, abridge, closest


def option(default, help: str = "", *, at_least=None, above=None, at_most=None, below=None):
    """A dataclass field with its one line of help and its allowed range, checked by `build`.

    Ranges live on the field, not in each method's code, so every option is checked before
    any cell runs and `bench list` can show them.
    """
    bounds = {"at_least": at_least, "above": above, "at_most": at_most, "below": below}
    metadata = {"help": help, **{k: v for k, v in bounds.items() if v is not None}}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


_BOUNDS = {
    "at_least": (lambda v, b: v >= b, "at least"),
    "above": (lambda v, b: v > b, "greater than"),
    "at_most": (lambda v, b: v <= b, "at most"),
    "below": (lambda v, b: v < b, "less than"),
}


def field_metadata(cls, name: str) -> dict:
    """A field's help and range, inherited: a subclass that only changes a default (a method's
    own learning rate) keeps the range its base class declared."""
    merged = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            for f in dataclasses.fields(klass):
                if f.name == name:
                    merged.update(f.metadata)
    return merged


def describe_range(metadata: dict) -> str:
    """A declared range as a user reads it: '>= 1', '> 0', '[0, 1)'; '' when there is none."""
    low = next(((k, metadata[k]) for k in ("at_least", "above") if k in metadata), None)
    high = next(((k, metadata[k]) for k in ("at_most", "below") if k in metadata), None)
    if low and high:
        return f"{'[' if low[0] == 'at_least' else '('}{low[1]}, {high[1]}{']' if high[0] == 'at_most' else ')'}"
    symbols = {"at_least": ">=", "above": ">", "at_most": "<=", "below": "<"}
    bound = low or high
    return f"{symbols[bound[0]]} {bound[1]}" if bound else ""


def _check_range(cls, name: str, value, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        # nan passes every comparison and inf passes most: reject both for every float option.
        raise UsageError(f"{where}: option {name!r} must be a finite number, got {value!r}")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    metadata = field_metadata(cls, name)
    for bound, (ok, words) in _BOUNDS.items():
        limit = metadata.get(bound)
        if limit is not None and not ok(value, limit):
            interval = describe_range(metadata)
            within = f" (range {interval})" if interval.startswith(("[", "(")) else ""
            raise UsageError(f"{where}: option {name!r} must be {words} {limit}, got {value!r}{within}")


def _matches(value, hint) -> tuple[bool, object]:
    """Whether `value` fits the type hint, and the value converted (int -> float, list -> tuple)."""
    origin = typing.get_origin(hint)
    if hint is typing.Any:
        return True, value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            ok, converted = _matches(value, option)
            if ok:
                return True, converted
        return False, value
    if origin is typing.Literal:
        return value in typing.get_args(hint), value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]  # a scalar where a list is expected means a list of one
        item_hint = typing.get_args(hint)[0]
        converted = []
        for item in value:
            ok, item = _matches(item, item_hint)
            if not ok:
                return False, value
            converted.append(item)
        return True, tuple(converted)
    if hint is type(None):
        return value is None, value
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool), float(value) if isinstance(value, (int, float)) else value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint in (str, bool, dict):
        return isinstance(value, hint), value
    return isinstance(value, hint), value


def build(cls, mapping: dict | None, where: str):
    """An instance of dataclass `cls` from `mapping`, rejecting unknown keys and bad types."""
    if mapping is not None and not isinstance(mapping, dict):
        raise UsageError(f"{where}: expected a mapping of options, got {abridge(repr(mapping))}")
    mapping = dict(mapping or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in mapping.items():
        key = str(key).replace("-", "_")
        if key not in fields:
            hint = closest(key, fields)
            suggestion = f" Did you mean {hint!r}?" if hint else ""
            raise UsageError(f"{where}: unknown option {abridge(repr(key), 60)}.{suggestion} "
                             f"Valid options: {', '.join(fields)}")
        ok, converted = _matches(value, hints[key])
        if not ok:
            raise UsageError(f"{where}: option {key!r} must be {_describe(hints[key])}, got {abridge(repr(value))}"
                             f"{_yaml_bool_hint(value, hints[key])}{_closest_word(value, hints[key])}")
        for item in converted if isinstance(converted, tuple) else (converted,):
            _check_range(cls, key, item, where)
        values[key] = converted
    missing = [name for name, f in fields.items() if name not in values and _required(f)]
    if missing:
        raise UsageError(f"{where}: {', '.join(map(repr, missing))} must be given")
    return cls(**values)


def _required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _describe(hint) -> str:
    """A type as a user reads it: "one of 'cpu', 'cuda'", "a list of one of 'fp32', 'bf16'"."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return f"a list whose items are {_describe(args[0])}"
    return str(hint).replace("typing.", "")


def _closest_word(value, hint) -> str:
    """' Did you mean ...?' for a misspelt word of a Literal option (each item of a list)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    words = _words(hint)
    for item in items:
        if isinstance(item, str) and words and item not in words:
            match = closest(item, words)
            if match:
                return f". Did you mean {match!r}?"
    return ""


# Words YAML 1.1 reads as booleans when unquoted: `latency: off` arrives as False.
_YAML_BOOLS = {False: ("off", "no", "false"), True: ("on", "yes", "true")}


def _words(hint) -> list[str]:
    """The strings a Literal hint (or a union holding one) allows."""
    if typing.get_origin(hint) is typing.Literal:
        return [a for a in typing.get_args(hint) if isinstance(a, str)]
    return [w for a in typing.get_args(hint) for w in _words(a)]


def _yaml_bool_hint(value, hint) -> str:
    """Why a boolean reached an option that takes words, and how to write the word."""
    if not isinstance(value, bool):
        return ""
    words = [w for w in _words(hint) if w.lower() in _YAML_BOOLS[value]]
    if not words and not _matches("text", hint)[0]:
        return ""
    word = words[0] if words else _YAML_BOOLS[value][0]
    return f" (YAML reads an unquoted {word} as {str(value).lower()}: write '{word}' in quotes)"


def parse_scalar(text: str):
    """A command-line value as YAML would read it: 3 -> int, 3e-4 -> float, true -> bool."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 3e-4 as a string
        except ValueError:
            return value
    return value
