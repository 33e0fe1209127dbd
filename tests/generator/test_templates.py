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
