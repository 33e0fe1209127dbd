"""`make help` and the README's table of make targets say the same: one text per target, in the Makefile."""
from __future__ import annotations

import re

from tests.conftest import ROOT

_TARGET = re.compile(r"^([a-zA-Z_-]+):.*## (.*)$", re.M)
_ROW = re.compile(r"^\| `make ([a-zA-Z_-]+)` \| (.*) \|$", re.M)


def test_the_readme_table_is_make_helps_text():
    makefile = dict(_TARGET.findall((ROOT / "Makefile").read_text()))
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Make targets"):]
    section = section[:section.index("\n## ", 3)]
    table = {target: text.replace("\\|", "|") for target, text in _ROW.findall(section)}
    assert list(table) == list(makefile), "README's make targets table lists other targets than `make help`"
    for target, text in makefile.items():
        assert table[target] == text, f"make {target}: README says {table[target]!r}, make help says {text!r}"


def test_every_documented_make_command_is_a_target():
    makefile = dict(_TARGET.findall((ROOT / "Makefile").read_text()))
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for path in docs:
        for target in re.findall(r"`make ([a-z][a-z_-]*)", path.read_text()):
            assert target in makefile, f"{path.name} mentions `make {target}`, which the Makefile does not have"
