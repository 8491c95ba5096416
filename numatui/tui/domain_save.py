"""``numatui domain``'s part of the TUI: Save to domain (ctrl+s and its button),
and the question ``q`` asks when the layout is not saved.  The saving itself
is :meth:`numatui.core.domain.DomainTarget.save_now`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from numatui.model.errors import NumaError
from numatui.session.errors import SessionError
from numatui.tui.confirm import ConfirmDialog

if TYPE_CHECKING:
    from numatui.core.domain import DomainTarget
    from numatui.core.vm import Vm

UNSAVED_QUESTION = ("The layout is not saved to the domain. Quit anyway (the domain keeps its "
                    "old layout)? Save first with ctrl+s or the Save to domain button.")


def unsaved_dialog() -> ConfirmDialog:
    return ConfirmDialog("Quit without saving?", UNSAVED_QUESTION, "Quit", "Stay")


async def save_domain(domain: DomainTarget | None, vm: Vm, notify: Callable[..., Any]) -> None:
    """Write the layout QEMU has now into the domain; say where (``notify``), or why not."""
    if domain is None:
        notify("Save to domain: numatui was not opened on a domain (numatui domain SOURCE)",
               severity="warning", markup=False)
        return
    try:
        said = await domain.save_now(vm)
    except (NumaError, SessionError, OSError) as exc:
        notify(f"Not saved: {exc}", severity="error", markup=False)
        return
    notify(said, title="Save to domain", markup=False)
