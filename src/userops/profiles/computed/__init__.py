"""Computed tags (计算标签): the models, and the definition a computed tag stores.

A computed tag's `definition` (tags.definition in the application database) is

    {"model": "rfm", "output": "group", "params": {...}}            # its own parameters
    {"model": "rfm", "output": "r", "params_from": "rfm_group"}     # another tag's parameters

Models built from per-user facts (`FACT_MODELS`) compile for every warehouse engine; `member`
reads the growth system's tables (application database). docs/models.md defines every model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from userops.errors import InputError
from userops.profiles.computed import activity, grade, intent, lifecycle, membership, rfm
from userops.profiles.computed.base import Label, Model, Output

__all__ = ["FACT_MODELS", "MEMBER_MODEL", "MODEL_NAMES", "Label", "Model", "Output"]

FACT_MODELS: Final[dict[str, Model[Any]]] = {
    m.name: m
    for m in (
        rfm.MODEL,
        lifecycle.MODEL,
        grade.MODEL,
        intent.MODEL,
        activity.MODEL,
        membership.SPREAD,
    )
}
MEMBER_MODEL: Final = "member"
MODEL_NAMES: Final = (*FACT_MODELS, MEMBER_MODEL)
_SLUG = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_KEYS = frozenset({"model", "output", "params", "params_from"})


def outputs(model: str) -> dict[str, Output]:
    if model == MEMBER_MODEL:
        return dict(membership.MEMBER_OUTPUTS)
    return FACT_MODELS[_known(model)].outputs


def title(model: str) -> tuple[str, str]:
    if model == MEMBER_MODEL:
        return "会员标签", "Member tags"
    m = FACT_MODELS[_known(model)]
    return m.title, m.title_en


def labels(model: str, output: str) -> tuple[Label, ...]:
    out = outputs(model).get(output)
    return out.labels if out is not None else ()


def _known(model: Any) -> str:
    if model not in MODEL_NAMES:
        raise InputError(f"unknown model {model!r} (known: {', '.join(MODEL_NAMES)})")
    return str(model)


def parse_params(model: str, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters, checked, with every default filled in (as stored)."""
    if raw is not None and not isinstance(raw, Mapping):
        raise InputError("the parameters must be an object")
    if model == MEMBER_MODEL:
        return membership.dump_member(membership.parse_member(raw))
    m = FACT_MODELS[_known(model)]
    return m.dump(m.parse(raw))


def check_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A computed tag's definition, checked and normalised (parameters with their defaults)."""
    if not isinstance(definition, Mapping):
        raise InputError("a computed tag's definition must be an object")
    unknown = sorted(set(definition) - _KEYS)
    if unknown:
        raise InputError(f"a computed tag's definition has no key {unknown[0]!r}")
    model = _known(definition.get("model"))
    output = definition.get("output", "value")
    if output not in outputs(model):
        names = ", ".join(outputs(model))
        raise InputError(f"model {model!r} has no output {output!r} (outputs: {names})")
    source = definition.get("params_from")
    if source is not None:
        if "params" in definition:
            raise InputError("give either params or params_from, not both")
        if not isinstance(source, str) or not _SLUG.match(source):
            raise InputError(f"params_from {source!r} is not a tag code")
        return {"model": model, "output": output, "params_from": source}
    params = parse_params(model, definition.get("params"))
    if model == MEMBER_MODEL:
        membership.member_field(output, membership.parse_member(params))
    return {"model": model, "output": output, "params": params}


def value_type(model: str, output: str) -> str:
    return outputs(model)[output].value_type
