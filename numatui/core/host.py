"""The host beside the guest: its NUMA view (for the "host" preset and vCPU
pinning) and the capacity findings of the preflight, for both faces.

The model does no I/O: this module reads the host (``/`` by default, or a
recorded ``/sys`` + ``/proc`` tree: ``--host-root``) and hands the facts to the
pure functions (:func:`numatui.model.host_preset.host_plan` through the
preset's input, :func:`numatui.model.host_checks.check_capacity`,
:func:`numatui.model.pinning.plan_pinning`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from numatui.model.errors import NumaError
from numatui.model.host import HostTopology
from numatui.model.host_checks import check_capacity, needs_from
from numatui.model.preflight import Finding, present_at_boot, vcpu_capacity
from numatui.session.errors import SessionError
from numatui.session.host_reader import read_host

if TYPE_CHECKING:
    from numatui.session.session import Session


class HostView:
    """The host numatui runs on (or a recorded tree), read once on demand."""

    def __init__(self, root: str = "/") -> None:
        self.root = root
        self._host: HostTopology | None = None
        self.error: str | None = None

    def get(self) -> HostTopology | None:
        """The host; None when it cannot be read (``error`` says why)."""
        if self._host is None and self.error is None:
            try:
                self._host = read_host(self.root)
            except (SessionError, NumaError, OSError) as exc:
                self.error = str(exc)
        return self._host


def capacity_findings(session: Session, host: HostTopology | None) -> list[Finding]:
    """Whether the host's free memory holds QEMU building the vCPUs present at
    boot (:func:`numatui.model.preflight.vcpu_capacity`), and :func:`check_capacity`
    of the session's plan on ``host`` (nothing when unknown or when no guest node
    is bound to exactly one host node)."""
    if host is None:
        return []
    at_boot = present_at_boot(session.topology, session.boot_cpus())
    vcpus = sum(s.vcpus_count for s in session.topology.slots if s.key in at_boot)
    found = vcpu_capacity(vcpus, sum(n.free for n in host.nodes) if host.nodes else None)
    plan = session.plan()
    binding = plan.binding()
    if not binding:
        return found
    return found + check_capacity(host, needs_from(session.topology, plan), binding)
