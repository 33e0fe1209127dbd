"""to_json's layout writes the same bytes as json.dumps(indent=2, sort_keys=True, ensure_ascii=False)."""
from __future__ import annotations

import json
import math
import random

import pytest

from stackgen.render import output

LEAVES = [0, 1, -7, 2**70, 0.1, 1e-7, 1e300, -0.0, 3.0, True, False, None, "", "a", 'q"uote\\', "é—📈",
          "\n\t\x00\x7f", "\u2028", "</script>"]


def _value(rng: random.Random, depth: int):
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return rng.choice(LEAVES)
    if roll < 0.7:
        return {rng.choice(["b", "a", "é", "A", "", "10", "9", "z z"]) + str(rng.randint(0, 3)): _value(rng, depth + 1)
                for _ in range(rng.randint(0, 5))}
    return [_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]


@pytest.mark.parametrize("seed", range(40))
def test_same_bytes_as_json_dumps(seed):
    data = _value(random.Random(seed), 0)
    assert output.to_json(data) == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("data", [{"x": math.nan}, {"x": [math.inf]}, {"t": (1, 2)}, {1: "int key"}, [{"a": {}}, []]])
def test_values_outside_the_fast_layout_fall_back(data):
    assert output.to_json(data) == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
