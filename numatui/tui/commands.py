"""The TUI's key bindings and command palette (ctrl+p), both derived from
:data:`numatui.core.actions.ACTIONS`: a key is declared there once."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.app import SystemCommand
from textual.binding import Binding, BindingType

from numatui.core.actions import ACTIONS, assign_binding_id
from numatui.core.vm import Vm
from numatui.model.presets import presets


def bindings(grid: bool = False, overview: bool = False) -> list[BindingType]:
    """The app's bindings (or, with ``grid``, the grid's keys; with
    ``overview``, the overview's), each with its binding id for user keymaps."""
    out: list[BindingType] = []
    for a in ACTIONS:
        if a.grid != grid or a.overview != overview or not a.keys:
            continue
        if a.id in ("assign", "assign_refused"):  # one binding per digit, shown once as 0-9
            out += [Binding(k, f"{a.id}({k})" if a.id == "assign" else a.id, a.label,
                            show=a.footer and k == "1", key_display=a.key_display,
                            id=assign_binding_id(k))
                    for k in a.keys.split(",")]
        else:
            if a.wide:  # first: its footer entry on a wide terminal (a key shows its first
                # enabled binding; on a narrow one this is disabled and the next one acts)
                out.append(Binding(a.keys, f"wide('{a.id}')", a.label, key_display=a.key_display,
                                   tooltip=a.tooltip or "", id=a.binding_id))  # remapped together
            out.append(Binding(a.keys, a.id, a.label, show=a.footer, key_display=a.key_display,
                               tooltip=a.tooltip or "", id=a.binding_id))
    return out


def numatui_commands(vm: Vm, run: Callable[[str], object],
                     run_on_grid: Callable[[str], object]) -> Iterable[SystemCommand]:
    """One palette entry per action (one per node for assign); ``run`` /
    ``run_on_grid`` run an action string on the app / the grid."""
    session = vm.session
    history = vm.keeper.history
    words = {"undo": history.undo_description() or "nothing to undo",
             "redo": history.redo_description() or "nothing to redo"}
    for a in ACTIONS:
        if not a.title:
            continue
        target = run_on_grid if a.grid else run
        if a.id == "assign":
            nodes = sorted({n.id for n in session.nodes}
                           | {s.node_id for s in session.topology.slots if s.node_id is not None})
            for node in nodes:
                yield SystemCommand(a.title.format(node=node), a.description.format(node=node),
                                    lambda node=node: run(f"assign({node})"))
            continue
        if a.id == "apply_preset":  # one entry per preset
            for p in presets():
                yield SystemCommand(a.title.format(preset=p.name),
                                    a.description.format(description=p.description),
                                    lambda name=p.name: run(f"apply_preset({name!r})"))
            continue
        yield SystemCommand(a.title.format(**words), a.description,
                            lambda action=a.id, target=target: target(action))
