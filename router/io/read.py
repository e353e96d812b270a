"""Reading instances: text parsing kept apart from file reading (as vrplib does).

``parse_*`` functions take text and return value objects; :func:`load` reads a file, picks
the format from the extension (or ``format=``) and names the file in every error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from router.errors import InputError
from router.instance import GapInstance, Instance

FORMATS = ("yaml", "json", "gap")

try:  # the C loader is several times faster on large batches; both are safe loaders
    _SafeLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _SafeLoader = yaml.SafeLoader


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def parse_json(text: str, source: str = "<string>") -> Instance:
    """Parse ``router/instance-v1`` JSON text."""
    if not text.strip():
        raise InputError([("", "file is empty")], source)
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        msg = e.msg.removesuffix(" at")  # "Unterminated string starting at" + " at line"
        raise InputError([("", f"not valid JSON: {msg} at line {e.lineno} column {e.colno}")],
                         source) from None
    except ValueError as e:
        raise InputError([("", f"not valid JSON: {e}")], source) from None
    return Instance.from_dict(data, source)


def parse_yaml(text: str, source: str = "<string>") -> Instance:
    """Parse ``router/instance-v1`` YAML text with a safe loader: tags that would build
    Python objects are bad input and are never executed."""
    if not text.strip():
        raise InputError([("", "file is empty")], source)
    try:
        data = yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - safe loader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise InputError([("", f"not valid YAML: {e.problem or e.context}{where}")],
                         source) from None
    except yaml.YAMLError as e:
        raise InputError([("", f"not valid YAML: {e}")], source) from None
    if data is None:
        raise InputError([("", "file is empty")], source)
    return Instance.from_dict(data, source)


def parse_gap(text: str, source: str = "<string>", name: str | None = None) -> GapInstance:
    """Parse an OR-Library GAP file: ``m n``, costs (m x n), resources (m x n), capacities (m)."""
    tokens = text.split()
    if not tokens:
        raise InputError([("", "file is empty")], source)
    try:
        values = np.array([int(t) for t in tokens], dtype=np.int64)
    except OverflowError:
        pos = next(k for k, t in enumerate(tokens) if not -(2**63) <= int(t) < 2**63)
        raise InputError([(f"token {pos + 1}", f"integer out of range: {tokens[pos][:40]}")],
                         source) from None
    except ValueError:
        bad = next(t for t in tokens if not _is_int(t))
        pos = tokens.index(bad)
        raise InputError([(f"token {pos + 1}", f"expected an integer, found {bad[:40]!r}")],
                         source) from None
    if len(values) < 2:
        raise InputError([("header", "expected 'm n' (agents and jobs)")], source)
    m, n = int(values[0]), int(values[1])
    if m < 1 or n < 1:
        raise InputError([("header", f"agents and jobs must be positive, got m={m} n={n}")], source)
    need = 2 + 2 * m * n + m
    if len(values) != need:
        raise InputError([("", f"expected {need} integers for m={m} agents and n={n} jobs, "
                               f"found {len(values)} (truncated or extra data)")], source)
    body = values[2:]
    cost = body[: m * n].reshape(m, n)
    resource = body[m * n: 2 * m * n].reshape(m, n)
    capacity = body[2 * m * n:]
    problems = []
    if (resource < 0).any():
        i, j = np.argwhere(resource < 0)[0]
        problems.append((f"resource[{i + 1}][{j + 1}]", "must be non-negative"))
    if (capacity < 0).any():
        i = int(np.argmax(capacity < 0))
        problems.append((f"capacity[{i + 1}]", "must be non-negative"))
    if problems:
        raise InputError(problems, source)
    return GapInstance(name=name or "gap", cost=cost, resource=resource, capacity=capacity)


def _is_int(t: str) -> bool:
    try:
        int(t)
    except ValueError:
        return False
    return True


def loads(text: str, format: str, source: str = "<string>",
          name: str | None = None) -> Instance | GapInstance:
    """Parse instance text in the given format (``yaml``, ``json`` or ``gap``)."""
    if format == "json":
        return parse_json(text, source)
    if format == "yaml":
        return parse_yaml(text, source)
    if format == "gap":
        return parse_gap(text, source, name=name)
    raise InputError([("", f"unknown format {format!r}; use one of {', '.join(FORMATS)}")], source)


def format_of(path: str | os.PathLike[str]) -> str | None:
    """The instance format implied by a file name, or ``None`` when the extension says nothing."""
    suffix = Path(path).suffix.lower()
    return {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(suffix)


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a file as UTF-8 text; a missing, unreadable or binary file is bad input."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError([("", "no such file")], source) from None
    except IsADirectoryError:
        raise InputError([("", "is a directory, not a file")], source) from None
    except OSError as e:
        raise InputError([("", f"cannot read: {e.strerror}")], source) from None
    if b"\x00" in raw[:8192]:
        raise InputError([("", "binary data, not a text instance file")], source)
    try:
        return raw.decode("utf-8-sig")  # a leading byte-order mark is not part of the text
    except UnicodeDecodeError as e:
        raise InputError([("", f"not UTF-8 text (byte {e.start})")], source) from None


def load(path: str | os.PathLike[str], format: str | None = None) -> Instance | GapInstance:
    """Read an instance file. ``format`` is ``yaml``, ``json`` or ``gap``; by default the
    extension decides (``.yaml``/``.yml``/``.json``)."""
    fmt = format or format_of(path)
    if fmt is None:
        raise InputError([("", "cannot tell the format from the extension; use .yaml, .yml or "
                               ".json, or --format gap for an OR-Library GAP file")], str(path))
    text = read_text(path)
    return loads(text, fmt, source=str(path), name=Path(path).stem)


