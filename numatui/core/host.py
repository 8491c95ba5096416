"""The host beside the guest: its NUMA view, the "like the host" preset, the
capacity findings of the preflight and vCPU pinning, for both faces.

The model does no I/O: this module reads the host (``/`` by default, or a
recorded ``/sys`` + ``/proc`` tree: ``--host-root``) and hands the facts to the
pure functions (:func:`numatui.model.host_preset.host_plan`,
:func:`numatui.model.host_checks.check_capacity`,
:func:`numatui.model.pinning.plan_pinning`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from numatui.model.errors import NumaError
from numatui.model.host import HostTopology
from numatui.model.host_checks import check_capacity, needs_from
from numatui.model.host_preset import host_plan
from numatui.model.plan import Plan
from numatui.model.preflight import Finding
from numatui.model.presets import Preset, PresetError, PresetInput, get, register
from numatui.session.errors import SessionError
from numatui.session.host_reader import read_host

if TYPE_CHECKING:
    from numatui.session.session import Session

#: The preset's name (``numatui apply --preset host``, the TUI's chooser).
HOST_PRESET = "host"


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


@dataclass
class _Context:
    host: HostTopology | None = None
    ram: int | None = None


_CONTEXT = _Context()


@contextlib.contextmanager
def host_context(host: HostTopology | None, ram: int | None) -> Iterator[None]:
    """The host and ``-m`` the "host" preset sees while it runs (the registry's
    functions get only the topology: the facts that need I/O come from here)."""
    old = _CONTEXT.host, _CONTEXT.ram
    _CONTEXT.host, _CONTEXT.ram = host, ram
    try:
        yield
    finally:
        _CONTEXT.host, _CONTEXT.ram = old


def _like_host(inp: PresetInput) -> Plan:
    host, ram = _CONTEXT.host, _CONTEXT.ram
    if host is None:
        raise PresetError("preset host needs the host's NUMA view, which numatui could not read")
    if not ram:
        raise PresetError("preset host splits the guest's RAM, and QEMU did not say its -m size")
    return host_plan(host, inp.topology, ram)


def register_host_preset() -> None:
    """Put "host" in the preset registry (once)."""
    try:
        get(HOST_PRESET)
    except PresetError:
        register(Preset(HOST_PRESET, "the host's NUMA layout: a guest node per host node, memory "
                        "bound, vCPUs pinned after boot",
                        "one node per host node the vCPUs can fill", _like_host))


register_host_preset()


def capacity_findings(session: Session, host: HostTopology | None) -> list[Finding]:
    """:func:`check_capacity` of the session's plan on ``host`` (nothing when unknown
    or when no guest node is bound to exactly one host node)."""
    if host is None:
        return []
    plan = session.plan()
    binding = plan.binding()
    if not binding:
        return []
    return check_capacity(host, needs_from(session.topology, plan), binding)
