"""Long work is visible (#25 item 2): the preflight's host-memory finding for
many vCPUs (TCG measurements in numatui.model.preflight), the boot timeout
growing with the vCPUs, progress lines on a terminal's stderr, and a timeout
that ends with what to do."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path
from typing import Any

from numatui.cli.run import describe_error, main
from numatui.model.preflight import (
    Severity,
    boot_timeout,
    qemu_memory_estimate,
    timeout_advice,
    vcpu_capacity,
)
from numatui.session.errors import CommandTimeout
from numatui.session.session import Session

MIB = 1 << 20


def test_capacity_finding_uses_the_measured_memory_per_vcpu() -> None:
    assert vcpu_capacity(8, 20 << 30) == []
    assert vcpu_capacity(8, None) == []
    # 512 vCPUs took 3759 MiB on QEMU 10.0 (TCG): the estimate is not below it
    assert qemu_memory_estimate(512) >= 3759 * MIB
    assert qemu_memory_estimate(255) >= 148 * MIB
    [finding] = vcpu_capacity(4096, 20 << 30)
    assert finding.severity is Severity.WARNING and finding.code == "host-memory-vcpus"
    assert "4096 vCPUs" in finding.message and "TCG" in finding.message and "KVM" in finding.message
    assert "1 vCPU " in vcpu_capacity(1, 1 * MIB)[0].message


def test_boot_timeout_grows_with_the_vcpus() -> None:
    assert boot_timeout(8) == boot_timeout(240) == 60
    assert boot_timeout(512) > 60 and boot_timeout(4096) > 15 * 60


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _plan(tmp: Path) -> str:
    path = tmp / "plan.json"
    path.write_text(json.dumps({"version": 1, "cpus": [{"node-id": 0, "socket-id": 0},
                                                        {"node-id": 1, "socket-id": 1}]}))
    return str(path)


def test_boot_progress_goes_to_a_terminals_stderr_only(qemu_factory: Any, tmp_path: Path) -> None:
    from conftest import DEFAULT_ARGS, numa_node_args

    for err, said in ((Tty(), True), (io.StringIO(), False)):
        q = qemu_factory([*DEFAULT_ARGS, *numa_node_args(2, 2048)])
        out = io.StringIO()
        assert main(["apply", q.sock, _plan(tmp_path), "--exit-preconfig"], stdout=out, stderr=err) == 0
        assert "left preconfig: QEMU is running" in out.getvalue()
        assert ("numatui: booting 8 vCPUs (x-exit-preconfig)" in err.getvalue()) is said, err.getvalue()


async def test_a_timeout_says_what_to_do(qemu: Any) -> None:
    """A stopped QEMU (SIGSTOP) answers nothing: the error names the command, the wait and what to do."""
    session = await Session.connect(qemu.sock)
    try:
        os.kill(qemu.proc.pid, signal.SIGSTOP)
        try:
            await session.execute("query-status", timeout=0.3)
        except CommandTimeout as exc:
            code, line = describe_error(exc)
        else:
            raise AssertionError("a stopped QEMU answered")
        finally:
            os.kill(qemu.proc.pid, signal.SIGCONT)
        assert code == 1 and "did not answer query-status within 0.3 s" in line
        assert "--timeout SECONDS" in line
        assert "numatui show ADDRESS" in timeout_advice("x-exit-preconfig")
    finally:
        await session.close()


async def test_a_batch_shows_its_replies_as_they_come(qemu: Any) -> None:
    """`applying N/M` while a batch is answered: a fake peer in front of real
    QEMU (named so: QEMU cannot be made slow on demand) sends each reply 0.4 s
    late, as a loaded host does; the preset's two set-numa-node commands then
    take 0.8 s, and the status bar's badge reads ``applying 1/2`` in between.
    The CLI says the same on a terminal's stderr (one line a second)."""
    import asyncio
    import time

    from fake_qmp import HostileProxy
    from tui_helpers import settle

    from numatui.cli.commands import replies_shown
    from numatui.core.vm import Vm
    from numatui.tui.app import NumaApp
    from numatui.tui.status import StatusBar

    path = Path(qemu.extra["dir"]) / "slow.sock"
    async with HostileProxy(path, qemu.sock, "x", keep_errors=True) as proxy:
        session = await Session.connect(str(path), nodes=2)
        try:
            app = NumaApp(session)
            badges: set[str] = set()
            async with app.run_test(size=(120, 40)) as pilot:
                await settle(app, pilot)
                proxy.reply_delay = 0.4
                await pilot.press("P", "enter")  # the socket preset: one command per socket
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not any("applying 1/2" in b for b in badges):
                    await asyncio.sleep(0.05)
                    badges.add(str(app.query_one(StatusBar).content).split("\n")[0])
                proxy.reply_delay = 0.0
                await settle(app, pilot)
            assert any("applying 1/2" in b for b in badges), badges
            assert set((await qemu.nodes()).values()) == {0, 1}  # the preset went through

            err = Tty()
            vm = Vm(session)
            with replies_shown(vm, err):
                assert session.progress is not None
                session.progress(1, 496)  # less than a second in: nothing yet
                time.sleep(1.05)
                session.progress(120, 496)
            assert err.getvalue() == "numatui: applying: 120/496 replies\n"
            assert session.progress is None
        finally:
            proxy.reply_delay = 0.0
            await session.close()
