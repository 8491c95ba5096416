"""A real libvirtd for the domain tests (qemu:///system), no systemd needed.

``libvirtd`` (session fixture): starts ``virtlogd -d`` and ``libvirtd -d`` as
root when they are not running (Debian's libvirt-daemon-system provides both
and the ``libvirt-qemu`` user; ``scripts/dev test`` installs it), then
defines and undefines one tiny domain: libvirtd's first ``define`` probes
every QEMU binary's capabilities (~47 s measured), paid once here.  Without
root, or without the daemon installed, the tests that use it skip with one
line that says why.  Daemons it started are left running (another session
may use them); tests undefine the domains they define.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

URI = "qemu:///system"
#: Names of the domains the tests define start with this (and are undefined by them).
PREFIX = "numatui-test-"


def virsh(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``virsh -c qemu:///system ARGS``; AssertionError with its words when ``check`` fails."""
    proc = subprocess.run(["virsh", "-q", "-c", URI, *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"virsh {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _answers() -> bool:
    return virsh("uri", check=False, timeout=20).returncode == 0


def _daemon_running(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="session")
def libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URI of a running libvirtd (see the module docstring)."""
    if shutil.which("virsh") is None:
        pytest.skip("needs virsh (libvirt-clients): scripts/dev test installs it")
    if not _answers():
        if os.geteuid() != 0:
            pytest.skip("needs root to start libvirtd (qemu:///system), and it is not running")
        for daemon in ("virtlogd", "libvirtd"):
            if shutil.which(daemon) is None and not Path(f"/usr/sbin/{daemon}").exists():
                pytest.skip(f"needs {daemon} (libvirt-daemon-system): scripts/dev test installs it")
            if not _daemon_running(daemon):
                subprocess.run([shutil.which(daemon) or f"/usr/sbin/{daemon}", "-d"], check=True,
                               timeout=30)
        deadline = time.monotonic() + 30
        while not _answers():
            if time.monotonic() > deadline:
                raise AssertionError("libvirtd started but qemu:///system does not answer in 30 s")
            time.sleep(0.2)
    warm = tmp_path_factory.mktemp("libvirt-warm") / "warm.xml"
    name = f"{PREFIX}warm-{os.getpid()}"
    warm.write_text(f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
                    "<os><type arch='x86_64' machine='q35'>hvm</type></os></domain>")
    virsh("define", str(warm))  # the capabilities probe, once
    virsh("undefine", name)
    yield URI


def undefine(name: str) -> None:
    """Stop and forget a test's domain (quietly when it is not there)."""
    virsh("destroy", name, check=False)
    virsh("undefine", name, check=False)
