"""to_yaml's fast path for long JSON values writes the same bytes as PyYAML's own emitter."""
from __future__ import annotations

import json
import random

import pytest
import yaml

from stackgen.render import output

WORDS = ["a", "bb", "it's", "x" * 40, "{", "}", "[1,2]", "é", "ü—", "\U0001f4c8", "'", "''", "q:r", "#", "-"]


def _reference(data, sort_keys: bool) -> str:
    return output.header("spec.yaml") + output._dump(data, sort_keys)


def _text(rng: random.Random, length: int) -> str:
    """A JSON document with runs of one or more spaces, quotes and non-ASCII text, about `length` long."""
    words = []
    while sum(len(w) + 1 for w in words) < length:
        words.append(rng.choice(WORDS) + " " * rng.choice([1, 1, 1, 2, 3]))
    return json.dumps({"description": "".join(words), "panels": [{"title": rng.choice(WORDS)}]},
                      separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("seed", range(12))
def test_long_json_values_match_the_pure_emitter(seed, monkeypatch):
    rng = random.Random(seed)
    width = rng.choice([60, 200, 1500])
    monkeypatch.setattr(output, "WIDTH", width)
    monkeypatch.setattr(output, "_FAST_MIN", 20)
    key = "k" * rng.randint(1, 30) + ".json"
    value = _text(rng, rng.randint(30, 5 * width))
    data = {"apiVersion": "v1", "data": {key: value, "other": "x"},
            "nested": {"deeper": {"deepest": {key: value}}}, "list": [{"in": "seq", "a": value}],
            "z": {"b": _text(rng, width), "a": _text(rng, 3 * width)}}
    for sort_keys in (False, True):
        expected = _reference(data, sort_keys)
        assert output.to_yaml(data, "spec.yaml", sort_keys=sort_keys) == expected
        assert yaml.safe_load(expected)["data"][key] == value


def test_the_fast_path_is_taken_for_a_long_value():
    value = json.dumps({"x": "word " * 5000}, separators=(",", ":"))
    found: list[str] = []
    light = output._take_long({"data": {"d.json": value}}, found)
    assert found == [value] and light["data"]["d.json"].startswith(output._TOKEN)
    assert output.to_yaml({"data": {"d.json": value}}, "spec.yaml") == _reference({"data": {"d.json": value}}, True)


@pytest.mark.parametrize("value", ["{a\nb}" * 300, "{" + "\x07" * 2000 + "}", "[ " + "x " * 1000,
                                   "{" + "\u2028" * 1500, "{" + "\x85" * 1500, "{" + "\ufeff" * 1500])
def test_values_the_fast_path_cannot_write_fall_back(value):
    assert output.to_yaml({"data": {"k": value}}, "spec.yaml") == _reference({"data": {"k": value}}, True)
