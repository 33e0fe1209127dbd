"""Cold start with the shipped spec's own timings (15 s evaluations, the Watchdog route's group_wait):
the first Watchdog notification reaches the dead man's switch within 30 s of `up`.

Only the webhook receivers are pointed at a receiver this test serves; every interval is the spec's.
"""
from __future__ import annotations

import copy
import secrets
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from stackgen.load import load_stack
from stackctl import envfile
from stackctl.native import NativeStack
from stackctl.settings import SERVICES, Settings
from tests.conftest import ROOT
from tests.e2e.conftest import Receiver, _free_ports, _need_binaries

pytestmark = pytest.mark.e2e
BUDGET = 30.0


def test_the_first_watchdog_arrives_within_30s_of_up_with_the_spec_timings(tmp_path, spec_data):
    _need_binaries()
    receiver = Receiver().start()
    native = None
    try:
        data = copy.deepcopy(spec_data)
        for r in data["alertmanager"]["receivers"]:
            if "webhook" in r:
                url = urlsplit(r["webhook"]["url"])
                r["webhook"]["url"] = urlunsplit(url._replace(netloc=f"{url.hostname}:{receiver.port}"))
        spec = tmp_path / "spec.yaml"
        spec.write_text(yaml.safe_dump(data, sort_keys=False))
        tree = tmp_path / "tree"
        proc = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--spec", str(spec), "--out", str(tree)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        settings = Settings.from_environment(
            tree, environ={v: secrets.token_urlsafe(18) for v in envfile.GENERATED}, spec=spec,
            run_dir=tmp_path / "run", ports=dict(zip(SERVICES, _free_ports(len(SERVICES)), strict=True)),
            wait_seconds=45.0)
        native = NativeStack(settings, load_stack(spec), out=lambda line: None)
        started = time.monotonic()
        assert native.up() == 0
        got = receiver.wait_for(lambda p, n, a: p == "/watchdog" and a["labels"]["alertname"] == "Watchdog",
                                started + BUDGET + 10 - time.monotonic())
        assert got, "no Watchdog notification"
        first = min(t for t, path in receiver.arrivals if path == "/watchdog") - started
        print(f"cold start with the spec's timings: first Watchdog {first:.1f}s after `up` began")
        assert first < BUDGET, f"first Watchdog {first:.1f}s after up"
    finally:
        if native is not None:
            native.down()
        receiver.stop()
