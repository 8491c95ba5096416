"""The user actions of the TUI, declared once: id, keys, labels and when each
is available.  The TUI derives its key bindings, its footer, what
``check_action`` allows, its help screen and its command palette from
:data:`ACTIONS`.  Textual-free: a key is a Textual key name, ``when`` a
predicate over :class:`State`.

Every keyed action has a binding id (:attr:`Action.binding_id`; the digits
are ``assign-0`` .. ``assign-9``), the names a user's ``[keys]`` table
remaps (:mod:`numatui.tui.keymap`); :func:`key_of` and :func:`help_rows`
show the keys in force under such a keymap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class State:
    """What decides whether an action is available."""

    booted: bool = False  # x-exit-preconfig done
    dialog: bool = False  # a dialog or editor is on top
    domain: bool = False  # editing a libvirt domain (numatui domain)
    gone: bool = False  # QEMU went away (R relaunches or reconnects)
    wide: bool = False  # the terminal has room for the WIDE footer entries


def _any(state: State) -> bool:
    return not state.dialog


def _preconfig(state: State) -> bool:
    return not state.dialog and not state.booted


def _running(state: State) -> bool:
    return not state.dialog and state.booted


def _domain(state: State) -> bool:
    return not state.dialog and state.domain


def _preconfig_live(state: State) -> bool:
    """In preconfig with QEMU there: what sends to it at once (the footer's 0-9, X)."""
    return _preconfig(state) and not state.gone


def _gone(state: State) -> bool:
    return not state.dialog and state.gone


def _always(state: State) -> bool:
    return True


@dataclass(frozen=True)
class Action:
    """One user action.  ``id`` is the Textual action (``action_<id>`` on the app,
    or on the grid when ``grid``); ``keys`` its keys ("" = palette only);
    ``label`` the footer's word (shown there when ``footer``); ``title`` and
    ``description`` the palette's entry; ``section`` and ``help`` (default:
    the title) its line on the help screen, which lists every action with a key."""

    id: str
    keys: str
    label: str
    title: str
    description: str
    when: Callable[[State], bool] = _any
    footer: bool = False
    key_display: str | None = None
    tooltip: str | None = None
    grid: bool = False
    section: str = "Other"
    help: str | None = None
    overview: bool = False
    key_id: str | None = None
    wide: bool = False  # in the footer too when the terminal is wide (WIDE_FOOTER columns)

    @property
    def binding_id(self) -> str:
        """The id a user keymap names this action's binding by."""
        return self.key_id or self.id


#: The help lines the cursor keys share (one help row each: :func:`help_rows` joins their keys).
_CURSOR = "move the cursor (l is the QMP log)"
_EXTEND = "extend the selection"
_PAGE = "a screenful, with the cursor"
_ENDS = "the first / last slot"
_STEP = "move in the overview"


def _move(key_id: str, keys: str, action: str, label: str, help_line: str, *, overview: bool = False,
          key_display: str | None = None, footer: bool = False) -> Action:
    """A cursor key of the grid (or of the overview): in the table so that it can be remapped."""
    return Action(action, keys, label, "", "", _any, grid=not overview, overview=overview,
                  section="Move" if not overview else "Overview", help=help_line, key_id=key_id,
                  key_display=key_display, footer=footer)


ACTIONS: tuple[Action, ...] = (
    Action("assign", "0,1,2,3,4,5,6,7,8,9", "Node", "Assign to node {node}",
           "Put the selection (or the cursor slot) on node {node}, live", _preconfig_live, footer=True,
           key_display="0-9",
           section="Assign", help="put the selection (or the cursor slot) on that node"),
    # after boot, or with QEMU gone, the digits only say why nothing moves (not in the footer,
    # not in the palette)
    Action("assign_refused", "0,1,2,3,4,5,6,7,8,9", "", "", "", lambda s: _running(s) or _gone(s)),
    Action("add_node", "n", "+Node", "Add a node", "Declare a new memoryless NUMA node in QEMU (n)",
           _preconfig, tooltip="Add a memoryless NUMA node",  # at 80 columns P has its place
           section="Assign", help="add a node (memoryless), live", wide=True),
    Action("presets", "P", "Preset", "Apply a preset…",
           "Map the whole machine in one step: one node per socket, split, interleave, … (P)",
           _preconfig, footer=True, key_display="P", tooltip="Map the whole machine with a preset",
           section="Assign", help="map the whole machine with a preset"),
    Action("distances", "d", "Distances", "Edit distances",
           "The node x node distance matrix, sent live (d)",
           section="Assign", help="edit the distances, live", wide=True),
    Action("memory", "m", "Memory", "Edit node memory",
           "Split the RAM across nodes; relaunches a QEMU numatui started (m)",
           section="Assign", help="edit the node memory (relaunches QEMU)", wide=True),
    Action("smp", "S", "Topology", "Change the CPU topology (-smp, -cpu)",
           "sockets, dies, clusters, cores, threads, maxcpus and the CPU model; relaunches a QEMU "
           "numatui started, the mapping carried over (S)", _preconfig, key_display="S",
           section="Assign", help="change -smp or -cpu (a relaunch; the layout stays)"),
    Action("hmat", "t", "HMAT", "Edit memory tiers (HMAT)",
           "Latency/bandwidth per initiator x target and memory-side caches, sent live; "
           "needs hmat=on (t)",
           section="Assign", help="edit memory tiers (HMAT, needs hmat=on), live", wide=True),
    Action("undo", "ctrl+z", "Undo", "Undo ({undo})",
           "Relaunch QEMU with the plan before the last change (ctrl+z)",
           tooltip="Undo the last change (relaunches QEMU)",
           section="Undo", help="undo (relaunches QEMU and replays the plan)"),
    Action("redo", "ctrl+y", "Redo", "Redo ({redo})", "Relaunch QEMU with the change again (ctrl+y)",
           tooltip="Redo (relaunches QEMU)",
           section="Undo", help="redo (the same way)"),
    Action("relaunch", "R", "Relaunch", "Relaunch or reconnect",
           "After QEMU went away: a new QEMU with the plan (numatui started it), or connect again (R)",
           _gone, footer=True,
           key_display="R", tooltip="After QEMU went away: relaunch it with the plan, or reconnect",
           section="Undo", help="relaunch or reconnect after QEMU went away"),
    Action("copy_needed_plan", "", "", "Copy the plan this move needs",
           "JSON plan to apply to a QEMU restarted with --preconfig (QEMU cannot move an assigned CPU)"),
    Action("toggle_slot", "space", "Select", "", "", grid=True, footer=True,
           section="Select", help="toggle the cursor slot (shift+arrows extend)"),
    Action("select_group('socket-id')", "s", "Socket", "Select the cursor's socket", "s", grid=True,
           footer=True, key_id="select_socket",
           section="Select", help="the cursor's socket"),
    Action("select_group('core-id')", "c", "Core", "Select the cursor's core", "c", grid=True,
           key_id="select_core",
           section="Select", help="the cursor's core"),
    Action("select_unassigned", "a", "Unassigned", "Select every unassigned slot", "a", grid=True,
           section="Select", help="every unassigned slot"),
    Action("clear", "escape", "Clear", "Clear the selection", "escape", grid=True,
           section="Select", help="clear the selection"),
    Action("copy", "y", "Copy", "Copy the command line", "Copy what the command-line panel shows (y)",
           section="Command", help="copy what the panel shows", wide=True),
    Action("next_view", "v", "View", "Switch the command-line view",
           "-numa options, full command line, JSON plan, libvirt XML (v)",
           section="Command", help="-numa options, command line, JSON plan, libvirt XML", wide=True),
    Action("save_domain", "ctrl+s", "Save", "Save to domain",
           "Write the layout into the libvirt domain numatui opened (ctrl+s)", _domain,
           key_display="^s", section="Command", help="save to the libvirt domain (numatui domain)"),
    Action("exit_preconfig", "X", "Boot", "Exit preconfig and boot",
           "List the preflight findings, then boot (X)", _preconfig_live, footer=True, key_display="X",
           section="Boot", help="(or the Exit preconfig button): preflight, then boot"),
    Action("hotplug", "p", "Plug", "Hot-plug CPUs",
           "device_add into the selected empty slots, after boot (p)",
           _running, footer=True, tooltip="Hot-plug CPUs into the selected empty slots",
           section="Running", help="plug CPUs into the selected empty slots"),
    Action("unplug", "u", "Unplug", "Unplug CPUs",
           "Ask the guest to eject the selected hot-plugged CPUs (u)",
           _running, footer=True, tooltip="Ask the guest to eject hot-plugged CPUs",
           section="Running", help="ask the guest to eject hot-plugged CPUs (~ until done)"),
    Action("toggle_log", "l", "Log", "Toggle the QMP log", "Commands, replies and events (l)",
           section="Panels", help="the QMP log (beside the panel on a wide terminal)"),
    Action("toggle_host", "H", "Host", "Toggle the host panel",
           "The host's NUMA nodes, their CPUs and memory, and the guest nodes bound to them (H)",
           _always,
           section="Panels", help="the host's NUMA nodes, the guest nodes bound to them", wide=True),
    Action("apply_preset", "", "", "Preset: {preset}", "{description}", _preconfig),
    _move("cursor_up", "up,k", "move(0, -1)", "Up", _CURSOR, key_display="↑ k"),
    _move("cursor_down", "down,j", "move(0, 1)", "Down", _CURSOR, key_display="↓ j"),
    _move("cursor_left", "left,h", "move(-1, 0)", "Left", _CURSOR, key_display="← h"),
    _move("cursor_right", "right", "move(1, 0)", "Right", _CURSOR, key_display="→"),
    _move("extend_up", "shift+up", "move(0, -1, True)", "Extend up", _EXTEND, key_display="shift+↑"),
    _move("extend_down", "shift+down", "move(0, 1, True)", "Extend down", _EXTEND, key_display="shift+↓"),
    _move("extend_left", "shift+left", "move(-1, 0, True)", "Extend left", _EXTEND, key_display="shift+←"),
    _move("extend_right", "shift+right", "move(1, 0, True)", "Extend right", _EXTEND, key_display="shift+→"),
    _move("page_up", "pageup", "page(-1)", "Page up", _PAGE),
    _move("page_down", "pagedown", "page(1)", "Page down", _PAGE),
    _move("first_slot", "home", "jump(0)", "First slot", _ENDS),
    _move("last_slot", "end", "jump(-1)", "Last slot", _ENDS),
    _move("overview_left", "left,h", "step(0, -1)", "Left", _STEP, overview=True, key_display="← h"),
    _move("overview_right", "right", "step(0, 1)", "Right", _STEP, overview=True, key_display="→"),
    _move("overview_up", "up,k", "step(-1, 0)", "Up", _STEP, overview=True, key_display="↑ k"),
    _move("overview_down", "down,j", "step(1, 0)", "Down", _STEP, overview=True, key_display="↓ j"),
    _move("overview_go", "enter", "go", "Go there", "the grid's cursor to that core", overview=True,
          footer=True),
    _move("overview_back", "escape,o", "back", "Back to the grid", "back to the grid", overview=True,
          footer=True),
    Action("next_group('socket-id', 1)", "right_square_bracket", "Next socket", "Next socket",
           "The cursor to the first slot of the next socket (])", grid=True, key_display="]",
           key_id="next_socket",
           section="Move", help="the next / previous socket"),
    Action("next_group('socket-id', -1)", "left_square_bracket", "Prev socket", "Previous socket",
           "The cursor to the first slot of the previous socket ([)", grid=True, key_display="[",
           key_id="previous_socket",
           section="Move", help="the next / previous socket"),
    Action("next_group('die-id', 1)", "right_curly_bracket", "Next die", "Next die",
           "The cursor to the first slot of the next die, where the board has dies (})", grid=True,
           key_display="}", key_id="next_die",
           section="Move", help="the next / previous die (where the board has dies)"),
    Action("next_group('die-id', -1)", "left_curly_bracket", "Prev die", "Previous die",
           "The cursor to the first slot of the previous die ({)", grid=True, key_display="{",
           key_id="previous_die",
           section="Move", help="the next / previous die (where the board has dies)"),
    Action("cell_labels", "i", "Labels", "Switch what cells show",
           "After boot: the node-id, or the cpu-index with the node's mark (i)", _running, grid=True,
           section="Running", help="cells: the node-id, or the cpu-index and node mark"),
    Action("overview", "o", "Overview", "Go to the overview",
           "The whole machine, one line per socket; enter or a click moves the cursor there (o)",
           key_display="o",
           section="Panels", help="the overview: one line per socket; enter goes there"),
    Action("help", "question_mark", "Help", "Help", "Keys and what QEMU allows (?)", _always,
           footer=True, key_display="?",
           section="Other", help="this help (ctrl+p: every command)"),
    Action("quit", "q", "Quit", "Quit", "Quit and print the -numa options (q)", _always, footer=True,
           section="Other", help="quit (the -numa options are printed)"),
)

BY_ID = {a.id: a for a in ACTIONS}


#: Terminal columns from which the ``wide`` actions are in the footer too.
WIDE_FOOTER = 140


def available(action_id: str, state: State, parameters: tuple[object, ...] = ()) -> bool:
    """Whether ``action_id`` may run in ``state`` (an action not in the table: unless a dialog is up).
    ``wide('ID')`` is the footer's entry of a ``wide`` action: there on a wide terminal only
    (the action's own key binding works at any width)."""
    if action_id == "wide" and parameters:
        return state.wide and available(str(parameters[0]), state)
    action = BY_ID.get(action_id)
    if action is None:
        return action_id == "command_palette" or not state.dialog
    return action.when(state)


#: The help screen's sections, in order.
SECTIONS = ("Move", "Select", "Assign", "Undo", "Command", "Boot", "Running", "Panels", "Overview",
            "Other")


def help_rows(keymap: Mapping[str, str] | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """The help screen's keys: per section, (keys, what they do) for every
    action with a key and a help line, in table order, as ``keymap`` binds
    them; actions sharing a help line share its row (the arrows)."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for section in SECTIONS:
        rows: dict[str, list[str]] = {}
        for a in ACTIONS:
            if a.section == section and a.keys and a.help:
                rows.setdefault(a.help, []).append(_shown_keys(a, keymap or {}))
        out.append((section, [(" ".join(keys), what) for what, keys in rows.items()]))
    return out


def assign_binding_id(digit: str) -> str:
    """The binding id of the key that assigns to node ``digit`` (``assign-3``)."""
    return f"assign-{digit}"


def binding_ids() -> dict[str, str]:
    """Every binding id a user keymap may name -> its default keys."""
    out: dict[str, str] = {}
    for a in ACTIONS:
        if a.id == "assign":
            out.update({assign_binding_id(d): d for d in a.keys.split(",")})
        elif a.keys and a.id != "assign_refused":  # the digits after boot follow assign's ids
            out.setdefault(a.binding_id, a.keys)
    return out


def _shown_keys(action: Action, keymap: Mapping[str, str]) -> str:
    if action.id in ("assign", "assign_refused"):
        digits = action.keys.split(",")
        keys = [keymap.get(assign_binding_id(d), d).split(",")[0] for d in digits]
        return action.key_display if keys == digits and action.key_display else " ".join(keys)
    if action.binding_id in keymap:
        return keymap[action.binding_id].replace(",", " ")
    return action.key_display or action.keys.split(",")[0]


def key_of(action_id: str, keymap: Mapping[str, str] | None = None) -> str:
    """The key of ``action_id`` as the help and the footer show it (``0-9``, ``?``,
    ``ctrl+z``), or the keys ``keymap`` binds it to."""
    return _shown_keys(BY_ID[action_id], keymap or {})
