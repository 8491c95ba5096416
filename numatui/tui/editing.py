"""What the node editors (distances, HMAT, memory) share: a table, one input
opened on its cursor, a message line, and running a QMP step.

An editor puts its QMP work on a queue (``enqueue``) and runs it through a
*step*: an async context manager around each QMP call.  Inside the app they
are the app's one work queue, ``Controller.enqueue`` and ``Controller.step``
(the status bar, a redraw after; numatui.tui.controller), so closing the
editor cancels nothing it asked for; standing alone (tests, other hosts) a
worker of the host app and a private lock.  Refusals are caught by the editor first and shown in its own
message line, QEMU's words verbatim and never parsed as markup.

Keys of a burst: once a cell is open, every key belongs to it until it
closes (``2G`` typed fast is 2 GiB, the ``t`` of ``10240t`` does not switch
the data type).  The table keeps the focus, so no key lands in a widget that
is about to lose or gain it; each key reaches the app in the order typed,
after the bindings of the keys before it ran (the opening key's included),
and the app hands it to :meth:`Editor.route_key` before any binding
(:func:`route_editor_key`).  The input only shows the cell's text.

The widgets of an editor are ``#P-table``, ``#P-input`` and ``#P-message``
for its ``PREFIX`` P; a :class:`MatrixEditor` (node x node, sent live) has a
``#P-cell`` line too, describing the cursor's cell.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from rich.text import Text
from textual import events, on
from textual.app import App
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.css.query import NoMatches
from textual.widgets import DataTable, Input, Static

from numatui.core.errors import ActionRefused
from numatui.session.errors import Disconnected, QemuRefused, SessionError
from numatui.session.machine import RunState
from numatui.session.replay import ReplayFailed
from numatui.tui.controller import internal_error
from numatui.tui.dialog import Dialog

if TYPE_CHECKING:
    from numatui.core.vm import Vm

Step = Callable[[str], AbstractAsyncContextManager[None]]
Enqueue = Callable[[Coroutine[Any, Any, None]], None]
K = TypeVar("K")  # what the open input edits (a node, a pair, ...)


def local_step() -> Step:
    """A step that only serialises (no app around).  A SessionError that
    reaches it was shown by the editor already: it goes no further."""
    lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def step(what: str) -> AsyncIterator[None]:
        async with lock:
            with contextlib.suppress(SessionError):
                yield

    return step


def error_words(exc: BaseException) -> str:
    """One line for a failure: QEMU's own text when it refused."""
    if isinstance(exc, QemuRefused):
        return f"QEMU refused: {exc.qemu_message}"
    if isinstance(exc, ReplayFailed):  # a relaunch that failed: where the VM is now
        return f"{exc} ({'still on the old QEMU' if exc.restored else 'QEMU is gone'})"
    if isinstance(exc, SessionError | ActionRefused):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class MessageLine(Static):
    """The editor's one-line outcome: plain text (QEMU's words are not markup)."""

    DEFAULT_CSS = """
    MessageLine { height: auto; min-height: 1; padding: 0 1; }
    MessageLine.error { color: $error; text-style: bold; }
    MessageLine.ok { color: $success; }
    """

    text = ""

    def say(self, text: str, kind: str = "info") -> None:
        self.text = text
        self.set_class(kind == "error", "error")
        self.set_class(kind == "ok", "ok")
        self.update(Text(text))


def _input_action(key: str) -> str | None:
    """The action Textual's Input binds ``key`` to (cursor moves, deletes), else None."""
    for binding in Input.BINDINGS:
        if isinstance(binding, Binding) and key in binding.key.split(","):
            return binding.action
    return None


async def route_editor_key(app: App[Any], event: events.Key) -> None:
    """The app's ``on_key``: a key that reached the app while an editor's cell
    is open goes to that cell (see the module docstring), before any binding."""
    screen = app.screen
    if isinstance(screen, Editor) and await screen.route_key(event):
        event.prevent_default()
        event.stop()


class VmDialog(Dialog[None]):
    """A dialog that changes ``vm``: its QMP work goes on ``enqueue`` and runs
    in ``step`` (see the module docstring), ``on_change`` is called after
    QEMU's state changed; it says the outcome in its ``#P-message`` line."""

    PREFIX: ClassVar[str]

    def __init__(self, vm: Vm, *, step: Step | None = None, enqueue: Enqueue | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.vm = vm
        self.session = vm.session
        self.step = step or local_step()
        self.enqueue = enqueue
        self.on_change = on_change
        self.setup()

    def setup(self) -> None:
        """A subclass's own state, made with the dialog."""

    @property
    def message(self) -> MessageLine:
        """The message line; once the dialog is closed, one nobody sees (work
        still running says its outcome in the app's status and the QMP log)."""
        try:
            return self.query_one(f"#{self.PREFIX}-message", MessageLine)
        except NoMatches:
            return MessageLine()

    def run(self, work: Coroutine[Any, Any, None], group: str) -> None:
        """QMP work on the app's queue (standing alone: a worker of the host
        app), never of this screen: escape closes the dialog while the work
        (a relaunch) goes on; a screen's workers end with it."""
        if self.enqueue is not None:
            self.enqueue(work)
        else:
            self.app.run_worker(work, group=group)

    def redraw(self) -> None:
        """Draw QEMU's state anew (a dialog that shows none: nothing)."""

    def changed(self, redraw: Callable[[], None] | None = None) -> None:
        """After QEMU's state changed: redraw (when still shown), tell the app."""
        if self.is_attached:
            (redraw or self.redraw)()
        if self.on_change is not None:
            self.on_change()

    @contextlib.asynccontextmanager
    async def sending(self, what: str, sent: str = "",
                      failed: Callable[[Exception], str] = error_words) -> AsyncIterator[None]:
        """The body as the QMP step ``what``; its outcome in the message line:
        ``sent`` (if any), or ``failed(exc)`` (QEMU going away goes on to the step too)."""
        async with self.step(what):
            try:
                yield
            except Disconnected as exc:
                self.message.say(error_words(exc), "error")
                raise  # the app's step reports QEMU going away too
            except (SessionError, ActionRefused) as exc:
                self.message.say(failed(exc), "error")
            else:
                if sent:
                    self.message.say(sent, "ok")


class Editor(VmDialog, Generic[K]):
    """A table editor of ``vm`` (see the module docstring)."""

    DEFAULT_CSS = """
    Editor DataTable { height: auto; margin: 1 0 0 0; }
    Editor Input { display: none; width: 40; }
    Editor Input.shown { display: block; }
    """
    #: 0-9 on an editor's table start an edit with that digit (once open, the
    #: cell takes the keys: :meth:`Editor.route_key`).  Bindings, not ``on_key``: Textual
    #: runs a key's binding only after the key bubbled up to the app, so a handler on the
    #: way would take "2" before an earlier arrow's binding moved the cursor (keys typed
    #: in one burst); as bindings, every key acts in the order typed.
    BINDINGS: ClassVar[list[BindingType]] = [Binding(str(d), f"edit('{d}')", show=False)
                                             for d in range(10)]
    editing: K | None = None

    @property
    def read_only(self) -> str | None:
        """Why nothing can be changed now, or None."""
        raise NotImplementedError

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one(f"#{self.PREFIX}-table", DataTable)

    @property
    def field(self) -> Input:
        return self.query_one(f"#{self.PREFIX}-input", Input)

    def refused(self) -> bool:
        """Whether read-only, said as an error."""
        if self.read_only:
            self.message.say(self.read_only, "error")
        return bool(self.read_only)

    # -- drawing ------------------------------------------------------------------
    def new_table(self, cursor_type: Literal["cell", "row"]) -> DataTable[Text]:
        return DataTable(id=f"{self.PREFIX}-table", cursor_type=cursor_type)  # row labels: the nodes

    def on_mount(self) -> None:
        self.redraw()
        self.table.focus()
        if self.read_only:
            self.message.say(self.read_only)

    # -- editing ------------------------------------------------------------------
    def action_edit(self, first: str = "") -> None:
        """Enter, a digit or a click: open the input on the cursor, holding
        ``first`` (once open, :meth:`route_key` gives it the keys)."""
        if self.editing is None:
            self.start_edit(first)

    def start_edit(self, first: str) -> None:
        raise NotImplementedError

    async def route_key(self, event: events.Key) -> bool:
        """A key for the open cell (see the module docstring): enter submits
        (and opens one: at once, in the order typed), escape closes (and
        after a refusal leaves the editor), a character is typed, the input's own keys (backspace,
        arrows, ctrl+u, ...) edit it, any other key is the cell's too (taken,
        ignored).  False when no cell is open, or the input has the focus (a
        click put it there) and takes its own keys."""
        if self.editing is None:
            if event.key != "enter":
                return False
            self.action_edit()  # here, not by the table's own enter: a message, after later keys
            return True
        field = self.field
        if event.key == "enter":
            try:
                self.submit(self.editing, field.value)
            except Exception as exc:  # a bug: said here; the editor, the app and the VM stay
                self.message.say(f"Refused: {internal_error(exc)}", "error")
        elif event.key == "escape":  # after a refusal one escape leaves the editor
            refused = self.message.has_class("error")
            self.close_input()
            if refused:
                self.dismiss(None)
        elif self.focused is field:
            return False
        elif event.is_printable and event.character:
            field.insert_text_at_cursor(event.character)
        elif (action := _input_action(event.key)) is not None:
            await field.run_action(action)
        return True

    def open_input(self, editing: K, value: str, title: str) -> None:
        """Show the input holding ``value`` under ``title``, the cursor at the
        end; the table keeps the focus (keys reach the cell through :meth:`route_key`)."""
        self.editing = editing
        field = self.field
        field.value = value
        field.border_title = title
        field.add_class("shown")
        field.cursor_position = len(field.value)

    @on(DataTable.CellSelected)
    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_edit()

    def submit(self, editing: K, text: str) -> None:
        """``text`` entered for ``editing``: a refusal leaves the input open to correct."""
        raise NotImplementedError

    def close_input(self) -> None:
        field = self.field
        field.remove_class("shown")
        field.value = ""
        self.editing = None
        self.table.focus()

    def action_close(self) -> None:
        if self.field.has_class("shown"):
            self.close_input()
        else:
            self.dismiss(None)


class MatrixEditor(Editor[K]):
    """An editor of a node x node table (rows from, columns to) sent live,
    in preconfig only: QEMU takes ``TAKES`` then."""

    TAKES: ClassVar[str]

    @property
    def read_only(self) -> str | None:
        if self.session.state is RunState.DISCONNECTED:
            return "QEMU is gone: nothing can be sent."
        if self.session.state is not RunState.PRECONFIG:
            return f"The VM is running: QEMU takes {self.TAKES} only in preconfig (shown read-only)."
        return None

    def axes(self) -> tuple[Sequence[int], Sequence[int]]:
        """The nodes of the rows and of the columns."""
        raise NotImplementedError

    def cursor_pair(self) -> tuple[int, int] | None:
        rows, cols = self.axes()
        row, col = self.table.cursor_coordinate
        return (rows[row], cols[col]) if rows and row < len(rows) and col < len(cols) else None

    def fill_table(self, header: str, width: int, cell: Callable[[int, int], Text]) -> None:
        """Rebuild the table, columns headed ``header`` + node, the cursor kept
        where it was (or on the last row / column)."""
        table = self.table
        rows, cols = self.axes()
        where = table.cursor_coordinate
        table.clear(columns=True)
        for b in cols:
            table.add_column(Text(f"{header}{b}", style="bold"), key=str(b), width=width)
        for a in rows:
            table.add_row(*(cell(a, b) for b in cols), key=str(a), label=Text(f"node {a}", style="bold"))
        if rows and cols:
            table.cursor_coordinate = Coordinate(min(where.row, len(rows) - 1),
                                                 min(where.column, len(cols) - 1))

    @on(DataTable.CellHighlighted)
    def describe_cursor(self) -> None:
        pair = self.cursor_pair()
        cell = self.query_one(f"#{self.PREFIX}-cell", Static)
        cell.update("" if pair is None else Text(self.pair_words(*pair)))

    def pair_words(self, a: int, b: int) -> str:
        """The cursor line for the cell ``a`` -> ``b``."""
        raise NotImplementedError
