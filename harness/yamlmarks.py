"""YAML loading that remembers where every value came from.

Validation errors must say ``file:line``; PyYAML's composed node tree has the marks, so
the document is constructed from that tree and a map from each value's path (a tuple of
mapping keys and sequence indices) to its 1-based line is kept beside it.
"""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class YamlProblem(Exception):
    """A syntax-level problem with a line number (duplicate key, parse error)."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}")


def load_with_marks(text: str) -> tuple[Any, dict[Path_, int]]:
    """Parse one YAML document; return ``(data, marks)``.

    Raises ``YamlProblem`` for syntax errors and duplicate mapping keys (which plain
    PyYAML would silently resolve to the last value).
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        marks: dict[Path_, int] = {}
        _walk(node, (), marks)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlProblem(line, f"YAML syntax error: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"YAML error: {exc}") from None
    finally:
        loader.dispose()
    return data, marks


def _walk(node: yaml.Node, path: Path_, marks: dict[Path_, int]) -> None:
    marks[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in seen:
                raise YamlProblem(
                    line, f"duplicate key '{key}' (first defined on line {seen[key]})"
                )
            seen[key] = line
            # The key's own line is the better pointer for a value on the following lines.
            _walk(value_node, (*path, key), marks)
            marks[(*path, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), marks)


def line_for(marks: dict[Path_, int], path: Path_) -> int:
    """The line of ``path``, or of its nearest ancestor that has one."""
    for end in range(len(path), -1, -1):
        line = marks.get(tuple(path[:end]))
        if line is not None:
            return line
    return 1
