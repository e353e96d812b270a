"""Reading instances: text parsing kept apart from file reading (as vrplib does).

``parse_*`` functions take text and return value objects; :func:`load` reads a file, picks
the format from the extension (or ``format=``) and names the file in every error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from router.errors import InputError, brief
from router.instance import GapInstance, Instance
from router.io.safe import json_duplicates, json_value, read_text, yaml_value
from router.limits import MAX_DIGITS, MAX_FILE_BYTES, MAX_INT
from router.validate import checked_fields

FORMATS = ("yaml", "json", "gap")

__all__ = ["FORMATS", "format_of", "load", "loads", "parse_gap", "parse_json", "parse_yaml",
           "read_text"]


def parse_json(text: str, source: str = "<string>") -> Instance:
    """Parse ``router/instance-v1`` JSON text."""
    if not text.strip():
        raise InputError([("", "file is empty")], source)
    # Duplicate keys without a hook on every object (10% of the load time of a large batch):
    # a valid instance's mappings are all read by validation, which counts their entries; as
    # many colons in the text (each entry has one) leave no room for a key given twice.
    data = json_value(text, source, check_duplicates=False)
    try:
        fields, entries = checked_fields(data, source)
    except InputError:
        dups = json_duplicates(text, source)  # a duplicate may be why it is invalid
        if dups:
            raise InputError(dups, source) from None
        raise
    if entries != text.count(":"):  # a colon inside a string, or a key given twice
        dups = json_duplicates(text, source)
        if dups:
            raise InputError(dups, source)
    return Instance(**fields)


def parse_yaml(text: str, source: str = "<string>") -> Instance:
    """Parse ``router/instance-v1`` YAML text with a safe loader: tags that would build
    Python objects are bad input and are never executed."""
    if not text.strip():
        raise InputError([("", "file is empty")], source)
    data = yaml_value(text, source)
    if data is None:
        raise InputError([("", "file is empty")], source)
    return Instance.from_dict(data, source)


_INT_TOKEN = re.compile(r"[+-]?\d+")


def parse_gap(text: str, source: str = "<string>", name: str | None = None) -> GapInstance:
    """Parse an OR-Library GAP file: ``m n``, costs (m x n), resources (m x n), capacities (m).

    Every number is an integer of magnitude at most ``MAX_INT``; so are the total resource of
    each agent and the costs of the costliest assignment of every job added up, so that every
    sum a solver or the verifier forms is exact in float64 and int64."""
    tokens = text.split()
    if not tokens:
        raise InputError([("", "file is empty")], source)
    try:
        ints = [int(t) for t in tokens]
    except ValueError:
        pos = next(k for k, t in enumerate(tokens) if not _is_int(t))
        bad = tokens[pos]
        if _INT_TOKEN.fullmatch(bad):  # digits only: longer than int() reads
            msg = f"integer out of range: more than {MAX_DIGITS} digits"
        else:
            msg = f"expected an integer, found {brief(bad)}"
        raise InputError([(f"token {pos + 1}", msg)], source) from None
    if max(ints) > MAX_INT or min(ints) < -MAX_INT:
        pos = next(k for k, v in enumerate(ints) if not -MAX_INT <= v <= MAX_INT)
        raise InputError([(f"token {pos + 1}", f"integer out of range: {brief(tokens[pos])} "
                                               f"(at most {MAX_INT} in magnitude)")], source)
    values = np.array(ints, dtype=np.int64)
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
    # exact sums: Python integers (each row sum fits int64 only once it is known to be small)
    for i, row in enumerate(resource.tolist()):
        if sum(row) > MAX_INT:
            problems.append((f"resource[{i + 1}]", f"the resources of agent {i + 1} add up to "
                                                   f"more than {MAX_INT}"))
            break
    if sum(np.abs(cost).max(axis=0).tolist()) > MAX_INT:
        problems.append(("cost", f"the costliest assignments of the jobs add up to more than "
                                 f"{MAX_INT} in magnitude"))
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


def _plain(path: str | os.PathLike[str]) -> Path:
    """The file name without a ``.gz`` suffix (gzip-compressed files are read as their text)."""
    p = Path(path)
    return p.with_suffix("") if p.suffix.lower() == ".gz" else p


def format_of(path: str | os.PathLike[str]) -> str | None:
    """The instance format implied by a file name (``.json``, ``.yaml``, ``.yml``, each also
    gzip-compressed as ``.json.gz`` ...), or ``None`` when the extension says nothing."""
    suffix = _plain(path).suffix.lower()
    return {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(suffix)


def load(path: str | os.PathLike[str], format: str | None = None, *,
         max_bytes: int = MAX_FILE_BYTES) -> Instance | GapInstance:
    """Read an instance file. ``format`` is ``yaml``, ``json`` or ``gap``; by default the
    extension decides (``.yaml``/``.yml``/``.json``). A file whose name ends in ``.gz`` and
    that is gzip-compressed is read as its text. A file (or its decompressed text) larger than
    ``max_bytes`` is bad input (found without reading it all)."""
    fmt = format or format_of(path)
    if fmt is None:
        raise InputError([("", "cannot tell the format from the extension; use .yaml, .yml or "
                               ".json, or --format gap for an OR-Library GAP file")], str(path))
    text = read_text(path, max_bytes)
    return loads(text, fmt, source=str(path), name=_plain(path).stem)


