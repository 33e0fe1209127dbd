"""to_yaml writes with libyaml's emitter (C) where PyYAML has it; the pure-Python emitter is the
fallback. Both must write the same bytes, or a generated file would depend on how PyYAML was built."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackgen.render import output
from tests.generator import fixture

needs_libyaml = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML was built without libyaml")


def _both(data, sort_keys: bool) -> tuple[str, str]:
    return (output.dump(data, sort_keys, output.PURE_DUMPER),
            output.dump(data, sort_keys, output._dumper(yaml.CSafeDumper)))


@needs_libyaml
def test_libyaml_is_used_where_pyyaml_has_it():
    assert output.DUMPER is not output.PURE_DUMPER
    assert issubclass(output.DUMPER, yaml.CSafeDumper)


@needs_libyaml
def test_every_generated_yaml_document_is_the_same_from_both_emitters(monkeypatch):
    documents = []
    real = output.dump
    monkeypatch.setattr(output, "dump", lambda data, sort_keys, dumper=None: documents.append(
        (data, sort_keys)) or real(data, sort_keys, dumper))
    fixture.render()
    monkeypatch.undo()
    assert len(documents) > 10
    for data, sort_keys in documents:
        pure, fast = _both(data, sort_keys)
        assert fast == pure


# Documents of every kind a spec can carry: quotes, colons, leading indicators, line breaks (literal
# blocks), trailing spaces, numbers and booleans as strings. The two emitters write the same bytes for
# text of printable BMP characters, tabs and newlines (all a generated file has), except that after a
# kept literal block (`|+`) either may end the document with `...` where the other does not. They
# differ past the BMP (pure escapes "\U0001F4C8"), on C0/C1 controls and Unicode line separators (NEL,
# U+2028), and on empty keys (pure writes `? ''`).
def _documents(text, key_text):
    scalars = st.one_of(text, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
                        st.sampled_from(["yes", "no", "1e3", "0x10", "~", "- a", "a: b", "#x", "x #y", "'q'",
                                         "a\nb\n", "a \n", " lead", "trail ", "{x}", "[1]", "*a", "&b", "!t",
                                         "%", "@", "`", "|", ">", "?", "", "\t", "a\tb", "\u00e9\u00fc"]))
    keys = st.one_of(key_text, st.integers())
    inner = st.recursive(scalars, lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(keys, kids, max_size=4)), max_leaves=25)
    return st.one_of(st.dictionaries(key_text, inner, max_size=5), st.lists(inner, max_size=4))


_plain = st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs", "Cc", "Zl", "Zp"),
                       exclude_characters="\x85\ufeff", include_characters="\n\t")
_plain_key = st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs", "Cc", "Zl", "Zp"),
                           exclude_characters="\x85\ufeff")
_any = st.characters(codec="utf-8", exclude_categories=("Cs",))
PLAIN = _documents(st.text(_plain, max_size=40), st.text(_plain_key, min_size=1, max_size=30))
ANY = _documents(st.text(_any, max_size=40), st.text(_any, max_size=30))


def _sortable(data, sort_keys: bool) -> bool:
    return not (sort_keys and isinstance(data, dict) and len({type(k) for k in data}) > 1)


@needs_libyaml
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=PLAIN, sort_keys=st.booleans())
def test_plain_documents_are_the_same_bytes_from_both_emitters(data, sort_keys):
    try:
        pure, fast = _both(data, sort_keys)
    except TypeError:                          # keys of mixed types cannot be sorted by either emitter
        return
    assert fast.removesuffix("...\n") == pure.removesuffix("...\n")
    assert yaml.safe_load(fast) == data


@needs_libyaml
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=ANY, sort_keys=st.booleans())
def test_any_document_reads_back_the_same_from_libyaml(data, sort_keys):
    """(The pure emitter fails this one: it writes a NEL, U+0085, single-quoted, and it reads back as a
    space; libyaml writes "\\N".)"""
    try:
        fast = output.dump(data, sort_keys, output._dumper(yaml.CSafeDumper))
    except TypeError:
        return
    assert yaml.safe_load(fast) == data


def test_to_yaml_starts_with_the_header_and_reads_back():
    data = {"b": [{"x": "it's: here"}, "multi\nline\n"], "a": {"deep": [1, 2.5, None, True]}}
    text = output.to_yaml(data, "spec.yaml")
    assert text.startswith(output.header("spec.yaml"))
    assert yaml.safe_load(text) == data
    assert text.index("\na:") < text.index("\nb:")          # sorted keys
    assert "\nb:\n- x: 'it''s: here'\n- |\n  multi\n" in text

