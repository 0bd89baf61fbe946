"""Validators for config fields: one place for the type and range checks every config runs at construction.

Each ``check_*`` takes the field's ``name`` and ``value``, returns the value as a plain Python object
(numpy scalars become ``int``/``float``/``bool``, so configs pickle, checkpoint and resume alike), and
raises :class:`ConfigError` naming the field and the value otherwise. ``ConfigError`` is both a
``TypeError`` and a ``ValueError``: callers may catch either.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

__all__ = [
    "ConfigError",
    "check_bool",
    "check_choice",
    "check_float",
    "check_float_list",
    "check_int",
    "check_json_safe",
    "check_optional_path",
    "check_seed",
    "plain",
    "validate_numbers",
]


class ConfigError(TypeError, ValueError):
    """A config field has the wrong type or is out of range (the message names the field and the value)."""


def plain(value: Any) -> Any:
    """``value`` with a numpy scalar (``np.float64``, ``np.int64``, ``np.bool_``, ...) turned into its Python type."""
    return value.item() if isinstance(value, np.generic) else value


def _describe(name: str, value: Any) -> str:
    return f"{name}={value!r} ({type(value).__name__})"


def check_int(name: str, value: Any, *, minimum: int | None = None, optional: bool = False) -> int | None:
    """An ``int`` (not a bool, not a string or float) ``>= minimum``; ``None`` allowed if ``optional``."""
    value = plain(value)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an int{' or None' if optional else ''}, got {_describe(name, value)}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {name}={value!r}")
    return value


def check_seed(name: str, value: Any) -> int:
    """A seed: a non-negative ``int``."""
    return check_int(name, value, minimum=0)


def check_float(name: str, value: Any, *, minimum: float | None = None, positive: bool = False,
                optional: bool = False) -> float | None:  # fmt: skip
    """A finite number (int or float, not a bool or string) as ``float``; ``> 0`` if ``positive``, ``>= minimum``
    if given; ``None`` allowed if ``optional``."""
    value = plain(value)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number{' or None' if optional else ''}, got {_describe(name, value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {name}={value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{name} must be > 0{' (or None)' if optional else ''}, got {name}={value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum:g}, got {name}={value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """A ``bool`` (``np.bool_`` accepted); ``0``/``1`` and strings are refused."""
    value = plain(value)
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {_describe(name, value)}")
    return value


def check_choice(name: str, value: Any, choices: Collection[str]) -> str:
    """One of ``choices`` (strings)."""
    value = plain(value)
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{name} must be one of {tuple(choices)}, got {name}={value!r}")
    return value


def check_float_list(name: str, values: Any, *, optional: bool = False) -> list[float] | None:
    """A non-empty list of finite numbers as floats (``None`` allowed if ``optional``); the bad entry is named."""
    values = plain(values)
    if values is None and optional:
        return None
    if isinstance(values, (str, bytes, dict)) or not isinstance(values, Iterable):
        raise ConfigError(f"{name} must be a list of numbers, got {_describe(name, values)}")
    out = [check_float(f"{name}[{i}]", v) for i, v in enumerate(values)]
    if not out:
        raise ConfigError(f"{name} must not be empty (use None for the default)")
    return out


def check_optional_path(name: str, value: Any) -> str | None:
    """``None`` or a folder path (``str`` / ``os.PathLike``) as ``str``."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or str(value) == "":
        raise ConfigError(f"{name} must be a path or None, got {_describe(name, value)}")
    return str(value)


def check_json_safe(name: str, value: Any) -> Any:
    """``value`` as JSON-ready data: dicts with string keys, lists (tuples become lists), str, finite numbers,
    bools, ``None``; numpy scalars and arrays are converted. Anything else (a set, an object, a tensor, a NaN —
    which equals nothing, so a rerun of the same config would never match it) is a :class:`ConfigError` naming
    where it is (e.g. ``extra['adapter']['steps']``)."""
    value = plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {name}={value!r} (NaN equals nothing: a rerun with the same "
                          "config would be refused as another run; use None or a string)")  # fmt: skip
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        return check_json_safe(name, value.tolist())
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{name} keys must be strings (JSON), got key {key!r} ({type(key).__name__})")
            out[key] = check_json_safe(f"{name}[{key!r}]", item)
        return out
    if isinstance(value, (list, tuple)):
        return [check_json_safe(f"{name}[{i}]", item) for i, item in enumerate(value)]
    raise ConfigError(f"{name} must be JSON data (dict, list, str, number, bool, None), "
                      f"got {value!r} ({type(value).__name__})")  # fmt: skip


def validate_numbers(config: Any, *, positive_ints: Collection[str] = (), nonnegative_ints: Collection[str] = (),
                     positive_floats: Collection[str] = (), nonnegative_floats: Collection[str] = (),
                     fractions: Collection[str] = (), seeds: Collection[str] = ()) -> None:  # fmt: skip
    """Check and convert the named fields of a dataclass ``config`` in place (for the experiments' small configs):
    ints ``>= 1`` / ``>= 0``, finite floats ``> 0`` / ``>= 0``, fractions in ``[0, 1]``, seeds ``>= 0``.
    Every other field with a number as its default must at least keep that type (an int or a finite float)."""
    named = set(positive_ints) | set(nonnegative_ints) | set(positive_floats) | set(nonnegative_floats) | set(
        fractions) | set(seeds)  # fmt: skip
    cls = type(config).__name__
    for name in positive_ints:
        setattr(config, name, check_int(f"{cls}.{name}", getattr(config, name), minimum=1))
    for name in [*nonnegative_ints, *seeds]:
        setattr(config, name, check_int(f"{cls}.{name}", getattr(config, name), minimum=0))
    for name in positive_floats:
        setattr(config, name, check_float(f"{cls}.{name}", getattr(config, name), positive=True))
    for name in nonnegative_floats:
        setattr(config, name, check_float(f"{cls}.{name}", getattr(config, name), minimum=0.0))
    for name in fractions:
        value = check_float(f"{cls}.{name}", getattr(config, name), minimum=0.0)
        if value > 1:
            raise ConfigError(f"{cls}.{name} must be in [0, 1], got {name}={value!r}")
        setattr(config, name, value)
    for f in dataclasses.fields(config):
        if f.name in named or f.default is dataclasses.MISSING:
            continue
        value = getattr(config, f.name)
        if isinstance(f.default, bool):
            setattr(config, f.name, check_bool(f"{cls}.{f.name}", value))
        elif isinstance(f.default, int):
            setattr(config, f.name, check_int(f"{cls}.{f.name}", value))
        elif isinstance(f.default, float):
            setattr(config, f.name, check_float(f"{cls}.{f.name}", value))
