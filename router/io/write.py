"""Writing instance files: JSON or YAML by extension, one item a line (readable, diffable), the
same bytes for the same mapping. The reader is :mod:`router.io.read`."""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from router.errors import InputError
from router.instance import Instance

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"}


def _num(v: float) -> str:
    s = repr(float(v))
    if "e" in s or "E" in s:  # YAML 1.1 reads 1e-05 as a string: write it out in full
        s = f"{v:.12f}".rstrip("0")
        s = s + "0" if s.endswith(".") else s
    return s


@functools.lru_cache(maxsize=65536)
def _yaml_str(v: str) -> str:
    if _PLAIN.fullmatch(v) and v.lower() not in _YAML_WORDS:
        return v
    return json.dumps(v, ensure_ascii=False)


def _yaml(v: Any) -> str:
    t = type(v)
    if t is str:
        return _yaml_str(v)
    if t is int:
        return str(v)
    if t is float:
        if not math.isfinite(v):
            raise ValueError(f"cannot write non-finite number {v!r}")
        return _num(v)
    if t is dict:
        return "{" + ", ".join(f"{_yaml_str(k)}: {_yaml(x)}" for k, x in v.items()) + "}"
    if t is list or t is tuple:
        return "[" + ", ".join(_yaml(x) for x in v) + "]"
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return _yaml(float(v))
    if isinstance(v, str):
        return _yaml_str(str(v))
    if isinstance(v, Mapping):
        return _yaml(dict(v))
    if isinstance(v, (list, tuple)):
        return _yaml(list(v))
    raise TypeError(f"cannot write {t.__name__}")


def _json(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(data: dict[str, Any] | Instance, format: str = "json") -> str:
    """Instance text (``json`` or ``yaml``): top-level fields one per line, each SKU, node,
    order and zone on its own line."""
    if isinstance(data, Instance):
        data = data.to_dict()
    if format not in ("json", "yaml"):
        raise ValueError(f"unknown format {format!r}; use json or yaml")
    out: list[str] = []
    if format == "yaml":
        for k, v in data.items():
            if k == "shipping" and isinstance(v, dict):
                out.append("shipping:")
                for sk, sv in v.items():
                    if isinstance(sv, list):
                        out.append(f"  {sk}:")
                        out.extend(f"    - {_yaml(z)}" for z in sv)
                    else:
                        out.append(f"  {sk}: {_yaml(sv)}")
            elif isinstance(v, list):
                if not v:
                    out.append(f"{k}: []")
                    continue
                out.append(f"{k}:")
                out.extend(f"  - {_yaml(x)}" for x in v)
            else:
                out.append(f"{k}: {_yaml(v)}")
        return "\n".join(out) + "\n"
    items = list(data.items())
    out.append("{")
    for i, (k, v) in enumerate(items):
        comma = "," if i + 1 < len(items) else ""
        if isinstance(v, list) and v:
            out.append(f"{json.dumps(k)}: [")
            out.extend("  " + _json(x) + ("," if j + 1 < len(v) else "") for j, x in enumerate(v))
            out.append("]" + comma)
        else:
            out.append(f"{json.dumps(k)}: {_json(v)}{comma}")
    out.append("}")
    return "\n".join(out) + "\n"


def format_for(path: str | os.PathLike[str]) -> str:
    """``json`` or ``yaml`` from the file's extension; anything else is bad input."""
    suffix = Path(path).suffix.lower()
    fmt = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(suffix)
    if fmt is None:
        raise InputError([("", "cannot tell the format from the extension; use .json, .yaml "
                               "or .yml")], str(path))
    return fmt


def write(data: dict[str, Any] | Instance, path: str | os.PathLike[str]) -> int:
    """Write an instance as JSON or YAML (by extension); returns the bytes written."""
    raw = dumps(data, format_for(path)).encode("utf-8")
    try:
        Path(path).write_bytes(raw)
    except OSError as e:
        raise InputError([("", f"cannot write: {e.strerror}")], str(path)) from None
    return len(raw)

