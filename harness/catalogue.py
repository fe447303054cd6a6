"""``harness fault kinds``: every fault kind with its parameters, as text."""

from __future__ import annotations

from typing import Any

from faults.base import Fault, kinds


def _param_rows(kind: type[Fault]) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, field in kind.params_model.model_fields.items():
        annotation: Any = field.annotation
        type_name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
        if "Literal" in str(annotation):
            type_name = " | ".join(str(a) for a in getattr(annotation, "__args__", ()))
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
