"""In-process helpers over the generator tests' own small spec (testdata/base.yaml).

Nothing here reads the shipped spec.yaml: its numbers belong to the user.
"""
from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest
import yaml

from stackgen.errors import SpecError
from stackgen.load import read_stack
from stackgen.model.stack import Stack
from stackgen.pipeline import render_all
from stackgen.spec.fields import Field
from stackgen.spec.loader import parse_yaml

TESTDATA = Path(__file__).resolve().parent / "testdata"
BASE = TESTDATA / "base.yaml"
NAME = "spec.yaml"


@functools.lru_cache(maxsize=1)
def base_text() -> str:
    return BASE.read_text()


def base_data() -> dict:
    return copy.deepcopy(_base_data())


@functools.lru_cache(maxsize=1)
def _base_data() -> dict:
    return yaml.safe_load(base_text())


def spec_text(edit=None) -> str:
    if edit is None:
        return base_text()
    data = base_data()
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def load(text: str, name: str = NAME) -> Stack:
    value, lines = parse_yaml(text, name)
    return read_stack(Field(value, (), lines, name))


def stack_of(edit=None) -> Stack:
    return load(spec_text(edit))


def render(edit=None) -> tuple[Stack, dict[str, str]]:
    stack = stack_of(edit)
    return stack, render_all(stack)


@functools.lru_cache(maxsize=1)
def _base_render() -> tuple[Stack, dict[str, str]]:
    return render()


def base_render() -> tuple[Stack, dict[str, str]]:
    """The base spec rendered once per session (a fresh dict each call; the Stack is frozen).
    Tests that need a render of their own, such as rendering twice, call render()."""
    stack, files = _base_render()
    return stack, dict(files)


def error_of(edit=None, text: str | None = None) -> str:
    """The one-line error a bad spec gives (what generate.py prints after `error: `)."""
    with pytest.raises(SpecError) as info:
        stack = load(text if text is not None else spec_text(edit))
        render_all(stack)
    return str(info.value)


def setter(path, value):
    def edit(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        if value is None:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return edit
