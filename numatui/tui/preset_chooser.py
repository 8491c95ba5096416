"""``P``: the preset chooser, a small dialog over the grid.

One row per preset of :mod:`numatui.model.presets` (through
:func:`numatui.core.presets.choices`): its key, name, whether it applies to
this board and its nodes (or how many nodes it would add), and what it does.
A letter highlights its preset, enter applies the highlighted one, a digit
1-9 applies the highlighted preset onto that many nodes (``--into N``: for
the presets that spread, like ``split``).  The first preset that fits is
highlighted when it opens, so mapping one socket per node is ``P`` enter.

Dismisses with a :class:`PresetPick` (the app sends it through
:meth:`numatui.core.vm.Vm.apply_preset`) or None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from numatui.core.presets import PresetChoice
from numatui.tui.dialog import Dialog


@dataclass(frozen=True)
class PresetPick:
    """What the chooser asks to apply."""

    name: str
    into: int | None = None
    add_nodes: bool = False


def hotkeys(names: Sequence[str]) -> dict[str, str]:
    """name -> a letter of it no earlier name took (``socket`` s, ``split`` p)."""
    out: dict[str, str] = {}
    for name in names:
        if free := [ch for ch in name.lower() if ch.isalpha() and ch not in out.values()]:
            out[name] = free[0]
    return out


def status_text(choice: PresetChoice, nodes: int) -> tuple[str, str]:
    """(the words, a style) for a row: fits, adds nodes, or why not."""
    if choice.refused is not None:
        return f"✖ {choice.refused}", "red"
    if choice.missing:
        return f"＋ adds {choice.missing} node(s), memoryless ({nodes} now)", "yellow"
    return "✔ fits", "green"


class PresetChooser(Dialog[PresetPick | None]):
    """Choose a preset for the whole machine."""

    DEFAULT_CSS = """
    PresetChooser > Vertical { width: 90; }
    PresetChooser #preset-title { text-style: bold; }
    PresetChooser OptionList { height: auto; max-height: 20; border: none; padding: 0; }
    PresetChooser #preset-hint { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "into(1)", "Onto N nodes", key_display="1-9"),  # the footer's one entry for 1-9
        *[Binding(str(d), f"into({d})", show=False) for d in range(2, 10)],
        Binding("escape", "dismiss", "Cancel"),
    ]
    PALETTE = False  # its footer: its own keys, not the grid's under it

    def __init__(self, choices: Sequence[PresetChoice], nodes: int,
                 recheck: Callable[[str, int], PresetChoice] | None = None) -> None:
        """``nodes``: how many nodes QEMU has; ``recheck(name, into)``: the
        choice again for ``into`` nodes (to say what a digit would need)."""
        super().__init__()
        self.choices = list(choices)
        self.nodes = nodes
        self.recheck = recheck
        self.keys = hotkeys([c.name for c in self.choices])

    def body(self) -> ComposeResult:
        yield Static(Text("Map the whole machine with a preset"), id="preset-title")
        yield OptionList(*[self._option(c) for c in self.choices], id="preset-list")
        yield Static(Text("letter: highlight · enter: apply · 1-9: apply onto that many nodes "
                          "(split, interleave) · esc: cancel"), id="preset-hint")

    def _option(self, choice: PresetChoice) -> Option:
        text = Text.assemble((f" {self.keys.get(choice.name, ' ')} ", "bold reverse"),
                             (f" {choice.name:<11}", "bold"), status_text(choice, self.nodes),
                             (f"\n     {choice.description}", "dim"))
        return Option(text, id=choice.name, disabled=choice.refused is not None)

    @property
    def options(self) -> OptionList:
        return self.query_one(OptionList)

    def on_mount(self) -> None:
        fits = [i for i, c in enumerate(self.choices) if c.fits]
        usable = [i for i, c in enumerate(self.choices) if c.refused is None]
        self.options.highlighted = (fits or usable or [0])[0]
        self.options.focus()

    def on_key(self, event: events.Key) -> None:
        """A preset's letter highlights it."""
        char = (event.character or "").lower()
        for index, choice in enumerate(self.choices):
            if self.keys.get(choice.name) == char and char:
                event.stop()
                if choice.refused is None:
                    self.options.highlighted = index
                else:
                    self.say(choice.refused)
                return

    def say(self, text: str) -> None:
        self.query_one("#preset-hint", Static).update(Text(text))

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        choice = self.choices[event.option_index]
        if choice.refused is None:
            self.dismiss(PresetPick(choice.name, None, choice.missing > 0))

    def action_into(self, count: int) -> None:
        index = self.options.highlighted
        if index is None:
            return
        choice = self.choices[index]
        if not choice.takes_into:
            self.say(f"{choice.name} takes no node count: it needs its own number of nodes "
                     "(enter applies it)")
            return
        again = self.recheck(choice.name, count) if self.recheck else choice
        if again.refused is not None:
            self.say(again.refused)
            return
        self.dismiss(PresetPick(choice.name, count, again.missing > 0))
