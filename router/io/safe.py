"""Untrusted files and text to plain data, within the limits of :mod:`router.limits`.

Whatever the bytes, these functions return data or raise :class:`InputError` with a short
message naming the place: a file larger than the size limit (or endless, as /dev/zero) is
found without reading it all; JSON and YAML nested too deeply, integers of more than 4,300
digits, duplicate keys in a mapping, YAML alias bombs and recursive aliases are bad input. The
YAML loader is the C one (libyaml) where it is installed, with the same checks.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from router.errors import InputError, brief
from router.limits import MAX_ALIAS_NODES, MAX_DIGITS, MAX_FILE_BYTES

_CHUNK = 1 << 20


# ---------------------------------------------------------------- files

def read_bytes(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a file of at most ``max_bytes``; a larger (or endless) file, a binary
    one, a missing or unreadable one is bad input."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise InputError([("", "is a directory, not a file")], source)
            regular = stat.S_ISREG(st.st_mode)
            if regular and st.st_size > max_bytes:
                raise InputError([("", f"file of {st.st_size:,} bytes is larger than the "
                                       f"limit of {max_bytes:,} bytes")], source)
            first = f.read(min(_CHUNK, max_bytes + 1))
            if first[:2] == _GZIP_MAGIC and source.lower().endswith(".gz"):
                f.seek(0)
                return _gunzip(f, max_bytes, source)
            if b"\x00" in first[:8192]:
                raise InputError([("", "binary data, not a text file")], source)
            chunks = [first]
            size = len(first)
            while first and size <= max_bytes:
                # a regular file has its size (it may still grow); a stream is read in chunks
                chunk = f.read(max_bytes + 1 - size if regular else min(_CHUNK,
                                                                         max_bytes + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > max_bytes:
                raise InputError([("", f"more than the limit of {max_bytes:,} bytes")], source)
    except FileNotFoundError:
        raise InputError([("", "no such file")], source) from None
    except IsADirectoryError:
        raise InputError([("", "is a directory, not a file")], source) from None
    except OSError as e:
        raise InputError([("", f"cannot read: {e.strerror or e}")], source) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_GZIP_MAGIC = b"\x1f\x8b"


def _gunzip(f: Any, max_bytes: int, source: str) -> bytes:
    """A gzip-compressed file (``.gz``), decompressed in chunks: more than ``max_bytes`` of
    text (a gzip bomb included) is bad input before it is all in memory."""
    import gzip
    import zlib

    chunks: list[bytes] = []
    size = 0
    try:
        with gzip.GzipFile(fileobj=f) as g:
            while size <= max_bytes:
                chunk = g.read(min(_CHUNK, max_bytes + 1 - size))
                if not chunk:
                    break
                if not chunks and b"\x00" in chunk[:8192]:
                    raise InputError([("", "binary data inside the gzip file, not text")],
                                     source)
                chunks.append(chunk)
                size += len(chunk)
    except (OSError, EOFError, zlib.error) as e:
        raise InputError([("", f"not a readable gzip file ({e})")], source) from None
    if size > max_bytes:
        raise InputError([("", f"decompresses to more than the limit of {max_bytes:,} bytes")],
                         source)
    return b"".join(chunks)


def decode(raw: bytes, source: str) -> str:
    """UTF-8 text (a leading byte-order mark is not part of it)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError([("", f"not UTF-8 text (byte {e.start})")], source) from None


def read_text(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a file of at most ``max_bytes`` as UTF-8 text."""
    return decode(read_bytes(path, max_bytes), str(path))


# ---------------------------------------------------------------- JSON

class _Rejected(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _Rejected(f"{name} is not a finite number")


class _Marked(dict[str, Any]):
    """A JSON object that gave a key twice: which one (kept until the place is found)."""

    __slots__ = ("duplicate",)
    duplicate: str


def _no_duplicates() -> tuple[Callable[[list[tuple[str, Any]]], dict[str, Any]], list[int]]:
    found = [0]

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        d = dict(pairs)
        if len(d) == len(pairs):
            return d
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                break
            seen.add(k)
        marked = _Marked(d)
        marked.duplicate = k
        found[0] += 1
        return marked

    return hook, found


def json_value(text: str, source: str, *, check_duplicates: bool = True) -> Any:
    """Parse JSON text; NaN and Infinity are bad input, and so (with ``check_duplicates``, the
    default) is a key given twice in one object. Without it the caller must rule duplicates
    out itself (see :func:`json_duplicates`)."""
    if not check_duplicates:
        return _json(text, source, None)
    hook, found = _no_duplicates()
    data = _json(text, source, hook)
    if found[0]:
        raise InputError(_duplicate_problems(data), source)
    return data


def json_duplicates(text: str, source: str) -> list[tuple[str, str]]:
    """Every key given twice in one object of the JSON ``text`` (parsed again), as problems."""
    hook, found = _no_duplicates()
    data = _json(text, source, hook)
    return _duplicate_problems(data) if found[0] else []


def _json(text: str, source: str, hook: Any) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=hook)
    except json.JSONDecodeError as e:
        msg = e.msg.removesuffix(" at")  # "Unterminated string starting at" + " at line"
        problem = f"not valid JSON: {msg} at line {e.lineno} column {e.colno}"
    except _Rejected as e:
        problem = f"not valid JSON: {e}"
    except RecursionError:
        problem = f"not valid JSON: nested too deeply{_deepest(text)}"
    except ValueError as e:  # an integer longer than int() reads
        problem = f"not valid JSON: {_digits_problem(e)}{_long_integer(text)}"
    raise InputError([("", problem)], source)


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f" at line {line} column {col}"


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def _deepest(text: str) -> str:
    """Where the JSON text reaches its deepest nesting (strings skipped)."""
    depth = best = 0
    pos = 0
    for m in _JSON_TOKENS.finditer(text):
        c = text[m.start()]
        if c in "[{":
            depth += 1
            if depth > best:
                best, pos = depth, m.start()
        elif c in "]}":
            depth -= 1
    return f" ({best} levels{_where(text, pos)})" if best else ""


_LONG_INT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?\d{' + str(MAX_DIGITS + 1) + r',})(?![\d.eE])', re.S)


def _long_integer(text: str) -> str:
    for m in _LONG_INT.finditer(text):
        if m.group(1):
            return _where(text, m.start(1))
    return ""


def _digits_problem(e: ValueError) -> str:
    if "digits" in str(e):
        return f"an integer with more than {MAX_DIGITS} digits"
    return brief(str(e), 80, quote=False)


def _duplicate_problems(data: Any) -> list[tuple[str, str]]:
    """The path of every duplicate key marked in ``data``, in document order."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        v, path = stack.pop()
        if isinstance(v, dict):
            if isinstance(v, _Marked):
                out.append((_key_path(path, v.duplicate),
                            "duplicate key (given twice in one mapping)"))
            stack.extend((x, _key_path(path, k)) for k, x in reversed(v.items())
                         if isinstance(x, (dict, list)))
        elif isinstance(v, list):
            stack.extend((x, f"{path}[{i}]") for i, x in reversed(list(enumerate(v)))
                         if isinstance(x, (dict, list)))
    return out


def _key_path(path: str, key: Any) -> str:
    k = brief(key, 60, quote=False) if isinstance(key, str) else brief(key, 60)
    return f"{path}.{k}" if path else k


# ---------------------------------------------------------------- YAML

try:  # the C loader is several times faster on large batches; both are safe loaders
    _Base: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Base = yaml.SafeLoader

_MERGE = "tag:yaml.org,2002:merge"


class _Loader(_Base):
    """The safe loader, also rejecting duplicate keys, alias bombs and recursive aliases, and
    reporting unreadable scalars (an integer of 5,000 digits, ``!!int abc``) as YAML errors."""

    check_aliases = False

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        if self.check_aliases:
            _check_aliases(node)
        try:
            return self.construct_document(node)
        except _SCALAR_ERRORS as e:  # a scalar a constructor cannot read: find which
            bad = _unreadable(self, node)
            if bad is None:
                raise ConstructorError(None, None, f"cannot read the document "
                                                   f"({brief(str(e), 60, quote=False)})",
                                       None) from None
            where, problem = bad
            raise ConstructorError(None, None, problem, where.start_mark) from None

    def flatten_mapping(self, node: MappingNode) -> None:
        """PyYAML's merge (``<<``), noting how many merged entries precede the node's own."""
        merge: list[Any] = []
        index = 0
        while index < len(node.value):
            key_node, value_node = node.value[index]
            if key_node.tag == _MERGE:
                del node.value[index]
                if isinstance(value_node, MappingNode):
                    self.flatten_mapping(value_node)
                    merge.extend(value_node.value)
                elif isinstance(value_node, SequenceNode):
                    submerge = []
                    for subnode in value_node.value:
                        if not isinstance(subnode, MappingNode):
                            raise ConstructorError(
                                "while constructing a mapping", node.start_mark,
                                f"expected a mapping for merging, but found {subnode.id}",
                                subnode.start_mark)
                        self.flatten_mapping(subnode)
                        submerge.append(subnode.value)
                    submerge.reverse()
                    for value in submerge:
                        merge.extend(value)
                else:
                    raise ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"expected a mapping or list of mappings for merging, but found "
                        f"{value_node.id}", value_node.start_mark)
            elif key_node.tag == "tag:yaml.org,2002:value":
                key_node.tag = "tag:yaml.org,2002:str"
                index += 1
            else:
                index += 1
        if merge:
            node.value = merge + node.value
            node.merged = len(merge)  # type: ignore[attr-defined]

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            self.flatten_mapping(node)
        mapping: dict[Any, Any] = yaml.constructor.BaseConstructor.construct_mapping(
            self, node, deep=deep)
        if len(mapping) != len(node.value):  # a duplicate, or merged keys overridden
            self._duplicate(node)
        return mapping

    def _duplicate(self, node: MappingNode) -> None:
        seen: set[Any] = set()
        for key_node, _ in node.value[getattr(node, "merged", 0):]:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise ConstructorError("while constructing a mapping", node.start_mark,
                                       f"found duplicate key {brief(key, 60)}",
                                       key_node.start_mark)
            seen.add(key)


_SCALAR_ERRORS = (ValueError, KeyError, AttributeError, TypeError, OverflowError, IndexError)
_SCALARS = {
    "tag:yaml.org,2002:int": (SafeConstructor.construct_yaml_int, "an integer"),
    "tag:yaml.org,2002:float": (SafeConstructor.construct_yaml_float, "a number"),
    "tag:yaml.org,2002:bool": (SafeConstructor.construct_yaml_bool, "a boolean"),
    "tag:yaml.org,2002:timestamp": (SafeConstructor.construct_yaml_timestamp, "a timestamp"),
}


def _unreadable(loader: Any, root: Node) -> tuple[Node, str] | None:
    """The first scalar of the document that its constructor cannot read (an integer of 5,000
    digits, ``!!int abc``), and why; looked for only once construction has failed, so that
    reading a valid file pays nothing for it."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            entry = _SCALARS.get(node.tag)
            if entry is None:
                continue
            construct, what = entry
            try:
                construct(loader, node)
            except _SCALAR_ERRORS as e:
                if "digits" in str(e):
                    return node, f"an integer with more than {MAX_DIGITS} digits"
                return node, f"cannot read {brief(node.value, 40)} as {what}"
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, MappingNode):
            stack.extend(x for pair in reversed(node.value) for x in reversed(pair))
    return None


def _check_aliases(root: Node) -> None:
    """Reject a node graph whose aliases expand it by more than ``MAX_ALIAS_NODES`` values,
    or that contains itself (a recursive alias). Each node is visited once."""
    size: dict[int, int] = {}  # id -> values in the node with every alias expanded
    open_: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    cap = 1 << 62
    while stack:
        node, done = stack.pop()
        k = id(node)
        if done:
            open_.discard(k)
            if isinstance(node, SequenceNode):
                s = 1 + sum(size[id(c)] for c in node.value)
            elif isinstance(node, MappingNode):
                s = 1 + sum(size[id(a)] + size[id(b)] for a, b in node.value)
            else:
                s = 1
            size[k] = min(s, cap)
            if s - len(size) > MAX_ALIAS_NODES:
                raise ConstructorError(
                    None, None, f"aliases expand the document by more than "
                                f"{MAX_ALIAS_NODES:,} values (an alias bomb)", node.start_mark)
            continue
        if k in size:
            continue
        if k in open_:
            raise ConstructorError(None, None, "recursive alias (a value that contains itself)",
                                   node.start_mark)
        open_.add(k)
        stack.append((node, True))
        if isinstance(node, SequenceNode):
            stack.extend((c, False) for c in node.value if id(c) not in size)
        elif isinstance(node, MappingNode):
            for a, b in node.value:
                if id(a) not in size:
                    stack.append((a, False))
                if id(b) not in size:
                    stack.append((b, False))


def yaml_value(text: str, source: str) -> Any:
    """Parse one YAML document with the safe loader (``None`` for an empty one)."""
    try:
        loader = _Loader(text)
    except UnicodeEncodeError as e:  # text made in memory, not decoded from a file
        raise InputError([("", f"not valid YAML: not Unicode text (a lone surrogate at "
                               f"character {e.start})")], source) from None
    loader.check_aliases = "*" in text  # no alias without its indicator
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = f"not valid YAML: {brief(e.problem or e.context, 120, quote=False)}{where}"
    except yaml.YAMLError as e:
        problem = f"not valid YAML: {brief(str(e), 120, quote=False)}"
    except RecursionError:
        problem = "not valid YAML: nested too deeply"
    finally:
        loader.dispose()
    raise InputError([("", problem)], source)
