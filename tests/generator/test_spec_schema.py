"""The spec's JSON Schema (schema/spec.schema.json): derived from the reader, accepts what it accepts,
rejects the bad-spec tables' cases a schema can express.

Validated with the real `jsonschema` (draft 7, what the YAML language server reads).
"""
from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from stackgen import spec_schema
from stackgen.model import stack as stack_model
from tests.conftest import ROOT
from tests.generator import test_bad_specs, test_hostile_specs
from tests.generator.fixture import BASE, spec_text

SHIPPED = spec_schema.corpus(ROOT)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads((ROOT / spec_schema.SCHEMA_FILE).read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _problem(validator, data) -> str | None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    return None if error is None else f"{error.json_path}: {error.message[:200]}"


def test_the_committed_schema_is_generated():
    assert (ROOT / spec_schema.SCHEMA_FILE).read_text(encoding="utf-8") == \
        spec_schema.render(ROOT)[spec_schema.SCHEMA_FILE], "regenerate with `make generate`"


@pytest.mark.parametrize("path", [*SHIPPED, BASE], ids=lambda p: p.name)
def test_the_schema_accepts_the_shipped_specs_and_the_tests_spec(validator, path):
    assert _problem(validator, yaml.safe_load(path.read_text(encoding="utf-8"))) is None


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_each_shipped_spec_names_the_schema_for_editors(path):
    """The YAML language server's modeline (VS Code, Neovim, ...), then JetBrains' comment."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for line, prefix in zip(lines, ("# yaml-language-server: $schema=", "# $schema: "), strict=False):
        assert line.startswith(prefix), line
        assert (path.parent / line[len(prefix):]).resolve() == (ROOT / spec_schema.SCHEMA_FILE).resolve()


# The tables' cases a schema expresses (a key, a type, a bound, a pattern, an enum); the others are
# judged by the reader alone: comparisons between fields, the catalog, PromQL, durations' bounds,
# and what YAML 1.1 reads differently (the schema sees the data after parsing).
SCHEMA_REJECTS = {
    "wrong version", "unknown key with suggestion", "ratio out of range", "ratio at its open bound", "bad duration",
    "infinite threshold", "whole number expected", "positive loss limit", "unknown severity",
    "unknown family with suggestion", "unknown field of a family", "watchdog is a switch", "wrong type",
    "target without port", "inline secret", "panel cites an unknown field", "panel cites the python spelling",
    "panel cites an unknown family", "free-form test series without values", "alert of one's own neither kind",
    # hostile specs that parse as YAML
    "billion laughs", "recursive alias", "400-digit integer", "labels: 5", "window end 24:30",
    "5000-digit duration", "on as a key",
}
_BAD = [(name, spec_text(edit)) for name, edit, _ in test_bad_specs.CASES if name in SCHEMA_REJECTS]
_HOSTILE = [(name, text) for name, text, _ in test_hostile_specs.CASES if name in SCHEMA_REJECTS]


def test_every_listed_case_is_in_a_table():
    assert {name for name, _ in _BAD + _HOSTILE} == SCHEMA_REJECTS


@pytest.mark.parametrize("name, text", _BAD + _HOSTILE, ids=[name for name, _ in _BAD + _HOSTILE])
def test_the_schema_rejects_what_it_can_express(validator, name, text):
    assert _problem(validator, yaml.safe_load(text)) is not None, f"{name}: the schema accepts it"


def test_a_key_the_reader_declares_is_in_the_schema(monkeypatch):
    """No second copy: a section the reader starts to accept appears in the schema with nothing else changed."""
    monkeypatch.setattr(stack_model, "OPTIONAL", stack_model.OPTIONAL + ("newsection",))
    schema = spec_schema.build([BASE])
    assert "newsection" in schema["properties"]
    assert "newsection" not in json.loads((ROOT / spec_schema.SCHEMA_FILE).read_text())["properties"]
    # and what the tests' spec never reaches stays open instead of guessed
    assert schema["properties"]["newsection"] == {}
