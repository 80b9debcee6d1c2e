"""Typed settings as dataclasses: each field's type, default, range and one-line doc, checked in one pass.

A field is declared like CleanRL's `Args` reads, with what a refusal and `--help` need beside it:

    numEnvs: int = option(64, "worlds simulated at once", lo=1)

`check(Schema, cfg)` validates a composed OmegaConf config against a schema: every key has its type and
range or the first one that does not is a `Refusal` (key, value, what it accepts); keys the schema does
not know are refused too; values are stored back at their type (a float key given 30 holds 30.0).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from omegaconf import DictConfig, OmegaConf


def option(
    default: Any,
    doc: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    null: str | None = None,
    pattern: str | None = None,
    expects: str | None = None,
) -> Any:
    """A schema field. lo/hi: the inclusive range of a number; null: what null means (Optional types);
    pattern: a regex a string must match in full, described by `expects`."""
    meta = {"doc": doc, "lo": lo, "hi": hi, "null": null, "pattern": pattern, "expects": expects}
    if isinstance(default, dict):  # free-form (a config group's contents): never checked here
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls: type) -> Any:
    """A nested schema (a dataclass): its docstring is the section's doc."""
    return field(default_factory=cls)


@dataclass(frozen=True)
class Setting:
    """One leaf of a schema, as `check` and help texts read it."""

    key: str  # dotted
    type: Any
    default: Any
    doc: str
    lo: float | None
    hi: float | None
    null: str | None
    pattern: str | None
    expects_text: str | None

    @property
    def free_form(self) -> bool:
        return self.type is dict

    @property
    def optional(self) -> bool:
        return _is_optional(self.type)

    def expects(self) -> str:
        """What the key accepts, as a refusal ends: 'an integer >= 1, or null (train until stopped)'."""
        base, what = _base(self.type), self.expects_text
        if what is None:
            if typing.get_origin(base) is Literal:
                *first, last = (str(a) for a in typing.get_args(base))
                what = f"{', '.join(first)} or {last}"
            elif base is bool:
                what = "true or false"
            elif base is int:
                what = "an integer" + self._range()
            elif base is float:
                what = "a number" + self._range()
            elif base is dict:
                what = "a mapping"
            else:
                what = "a string"
        if self.optional:
            what += ", or null" + (f" ({self.null})" if self.null else "")
        return what

    def _range(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f" in [{_num(self.lo)}, {_num(self.hi)}]"
        if self.lo is not None:
            return f" >= {_num(self.lo)}"
        return f" <= {_num(self.hi)}" if self.hi is not None else ""

    def convert(self, value: Any) -> Any:
        """The value at this setting's type; ValueError when it is not accepted."""
        if value is None:
            if self.optional:
                return None
            raise ValueError(value)
        base = _base(self.type)
        if typing.get_origin(base) is Literal:
            ok = value in typing.get_args(base)
        elif base is bool:
            ok = isinstance(value, bool)
        elif base is int:
            ok = isinstance(value, int) and not isinstance(value, bool) and self._in_range(value)
        elif base is float:
            ok = _is_number(value) and math.isfinite(value) and self._in_range(value)
            value = float(value) if ok else value
        elif base is dict:
            ok = isinstance(value, (dict, DictConfig))
        else:  # a string; Hydra reads `checkpoint=20250801` as an int, which the user meant as text
            ok = isinstance(value, str) or _is_number(value)
            value = str(value) if ok else value
            ok = ok and (self.pattern is None or re.fullmatch(self.pattern, value) is not None)
        if not ok:
            raise ValueError(value)
        return value

    def _in_range(self, v) -> bool:
        return (self.lo is None or v >= self.lo) and (self.hi is None or v <= self.hi)


class Refusal(Exception):
    """A value a schema does not accept: `key`, `value` and `expects` (None: the key is unknown)."""

    def __init__(self, key: str, value: Any, expects: str | None):
        super().__init__(f"{key}={value!r}: not accepted; expects {expects}" if expects else f"{key}: unknown key")
        self.key, self.value, self.expects = key, value, expects


@functools.cache  # a schema is a class: read once (the tester API checks each reload interval set)
def settings(schema: type, prefix: str = "") -> tuple[Setting, ...]:
    """Every leaf of `schema`, in declaration order, with dotted keys."""
    out, hints = [], typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        key, tp = prefix + f.name, hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += settings(tp, key + ".")
            continue
        m = f.metadata
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        out.append(Setting(key, tp, default, m["doc"], m["lo"], m["hi"], m["null"], m["pattern"], m["expects"]))
    return tuple(out)


def sections(schema: type, prefix: str = "") -> dict[str, str]:
    """Dotted key of every nested section -> the first line of its docstring."""
    out, hints = {}, typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out[prefix + f.name] = (tp.__doc__ or "").strip().splitlines()[0]
            out.update(sections(tp, prefix + f.name + "."))
    return out


def setting(schema: type, key: str) -> Setting:
    return next(s for s in settings(schema) if s.key == key)


def defaults(schema: type) -> dict:
    """The schema's defaults as a plain nested dict (interpolation strings kept)."""
    return dataclasses.asdict(schema())


def check(schema: type, cfg: DictConfig) -> None:
    """Refuse the first key of `cfg` the schema does not accept (Refusal); store the rest at their type."""
    known = settings(schema)
    _refuse_unknown(cfg, {s.key for s in known})
    for s in known:
        value = OmegaConf.select(cfg, s.key, default=None, throw_on_resolution_failure=False)
        interpolation = _interpolation(cfg, s.key)
        try:
            typed = s.convert(value)
        except ValueError:
            raise Refusal(s.key, interpolation if value is None and interpolation else value, s.expects()) from None
        if interpolation is None and type(typed) is not type(value):  # 30 -> 30.0, 20250801 -> "20250801"
            OmegaConf.update(cfg, s.key, typed, merge=False)


def _refuse_unknown(node: DictConfig, known: set[str], prefix: str = "") -> None:
    for k in node.keys():
        key = f"{prefix}{k}"
        if key in known:
            continue
        child = OmegaConf.select(node, str(k), default=None, throw_on_resolution_failure=False)
        if not isinstance(child, DictConfig) or not any(n.startswith(key + ".") for n in known):
            raise Refusal(key, child, None)
        _refuse_unknown(child, known, key + ".")


def _interpolation(cfg: DictConfig, key: str) -> str | None:
    """The key's interpolation as written (`${env.numEnvs}`), or None when it holds a value."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
    if isinstance(node, DictConfig) and leaf in node and OmegaConf.is_interpolation(node, leaf):
        return OmegaConf.to_container(node, resolve=False)[leaf]
    return None


def spelled(value: Any, quoted: bool = False) -> str:
    """A value as a user types it: null, true, 30.0, ${env.numEnvs} ('maybe' when quoted)."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    return repr(value) if quoted else str(value)


def _is_optional(tp) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def _base(tp):
    """`int | None` -> int."""
    if _is_optional(tp):
        return next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
