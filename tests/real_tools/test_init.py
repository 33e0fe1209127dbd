"""`generate.py init` on expositions of real trading bots not written for this repository: each
produced spec generates and passes what `make check` runs (promtool check config/rules, promtool
test rules, amtool), and `init --from URL` reads a live /metrics over real HTTP."""
from __future__ import annotations

import pytest

from stackgen import checks
from tests.conftest import ROOT, need_tools, run_generate
from tests.e2e.fakebots import FakeBot

pytestmark = pytest.mark.tools

OTHERS = sorted((ROOT / "tests" / "fixtures" / "expositions" / "others").glob("*.prom"))


def test_there_are_three_real_expositions():
    assert len(OTHERS) >= 3


@pytest.mark.parametrize("exposition", OTHERS, ids=[p.stem for p in OTHERS])
def test_init_spec_generates_and_passes_make_check(exposition, tmp_path):
    need_tools("promtool", "amtool")
    spec = tmp_path / "bot.yaml"
    proc = run_generate("init", "--from", str(exposition), "--out", str(spec))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"(profile {exposition.stem}-profile): alerts " in proc.stdout and "mapped: " in proc.stdout
    proc = run_generate("--spec", str(spec), "--out", str(tmp_path / "tree"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    failed = [f"{r.name}:\n{r.output}" for r in checks.run_all(tmp_path / "tree") if not r.ok]
    assert not failed, "\n".join(failed)
    # The bot's own probe of the spec init wrote: every mapping found.
    proc = run_generate("--spec", str(spec), "--probe", str(exposition))
    assert proc.returncode == 0 and "missing" not in proc.stdout, proc.stdout + proc.stderr


def test_init_and_probe_read_a_live_metrics_endpoint(tmp_path):
    bot = FakeBot(lines=(OTHERS[0].read_text().splitlines()))
    try:
        url = f"http://{bot.target}/metrics"
        spec = tmp_path / "live.yaml"
        proc = run_generate("init", "--from", url, "--out", str(spec), "--bot", "live")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"targets:\n  - {bot.target}" in spec.read_text()
        proc = run_generate("--spec", str(spec), "--probe", url)
        assert proc.returncode == 0 and "mappings found" in proc.stdout, proc.stdout + proc.stderr
    finally:
        bot.stop()
    proc = run_generate("--spec", str(spec), "--probe", url)          # the bot is gone
    assert proc.returncode == 2 and "cannot read the bot's metrics" in proc.stderr, proc.stderr
