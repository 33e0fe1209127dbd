"""Templates that only put names in text are filled in without Jinja; they must print what Jinja prints."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stackgen.alerts import families as fam

_names = st.sampled_from(["window", "threshold", "a", "_b2", "none", "true", "min", "missing"])
_values = st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.booleans(), st.none(),
                    st.lists(st.integers(), max_size=2))
_data = st.text(st.sampled_from(list("ab {}$|<>%#-\n\r\t")), max_size=12)


@st.composite
def _templates(draw):
    pieces = []
    for _ in range(draw(st.integers(0, 4))):
        pieces.append(draw(_data))
        pieces.append(draw(st.sampled_from(["<< {} >>", "<<{}>>", "<<  {}\n>>", "<<- {} >>"])).format(draw(_names)))
    pieces.append(draw(_data))
    return "".join(pieces)


def _outcome(function, text, context):
    try:
        return ("ok", function(text, context))
    except Exception as exc:                    # noqa: BLE001 - what Jinja raises is part of the answer
        return ("error", type(exc).__name__)


def _jinja(text, context):
    try:
        return ("ok", fam.template(text).render(context))
    except Exception as exc:                    # noqa: BLE001 - what Jinja raises is part of the answer
        return ("error", type(exc).__name__)


def _ours(text, context):
    try:
        return ("ok", fam.render(text, context))
    except Exception as exc:                    # noqa: BLE001
        return ("error", type(exc).__name__)


@settings(max_examples=300, deadline=None)
@given(text=_templates(), context=st.dictionaries(_names.filter(lambda n: n != "missing"), _values))
def test_render_prints_what_jinja_prints(text, context):
    assert _ours(text, context) == _jinja(text, context)


@settings(max_examples=100, deadline=None)
@given(name=_names, context=st.dictionaries(_names, _values))
def test_evaluate_of_a_bare_name_is_what_jinja_returns(name, context):
    ours = _outcome(fam.evaluate, name, context)
    theirs = _outcome(lambda text, ctx: fam.expression(text)(**ctx), name, context)
    assert type(ours[1]) is type(theirs[1])
    if name in context:                                  # else both are Jinja's StrictUndefined
        assert ours == theirs or ours[1] != ours[1]      # NaN


def test_plain_templates_skip_jinja_and_others_do_not():
    assert fam._plain_parts("up for << window >>\n") == ("up for ", "window", "")
    assert fam._plain_parts("<< const(1) >>") is None
    assert fam._plain_parts("<< x | g >>") is None
    assert fam._plain_parts("<% if x %>y<% endif %>") is None
    assert fam._plain_parts("<< none >>") is None
    assert fam._plain_parts("<<< window >>") is None


_operands = st.sampled_from(["a", "b", "1", "2.5", "'x'", "min(a, 3)", "ceil(b)", "a | g", "none", "[1, 2]"])
_expressions = st.recursive(_operands, lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from([" + ", " * ", " / ", " - ", " > ", " and ", " ~ "]), inner).map("".join),
    inner.map(lambda e: f"({e})")), max_leaves=5)


@settings(max_examples=200, deadline=None)
@given(text=_expressions, a=st.one_of(st.integers(-5, 5), st.floats(0.1, 9)), b=st.floats(0.5, 3))
def test_an_expression_evaluates_as_jinjas_compile_expression(text, a, b):
    context = {"a": a, "b": b}
    ours = _outcome(lambda t, c: fam.expression(t)(**c), text, context)
    theirs = _outcome(lambda t, c: fam.ENV.compile_expression(t, undefined_to_none=False)(**c), text, context)
    assert ours == theirs or (ours[1] != ours[1] and theirs[1] != theirs[1])


def test_the_bytecode_cache_gives_the_same_templates_and_is_used(tmp_path, monkeypatch):
    """Recipes compiled once are loaded from Jinja's bytecode cache by the next run, with the same output."""
    import jinja2

    from tests.generator import fixture

    plain = fixture.render()[1]
    cache = jinja2.FileSystemBytecodeCache(str(tmp_path))
    loads = []
    real_load = cache.load_bytecode
    monkeypatch.setattr(cache, "load_bytecode", lambda bucket: loads.append(1) or real_load(bucket))
    monkeypatch.setattr(fam, "ENV", fam.environment(cache))
    try:
        for run in range(2):
            fam.template.cache_clear()
            fam.expression.cache_clear()
            fam.ENV.cache.clear()
            loads.clear()
            assert fixture.render()[1] == plain
            if run == 0:
                written = sorted(tmp_path.iterdir())
                assert len(written) > 20
        assert sorted(tmp_path.iterdir()) == written          # nothing compiled anew
        assert len(loads) == len(written)
    finally:
        fam.template.cache_clear()
        fam.expression.cache_clear()
