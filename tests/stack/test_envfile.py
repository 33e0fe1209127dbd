""".env is read as Docker Compose reads it: the cases are Compose's own documented examples.

Vendored from "`.env` file syntax" and "Interpolation syntax" on
https://docs.docker.com/compose/how-tos/environment-variables/variable-interpolation/
(docker/docs: content/manuals/compose/how-tos/environment-variables/variable-interpolation.md).
The cases marked "compose-go" are not on that page but are what Compose's parser does
(`export`, empty values, `$$`); they pin behaviour a user's .env relies on.
"""
from __future__ import annotations

import pytest

from stackctl.settings import Settings, StackError, read_env_file

# (.env text, the environment, VAR's value). OTHER is set in the environment where a case interpolates it.
DOCUMENTED = [
    # Each line represents a key-value pair; values can optionally be quoted; spaces around are ignored.
    ("VAR=VAL", {}, "VAL"),
    ('VAR="VAL"', {}, "VAL"),
    ("VAR='VAL'", {}, "VAL"),
    ("VAR: VAL", {}, "VAL"),                       # the delimiter can be `=` or `:`
    ("VAR = VAL  ", {}, "VAL"),
    # Inline comments for unquoted values must be preceded with a space.
    ("VAR=VAL # comment", {}, "VAL"),
    ("VAR=VAL# not a comment", {}, "VAL# not a comment"),
    # Inline comments for quoted values must follow the closing quote.
    ('VAR="VAL # not a comment"', {}, "VAL # not a comment"),
    ('VAR="VAL" # comment', {}, "VAL"),
    # Single-quoted values are used literally.
    ("VAR='$OTHER'", {"OTHER": "x"}, "$OTHER"),
    ("VAR='${OTHER}'", {"OTHER": "x"}, "${OTHER}"),
    # Quotes can be escaped with a backslash.
    ("VAR='Let\\'s go!'", {}, "Let's go!"),
    ('VAR="{\\"hello\\": \\"json\\"}"', {}, '{"hello": "json"}'),
    # Shell escapes (\n, \r, \t, \\) in double-quoted values only.
    ('VAR="some\\tvalue"', {}, "some\tvalue"),
    ("VAR='some\\tvalue'", {}, "some\\tvalue"),
    ("VAR=some\\tvalue", {}, "some\\tvalue"),
    # Single-quoted values can span multiple lines.
    ("VAR='SOME\nVALUE'", {}, "SOME\nVALUE"),
    # Lines beginning with # are comments; blank lines are ignored.
    ("# VAR=commented\n\nVAR=kept", {}, "kept"),
    # Interpolation: unquoted and double-quoted values, braced and unbraced, from the environment.
    ("VAR=${DEV_MODE:-false}", {"DEV_MODE": "true"}, "true"),
    ("VAR=${DEV_MODE:-false}", {}, "false"),
    ('VAR="$OTHER"', {"OTHER": "x"}, "x"),
    ("VAR=${OTHER}", {"OTHER": "x"}, "x"),
    ("VAR=${OTHER:-default}", {"OTHER": ""}, "default"),
    ("VAR=${OTHER-default}", {"OTHER": ""}, ""),
    ("VAR=${OTHER-default}", {}, "default"),
    ("VAR=${OTHER:+replacement}", {"OTHER": "x"}, "replacement"),
    ("VAR=${OTHER:+replacement}", {"OTHER": ""}, ""),
    ("VAR=${OTHER+replacement}", {"OTHER": ""}, "replacement"),
    ("VAR=${OTHER:?error}", {"OTHER": "x"}, "x"),
    ("VAR=$OTHER", {}, ""),                         # an unset variable is substituted with ""
    # compose-go: `export`, empty values, earlier lines of the file, `$$` for a literal dollar.
    ("export VAR=VAL", {}, "VAL"),
    ("VAR=", {}, ""),
    ('VAR=""', {}, ""),
    ("VAR= # only a comment", {}, ""),
    ("OTHER=first\nVAR=${OTHER}-second", {}, "first-second"),
    ("VAR=pa$$word", {}, "pa$word"),
]


@pytest.mark.parametrize("text, environ, expected", DOCUMENTED, ids=[c[0] for c in DOCUMENTED])
def test_env_file_reads_composes_documented_syntax(tmp_path, text, environ, expected):
    path = tmp_path / ".env"
    path.write_text(text + "\n", encoding="utf-8")
    assert read_env_file(path, environ)["VAR"] == expected


def test_the_environment_wins_over_the_env_file_in_settings(tmp_path):
    """A commented password line gives every service the same password (the 5 cases the old reader got wrong)."""
    (tmp_path / ".env").write_text('PROM_WEB_PASSWORD=s3cret # rotated in May\nAM_PORT="19093"\n'
                                   "GRAFANA_PORT=19000\n")
    settings = Settings.from_environment(tmp_path, environ={"GRAFANA_PORT": "19001"})
    assert settings.environ["PROM_WEB_PASSWORD"] == "s3cret"
    assert settings.ports["alertmanager"] == 19093 and settings.ports["grafana"] == 19001


@pytest.mark.parametrize("text, message", [
    ("GOOD=1\nnot a line at all\n", ":2: not a KEY=VALUE line"),
    ("VAR=${MISSING:?set MISSING in .env}\n", ":1: MISSING: set MISSING in .env"),
])
def test_env_file_errors_name_the_file_and_line(tmp_path, text, message):
    path = tmp_path / ".env"
    path.write_text(text)
    with pytest.raises(StackError, match=f"^{path}{message}"):
        read_env_file(path, {})
