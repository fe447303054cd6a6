"""``harness fault kinds``: every fault kind with its parameters, as text."""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from faults.base import Fault, kinds
from harness.units import parse_duration


def _type_name(annotation: Any, metadata: Iterable[Any] = ()) -> str:
    """A parameter's type as a user writes it: ``KILL | TERM``, ``duration | None``."""
    if any(getattr(m, "func", None) is parse_duration for m in metadata):
        return "duration"
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " | ".join(str(a) for a in args)
    if origin is Annotated:
        return _type_name(args[0], args[1:])
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _param_rows(kind: type[Fault]) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, field in kind.params_model.model_fields.items():
        type_name = _type_name(field.annotation, field.metadata)
        rows.append((name, type_name, repr(field.default), field.description or ""))
    return rows


def render_kinds(only: str | None = None) -> str:
    """One block per kind: summary, what the client sees, what it needs, parameters."""
    blocks = []
    for name, kind in kinds().items():
        if only is not None and name != only:
            continue
        lines = [
            name,
            f"  {kind.summary}",
            f"  client sees: {kind.client_sees}",
            f"  needs: {kind.needs}",
        ]
        if kind.instantaneous:
            lines.append("  `for` is optional (the fault is a single action)")
        rows = _param_rows(kind)
        if rows:
            width = max(len(r[0]) for r in rows)
            lines.append("  params:")
            for pname, ptype, default, description in rows:
                lines.append(f"    {pname.ljust(width)}  {ptype}, default {default}: {description}")
        else:
            lines.append("  params: none")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
