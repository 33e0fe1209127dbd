"""`make tools`: Debian's packages installed without leaving their services running. The pieces run
for real here (the policy-rc.d guard executed, the real dpkg file lists, the state file, the CLI);
only `systemctl` itself cannot run on this machine, which has no systemd."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest

from stackctl import tools
from tests.conftest import ROOT


def test_the_guard_forbids_every_start_and_is_removed_afterwards(tmp_path):
    policy = tmp_path / "usr" / "sbin" / "policy-rc.d"
    with tools.services_not_started(policy) as created:
        assert created and stat.S_IMODE(policy.stat().st_mode) == 0o755
        # What invoke-rc.d / deb-systemd-invoke run before starting a service: 101 = forbidden.
        assert subprocess.run([str(policy), "prometheus", "start"]).returncode == 101
    assert not policy.exists()


def test_the_guard_is_removed_when_the_installation_fails(tmp_path):
    policy = tmp_path / "policy-rc.d"
    with pytest.raises(RuntimeError):
        with tools.services_not_started(policy):
            raise RuntimeError("apt-get failed")
    assert not policy.exists()


def test_an_existing_policy_is_never_touched(tmp_path):
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 0\n")
    policy.chmod(0o700)
    with tools.services_not_started(policy) as created:
        assert not created
    assert policy.read_text() == "#!/bin/sh\nexit 0\n" and stat.S_IMODE(policy.stat().st_mode) == 0o700


def test_a_policy_someone_else_replaced_meanwhile_stays(tmp_path):
    policy = tmp_path / "policy-rc.d"
    with tools.services_not_started(policy):
        policy.write_text("#!/bin/sh\nexit 104\n")
    assert policy.read_text() == "#!/bin/sh\nexit 104\n"


DPKG_L = """/.
/etc
/etc/default
/etc/default/prometheus
/etc/init.d
/etc/init.d/prometheus
/lib
/lib/systemd
/lib/systemd/system
/lib/systemd/system/prometheus.service
/usr/lib/systemd/system/prometheus-extra.service
/usr/lib/systemd/system/prometheus.socket
/usr/share/doc/prometheus/examples/node.service
/usr/bin/prometheus
"""


def test_the_units_of_a_package_from_its_file_list():
    assert tools.units_of_package(DPKG_L) == ["prometheus-extra.service", "prometheus.service"]
    assert tools.units_of_package("") == []


@pytest.mark.parametrize("package, unit", [("prometheus", "prometheus.service"),
                                           ("prometheus-alertmanager", "prometheus-alertmanager.service")])
def test_the_units_of_the_real_debian_packages(package, unit):
    if shutil.which("dpkg-query") is None or not tools.package_installed(package):
        pytest.skip(f"Debian's {package} is not installed here")
    assert unit in tools.package_units(package)


def test_the_state_records_only_what_this_step_installed_and_only_that_is_disabled(tmp_path):
    state_file = tmp_path / "state" / "installed-units.json"
    assert tools.read_state(state_file) == {"packages": [], "units": []}
    tools.record(state_file, ["prometheus"], ["prometheus.service"])
    state = tools.record(state_file, ["prometheus-alertmanager"], ["prometheus-alertmanager.service"])
    assert tools.read_state(state_file) == state == {
        "packages": ["prometheus", "prometheus-alertmanager"],
        "units": ["prometheus-alertmanager.service", "prometheus.service"]}
    assert tools.disable_commands(state) == [["systemctl", "disable", "--now", "prometheus-alertmanager.service"],
                                             ["systemctl", "disable", "--now", "prometheus.service"]]
    # A package that was there before this step was never recorded: its unit is never touched.
    assert tools.disable_commands(tools.record(state_file, [], [])) == tools.disable_commands(state)
    state_file.write_text("not json")
    assert tools.disable_commands(tools.read_state(state_file)) == []


def test_systemd_is_detected_as_sd_booted_does(tmp_path):
    assert not tools.systemd_running(tmp_path)
    (tmp_path / "run" / "systemd" / "system").mkdir(parents=True)
    assert tools.systemd_running(tmp_path)


def _cli(tmp_path, path_env):
    env = dict(os.environ, PATH=path_env, STACK_TOOLS_STATE=str(tmp_path / "state.json"), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "stackctl.tools", "install"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def test_make_tools_with_everything_installed_changes_nothing(tmp_path):
    if tools.missing_packages():
        pytest.skip("Debian's prometheus and prometheus-alertmanager are not installed here")
    before = tools.POLICY_RC_D.read_bytes() if tools.POLICY_RC_D.exists() else None
    proc = _cli(tmp_path, os.environ["PATH"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("tools: prometheus, promtool, alertmanager, amtool and VictoriaMetrics (vmalert, vmagent) "
                           "are installed\n")
    assert not (tmp_path / "state.json").exists()
    assert (tools.POLICY_RC_D.read_bytes() if tools.POLICY_RC_D.exists() else None) == before


def test_make_tools_without_apt_says_what_to_run(tmp_path):
    proc = _cli(tmp_path, str(tmp_path / "empty-path"))
    assert proc.returncode == 1
    assert "missing (prometheus, prometheus-alertmanager, victoria-metrics); run: sudo apt-get install " \
           "--no-install-recommends prometheus prometheus-alertmanager victoria-metrics" in proc.stderr
    assert not (tmp_path / "state.json").exists()


def test_make_tools_without_the_optional_victoria_metrics_still_succeeds(tmp_path):
    """A machine that cannot install VictoriaMetrics (no root, no apt) still runs the suite; only the
    scale-out tests skip. The required tools are real binaries on PATH, VictoriaMetrics' are not."""
    required = [binary for package, binaries in tools.PACKAGES.items() if package not in tools.OPTIONAL
                for binary in binaries]
    if any(shutil.which(b) is None for b in required):
        pytest.skip("Debian's prometheus and prometheus-alertmanager are not installed here")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for binary in required:
        (bin_dir / binary).symlink_to(shutil.which(binary))
    proc = _cli(tmp_path, str(bin_dir))
    assert proc.returncode == 0, proc.stderr
    assert "victoria-metrics not installed (optional" in proc.stdout
    assert not (tmp_path / "state.json").exists()
