"""Loading: text parsing (parse_*/loads) kept apart from file reading (load/read_text)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

import router
from router.errors import InputError
from router.instance import GapInstance, Instance
from router.io.read import format_of, loads, read_text
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
