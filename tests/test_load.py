"""Loading: text parsing (parse_*/loads) kept apart from file reading (load/read_text)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

import router
from router.errors import InputError
from router.instance import GapInstance, Instance
from router.io.read import format_of, loads, read_text
from router.limits import MAX_FILE_BYTES, MAX_INT
from router.plan import Plan
from tests.conftest import HAND, base_dict, gap_path


def test_parse_yaml_and_json_give_equal_instances() -> None:
    d = base_dict()
    from_json = router.parse_json(json.dumps(d))
    from_yaml = router.parse_yaml(yaml.safe_dump(d))
    assert isinstance(from_json, Instance)
    assert from_json == from_yaml == Instance.from_dict(d)
    assert from_json.name == "t"
    assert [n.id for n in from_json.nodes] == ["W", "S"]


def test_load_picks_format_from_extension(tmp_path) -> None:
    d = base_dict()
    for name, text in (("a.json", json.dumps(d)), ("a.yaml", yaml.safe_dump(d)),
                       ("a.YML", yaml.safe_dump(d))):
        p = tmp_path / name
        p.write_text(text)
        assert router.load(p) == Instance.from_dict(d)
    assert format_of("x.json") == "json" and format_of("x.yml") == "yaml"
    assert format_of("x.gap") is None and format_of("c0515_1") is None


def test_load_names_the_file_in_errors(tmp_path) -> None:
    p = tmp_path / "broken.json"
    p.write_text('{"name": 3}')
    with pytest.raises(InputError) as ei:
        router.load(p)
    assert ei.value.source == str(p)
    assert str(ei.value).startswith(f"{p}: ")
    assert ("name", "must be a non-empty string, not a number") in ei.value.problems


def test_load_unknown_extension_and_missing_file(tmp_path) -> None:
    p = tmp_path / "inst.txt"
    p.write_text("format: x")
    with pytest.raises(InputError, match="cannot tell the format"):
        router.load(p)
    with pytest.raises(InputError, match="no such file"):
        router.load(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="is a directory"):
        router.load(tmp_path, format="yaml")


def test_explicit_format_overrides_extension(tmp_path) -> None:
    p = tmp_path / "inst.txt"
    p.write_text(json.dumps(base_dict()))
    assert isinstance(router.load(p, format="json"), Instance)
    with pytest.raises(InputError, match="unknown format 'xml'"):
        loads("{}", "xml")


def test_read_text_rejects_binary_and_non_utf8(tmp_path) -> None:
    p = tmp_path / "b.json"
    p.write_bytes(b'{"a": 1}\x00\x01')
    with pytest.raises(InputError, match="binary data"):
        read_text(p)
    p.write_bytes(b'{"name": "\xff\xfe"}')
    with pytest.raises(InputError, match="not UTF-8 text"):
        read_text(p)


def test_byte_order_mark_is_accepted(tmp_path) -> None:
    p = tmp_path / "bom.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps(base_dict()).encode())
    assert router.load(p) == Instance.from_dict(base_dict())


def test_yaml_python_tag_is_rejected_not_executed(tmp_path) -> None:
    marker = tmp_path / "executed"
    text = f"!!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(InputError, match="not valid YAML"):
        router.parse_yaml(text)
    assert not marker.exists()


def test_json_nan_and_infinity_are_rejected() -> None:
    d = json.dumps(base_dict()).replace('"unfilled_penalty": 200.0', '"unfilled_penalty": NaN')
    with pytest.raises(InputError, match="NaN is not a finite number"):
        router.parse_json(d)
    d = json.dumps(base_dict()).replace('"unfilled_penalty": 200.0', '"unfilled_penalty": 1e999')
    with pytest.raises(InputError) as ei:
        router.parse_json(d)
    assert ei.value.problems == (("unfilled_penalty", "must be a finite number"),)


def test_empty_text() -> None:
    for parse in (router.parse_json, router.parse_yaml, router.parse_gap):
        with pytest.raises(InputError, match="file is empty"):
            parse("  \n")
    with pytest.raises(InputError, match="file is empty"):
        router.parse_yaml("# only a comment\n")


# ---------------------------------------------------------------- GAP

@pytest.mark.parametrize(("name", "m", "n"), [
    ("c0515_1", 5, 15), ("c0520_3", 5, 20), ("c0824_2", 8, 24), ("c1060_5", 10, 60),
    ("a05100", 5, 100), ("b10200", 10, 200), ("d20100", 20, 100), ("e20200", 20, 200),
])
def test_gap_files_load_with_right_dimensions(name: str, m: int, n: int) -> None:
    gap = router.load(gap_path(name), format="gap")
    assert isinstance(gap, GapInstance)
    assert gap.name == name
    assert (gap.n_agents, gap.n_jobs) == (m, n)
    assert gap.cost.shape == gap.resource.shape == (m, n)
    assert gap.capacity.shape == (m,)
    assert gap.order_ids[0] == "j1" and gap.order_ids[-1] == f"j{n}"
    assert gap.node_ids[-1] == f"a{m}"
    assert not gap.cost.flags.writeable and not gap.capacity.flags.writeable
    # the file holds exactly m n, then cost, resource, capacity
    tokens = [int(t) for t in gap_path(name).read_text().split()]
    assert tokens[:2] == [m, n]
    assert gap.cost[0, 0] == tokens[2] and gap.cost[m - 1, n - 1] == tokens[1 + m * n]
    assert gap.resource[0, 0] == tokens[2 + m * n]
    assert list(gap.capacity) == tokens[2 + 2 * m * n:]


def test_parse_gap_small_text() -> None:
    gap = router.parse_gap("2 3\n1 2 3\n4 5 6\n7 8 9 10 11 12\n 13 14", name="tiny")
    assert gap.name == "tiny"
    np.testing.assert_array_equal(gap.cost, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(gap.resource, [[7, 8, 9], [10, 11, 12]])
    np.testing.assert_array_equal(gap.capacity, [13, 14])


@pytest.mark.parametrize(("text", "path", "fragment"), [
    ("2 3 1 2 3", "", "expected 16 integers for m=2 agents and n=3 jobs, found 5"),
    ("1 1 5 1 1 9", "", "expected 5 integers"),
    ("1 1 5 x 1", "token 4", "expected an integer, found 'x'"),
    ("1 1 5 1.5 1", "token 4", "expected an integer, found '1.5'"),
    ("0 3", "header", "agents and jobs must be positive, got m=0 n=3"),
    ("7", "header", "expected 'm n'"),
    ("1 1 5 -1 1", "resource[1][1]", "must be non-negative"),
    ("1 1 5 1 -1", "capacity[1]", "must be non-negative"),
    ("1 1 99999999999999999999 1 1", "token 3", "integer out of range"),
])
def test_parse_gap_errors(text: str, path: str, fragment: str) -> None:
    with pytest.raises(InputError) as ei:
        router.parse_gap(text, source="g")
    (p, msg), = ei.value.problems
    assert p == path
    assert fragment in msg


def test_hand_instances_load() -> None:
    names = sorted(p.stem for p in HAND.glob("*.yaml"))
    assert {"split", "store", "express", "safety", "unfillable", "capacity"} <= set(names)
    for p in HAND.glob("*.yaml"):
        inst = router.load(p)
        assert isinstance(inst, Instance)
        assert inst.name == f"hand-{p.stem}"


# ---------------------------------------------------------------- limits and hostile input

def test_size_limit_is_checked_before_reading(tmp_path) -> None:
    p = tmp_path / "a.json"
    p.write_text(json.dumps(base_dict()))
    size = p.stat().st_size
    assert router.load(p, max_bytes=size) == Instance.from_dict(base_dict())
    with pytest.raises(InputError) as ei:
        router.load(p, max_bytes=size - 1)
    assert ei.value.problems == (("", f"file of {size:,} bytes is larger than the limit of "
                                      f"{size - 1:,} bytes"),)
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written or read
    with pytest.raises(InputError, match="larger than the limit of 268,435,456 bytes"):
        router.load(big)
    with pytest.raises(InputError, match="larger than the limit"):
        Plan.read(big)


def test_an_endless_stream_is_cut_at_the_limit() -> None:
    """A pipe (or /dev/zero, /dev/urandom) has no size: it is read in chunks up to the limit."""
    r, w = os.pipe()

    def feed() -> None:
        try:
            with os.fdopen(w, "wb") as f:
                while True:
                    f.write(b"[1, 2, 3] " * 1000)
        except (BrokenPipeError, OSError):
            pass

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        with pytest.raises(InputError, match="more than the limit of 100,000 bytes"):
            read_text(f"/dev/fd/{r}", max_bytes=100_000)
    finally:
        os.close(r)
    t.join(5)
    with pytest.raises(InputError, match="binary data"):
        read_text("/dev/zero")


def test_json_duplicate_keys_are_found_wherever_they_are() -> None:
    text = json.dumps(base_dict())
    cases = {
        '"name": "t"': ('"name": "t", "name": "u"', "name"),
        '"max_km": 50,': ('"max_km": 50, "max_km": 60,', "shipping.zones[0].max_km"),
        '"inventory": {"A": 5,': ('"inventory": {"A": 5, "A": 6,', "nodes[0].inventory.A"),
        '"lines": [{"sku": "A",': ('"lines": [{"sku": "A", "sku": "B",', "orders[0].lines[0].sku"),
        '"id": "O1",': ('"id": "O1", "id": "O2",', "orders[0].id"),
    }
    for old, (new, path) in cases.items():
        assert old in text
        with pytest.raises(InputError) as ei:
            router.parse_json(text.replace(old, new, 1))
        assert ei.value.problems == ((path, "duplicate key (given twice in one mapping)"),)
    # two of them, in document order, also when the file is invalid besides
    bad = text.replace('"name": "t"', '"name": 5, "name": "t"').replace(
        '"id": "O1",', '"id": "O1", "id": "O2",').replace('"qty": 1', '"qty": 0')
    with pytest.raises(InputError) as ei:
        router.parse_json(bad)
    assert [p for p, _ in ei.value.problems] == ["name", "orders[0].id"]


def test_json_colons_inside_strings_are_no_duplicates() -> None:
    d = base_dict()
    d["name"] = "sale: 11.11 10:00"
    d["orders"][0]["id"] = "O:1"
    d["skus"][0]["id"] = "A:1"
    d["nodes"][0]["inventory"] = d["nodes"][1]["inventory"] = {"A:1": 5}
    d["orders"][0]["lines"][0]["sku"] = "A:1"
    assert router.parse_json(json.dumps(d)) == Instance.from_dict(d)


def test_json_nesting_and_long_integers() -> None:
    deep = json.dumps(base_dict()).replace('"name": "t"', '"name": ' + "[" * 3000 + "]" * 3000)
    with pytest.raises(InputError) as ei:
        router.parse_json(deep)
    (path, msg), = ei.value.problems
    col = deep.index('"name": ') + len('"name": ') + 3000  # the innermost "[" (1-based)
    assert msg == f"not valid JSON: nested too deeply (3001 levels at line 1 column {col})"
    shallow = json.dumps(base_dict()).replace('"name": "t"', '"name": "t", "x": ' + "[" * 500
                                              + "]" * 500)
    with pytest.raises(InputError) as ei:  # any depth the parser reads is safe to validate
        router.parse_json(shallow)
    assert ei.value.problems == (("x", "unknown field"),)
    long_int = json.dumps(base_dict()).replace('"qty": 1', '"qty": ' + "9" * 4301)
    with pytest.raises(InputError, match="an integer with more than 4300 digits at line 1 "):
        router.parse_json(long_int)
    long_str = json.dumps(base_dict()).replace('"name": "t"', '"name": "' + "9" * 5000 + '"')
    assert router.parse_json(long_str).name == "9" * 5000  # digits in a string are text


def test_yaml_duplicate_keys_anchors_and_merges() -> None:
    base = yaml.safe_dump(base_dict(), default_flow_style=True, width=10_000)
    with pytest.raises(InputError, match=r"found duplicate key 'qty' at line \d+ column"):
        router.parse_yaml(base.replace("qty: 1", "qty: 1, qty: 2"))
    with pytest.raises(InputError, match="found duplicate key 'inventory'"):
        router.parse_yaml(base.replace("inventory: {A: 5, B: 5}",
                                       "inventory: {A: 5, B: 5}, inventory: {A: 1}", 1))
    # legitimate anchors, aliases and merge keys keep working, an override is no duplicate
    text = """
format: router/instance-v1
name: anchors
shipping: {zones: [{max_km: 500, per_package: 5.0, per_kg: 0.5}]}
unfilled_penalty: 200.0
skus: [{id: A, weight_kg: 1.0}]
nodes:
  - &wh {id: W1, kind: warehouse, lat: 30.0, lon: 120.0, inventory: &stock {A: 5}}
  - {<<: *wh, id: W2, lat: 31.0}
  - {id: W3, kind: warehouse, lat: 32.0, lon: 120.0, inventory: *stock}
orders:
  - &o {id: O1, lat: 30.5, lon: 120.0, lines: &lines [{sku: A, qty: 2}]}
  - {<<: *o, id: O2}
  - {<<: [*o], id: O3, lines: *lines}
"""
    inst = router.parse_yaml(text)
    assert [n.id for n in inst.nodes] == ["W1", "W2", "W3"]
    assert inst.nodes[1].lat == 31.0 and dict(inst.nodes[2].inventory) == {"A": 5}
    assert [o.id for o in inst.orders] == ["O1", "O2", "O3"]
    with pytest.raises(InputError, match="found duplicate key 'id'"):
        router.parse_yaml(text.replace("{<<: *o, id: O2}", "{<<: *o, id: O2, id: O4}"))


def test_yaml_alias_bombs_and_recursive_aliases() -> None:
    head = "".join(f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9 if p else ["lol"] * 9) + "]\n"
                   for p, c in zip([None, *"abcdefgh"], "abcdefghi", strict=True))
    for field in ("name: *i", "orders: [{id: O, lat: 0, lon: 0, lines: *i}]", "x: {<<: *i}"):
        with pytest.raises(InputError) as ei:
            router.parse_yaml(head + field + "\n")
        (_, msg), = ei.value.problems
        assert "aliases expand the document by more than 1,000,000 values" in msg
        assert len(msg) < 120
    small = "".join(f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9 if p else ["lol"] * 9) + "]\n"
                    for p, c in zip([None, *"abcde"], "abcdef", strict=True))
    with pytest.raises(InputError) as ei:  # 9**6 values: within the limit, read normally
        router.parse_yaml(small)
    assert ("f", "unknown field") in ei.value.problems
    with pytest.raises(InputError, match="recursive alias"):
        router.parse_yaml("name: &n [1, *n]\n")
    with pytest.raises(InputError, match="recursive alias"):
        router.parse_yaml("a: &m {b: *m}\n")


@pytest.mark.parametrize(("scalar", "message"), [
    ("!!int abc", "cannot read 'abc' as an integer"),
    ("!!float abc", "cannot read 'abc' as a number"),
    ("!!bool maybe", "cannot read 'maybe' as a boolean"),
    ("!!timestamp soon", "cannot read 'soon' as a timestamp"),
    ("1" * 4301, "an integer with more than 4300 digits"),
])
def test_yaml_unreadable_scalars(scalar: str, message: str) -> None:
    with pytest.raises(InputError) as ei:
        router.parse_yaml(f"name: t\nunfilled_penalty: {scalar}\n")
    assert ei.value.problems == (("", f"not valid YAML: {message} at line 2 column 19"),)


def test_yaml_huge_integers_that_yaml_reads_are_checked_by_range() -> None:
    """Hexadecimal, octal and base-60 integers have no digit limit in YAML 1.1: they are read,
    and the validator's range rejects them with a short message."""
    d = yaml.safe_dump(base_dict())
    for big in ("0x" + "f" * 3000, "0" + "7" * 3000, ":".join(["59"] * 2000)):
        with pytest.raises(InputError) as ei:
            router.parse_yaml(d.replace("qty: 1", f"qty: {big}"))
        assert ei.value.problems == (("orders[0].lines[0].qty", f"must be at most {MAX_INT}"),)


def test_gap_numbers_keep_every_sum_exact() -> None:
    m = MAX_INT
    gap = router.parse_gap(f"1 1 {m} {m} {m}")  # the limit itself
    assert int(gap.cost[0, 0]) == m and int(gap.capacity[0]) == m
    router.parse_gap(f"1 2 {-(m // 2)} {m // 2} 1 2 3")
    for text, path, fragment in (
            (f"1 1 {m + 1} 1 1", "token 3", "integer out of range: '9007199254740992'"),
            (f"1 1 1 1 {-(m + 1)}", "token 5", "integer out of range"),
            ("1 1 1 1 " + "1" * 5000, "token 5", "integer out of range: more than 4300 digits"),
            (f"1 2 1 1 {m} 1 {m}", "resource[1]", "the resources of agent 1 add up to more than"),
            (f"2 2 {m} 1 0 {-m} 1 1 1 1 5 5", "cost", "the costliest assignments of the jobs add "
                                                      "up to more than")):
        with pytest.raises(InputError) as ei:
            router.parse_gap(text)
        (p, msg), = ei.value.problems
        assert p == path and fragment in msg, msg


def test_gzip_compressed_instances_read_as_their_text(tmp_path: Path) -> None:
    import gzip

    import router
    from tests.conftest import GAP_INSTANCES, HAND

    plain = HAND / "split.yaml"
    packed = tmp_path / "split.yaml.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert router.load(packed) == router.load(plain)
    gap = tmp_path / "c0515_1.gz"
    gap.write_bytes(gzip.compress((GAP_INSTANCES / "c0515_1").read_bytes()))
    a, b = router.load(gap, format="gap"), router.load(GAP_INSTANCES / "c0515_1", format="gap")
    assert a.name == b.name == "c0515_1" and (a.cost == b.cost).all()
