"""Simulator profiles: how each model behaves (latency, length, caching, errors), read from TOML.

A profile has a ``[defaults]`` table and ``[[model]]`` entries. Each entry has a ``match`` glob
(case-insensitive ``fnmatch``; the first matching entry wins) and any keys of ``[defaults]``, which it
overrides (sub-tables such as ``cache`` are merged key by key). ``extends = "default"`` (or a path)
layers a profile over another: its entries come first and its ``[defaults]`` are merged over the base's.
``time_scale`` multiplies every sampled duration (0.05 makes a 400 ms TTFT 20 ms), which keeps tests fast.

Distributions are lognormal, written ``{median = .., sigma = .., min = .., max = ..}`` (sigma 0 is a
constant; a bare number is a constant too).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import random
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Self


class ProfileError(ValueError):
    """A profile file is malformed; the message names the offending key."""


@dataclasses.dataclass(frozen=True, slots=True)
class LogNormal:
    median: float
    sigma: float = 0.0
    min: float = 0.0
    max: float = math.inf

    def sample(self, rng: random.Random) -> float:
        value = self.median if self.sigma <= 0 else rng.lognormvariate(math.log(self.median), self.sigma)
        return min(max(value, self.min), self.max)


@dataclasses.dataclass(frozen=True, slots=True)
class CacheBehaviour:
    min_tokens: int = 1024
    hit_rate: float = 0.0
    read_fraction: float = 0.8
    write_rate: float = 0.0
    write_fraction: float = 0.8
    granularity: int = 1
    requires_marker: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorRates:
    """Probability per attempt of each spontaneous failure."""

    rate_limit: float = 0.0
    server_error: float = 0.0
    timeout: float = 0.0
    content_filter: float = 0.0
    midstream: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class Stalls:
    rate: float = 0.0
    ms: LogNormal = LogNormal(800.0, 0.5)


@dataclasses.dataclass(frozen=True, slots=True)
class ModelProfile:
    match: str = "*"
    chars_per_token: float = 4.0
    ttft_ms: LogNormal = LogNormal(400.0, 0.35, 20.0, 20000.0)
    tokens_per_s: float = 60.0
    itl_jitter: float = 0.25
    tokens_per_chunk: int = 1
    output_tokens: LogNormal = LogNormal(120.0, 0.6, 1.0, 2048.0)
    reasoning_fraction: float = 0.0
    tool_call_rate: float = 0.5
    hang_ms: float = 10000.0
    embedding_dimensions: int = 1536
    cache: CacheBehaviour = CacheBehaviour()
    errors: ErrorRates = ErrorRates()
    stall: Stalls = Stalls()


@dataclasses.dataclass(frozen=True, slots=True)
class Profile:
    """Per-model behaviour. `for_model` picks the first entry whose glob matches."""

    models: tuple[ModelProfile, ...] = ()
    defaults: ModelProfile = ModelProfile()
    time_scale: float = 1.0

    def for_model(self, model: str) -> ModelProfile:
        name = model.lower()
        for entry in self.models:
            if fnmatch.fnmatchcase(name, entry.match.lower()):
                return entry
        return self.defaults

    def scaled(self, time_scale: float) -> Profile:
        """The same profile with every sampled duration multiplied by `time_scale`."""
        return dataclasses.replace(self, time_scale=time_scale)

    @classmethod
    def default(cls) -> Profile:
        return cls.from_toml(_packaged_text("default"))

    @classmethod
    def named(cls, name: str) -> Profile:
        """A profile shipped with tokentrail: ``default`` or ``flaky``."""
        return cls.from_toml(_packaged_text(name))

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        return cls.from_toml(Path(path).read_text(encoding="utf-8"), base_dir=Path(path).parent)

    @classmethod
    def from_toml(cls, text: str, base_dir: Path | None = None) -> Profile:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"profile is not valid TOML: {exc}") from exc
        return cls.from_mapping(_resolve_extends(data, base_dir or Path.cwd()))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Self:
        _check_keys(data, {"defaults", "model", "time_scale", "extends"}, "profile")
        defaults_raw = _table(data.get("defaults", {}), "defaults")
        entries = data.get("model", [])
        if not isinstance(entries, list):
            raise ProfileError("'model' must be an array of tables ([[model]])")
        models = tuple(
            _model_profile(_merge(defaults_raw, _table(raw, f"model[{i}]")), f"model[{i}]")
            for i, raw in enumerate(entries)
        )
        for i, entry in enumerate(models):
            if entry.match == "*" and "match" not in entries[i]:
                raise ProfileError(f"model[{i}] needs a 'match' glob")
        scale = _number(data.get("time_scale", 1.0), "time_scale")
        return cls(models=models, defaults=_model_profile(defaults_raw, "defaults"), time_scale=scale)


def _packaged_text(name: str) -> str:
    resource = resources.files("tokentrail.simulator").joinpath(f"{name}_profile.toml")
    if not resource.is_file():
        raise ProfileError(f"no packaged profile named {name!r} (try 'default' or 'flaky')")
    return resource.read_text("utf-8")


def _resolve_extends(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    parent_ref = data.get("extends")
    if parent_ref is None:
        return data
    if not isinstance(parent_ref, str):
        raise ProfileError("'extends' must be 'default' or a path")
    if parent_ref == "default":
        parent_text, parent_dir = _packaged_text("default"), base_dir
    else:
        parent_path = base_dir / parent_ref
        parent_text, parent_dir = parent_path.read_text(encoding="utf-8"), parent_path.parent
    parent = _resolve_extends(tomllib.loads(parent_text), parent_dir)
    return {
        "defaults": _merge(_table(parent.get("defaults", {}), "defaults"), data.get("defaults", {})),
        "model": [*data.get("model", []), *parent.get("model", [])],
        "time_scale": data.get("time_scale", parent.get("time_scale", 1.0)),
    }


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and key not in _DISTRIBUTIONS:
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_DISTRIBUTIONS = frozenset({"ttft_ms", "output_tokens", "ms"})
_SECTIONS: dict[str, type[Any]] = {"cache": CacheBehaviour, "errors": ErrorRates, "stall": Stalls}


def _model_profile(raw: Mapping[str, Any], where: str) -> ModelProfile:
    profile: ModelProfile = _build(ModelProfile, raw, where)
    return profile


def _build(kind: type[Any], raw: Mapping[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(kind)}
    _check_keys(raw, set(fields), where)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{where}.{key}"
        default = getattr(kind(), key) if key != "match" else "*"
        if key in _SECTIONS:
            values[key] = _build(_SECTIONS[key], _table(value, path), path)
        elif isinstance(default, LogNormal):
            values[key] = _distribution(value, path)
        elif isinstance(default, bool):
            values[key] = _bool(value, path)
        elif isinstance(default, str):
            values[key] = _string(value, path)
        else:
            number = _number(value, path)
            values[key] = int(number) if isinstance(default, int) else number
    return kind(**values)


def _distribution(value: Any, where: str) -> LogNormal:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return LogNormal(float(value))
    table = _table(value, where)
    _check_keys(table, {"median", "sigma", "min", "max"}, where)
    if "median" not in table:
        raise ProfileError(f"{where} needs a 'median'")
    numbers = {k: _number(v, f"{where}.{k}") for k, v in table.items()}
    if numbers["median"] <= 0:
        raise ProfileError(f"{where}.median must be > 0")
    return LogNormal(**numbers)


def _check_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ProfileError(f"unknown key(s) in {where}: {', '.join(unknown)}")


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ProfileError(f"{where} must be a table")
    return dict(value)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ProfileError(f"{where} must be a non-negative number, got {value!r}")
    return float(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ProfileError(f"{where} must be true or false, got {value!r}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ProfileError(f"{where} must be a non-empty string, got {value!r}")
    return value
