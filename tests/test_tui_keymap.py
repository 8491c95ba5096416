"""A user's keymap (``[keys]`` in ``$XDG_CONFIG_HOME/numatui/config.toml``):
the new keys act on QEMU, the old ones do nothing, the footer and the help
show the keys in force; what the file gets wrong is one line each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from tui_helpers import Notes, settle

from numatui.core.actions import binding_ids
from numatui.session.session import Session
from numatui.tui.app import NumaApp
from numatui.tui.exit_dialog import ExitDialog
from numatui.tui.help import HelpScreen
from numatui.tui.keymap import load_keymap

CONFIG = """\
# remap node 1's key and the boot key
[keys]
assign-1 = "f1"
exit_preconfig = "B"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "numatui" / "config.toml"
    path.parent.mkdir()
    return path


def test_the_config_names_binding_ids_and_key_names(config: Path) -> None:
    assert load_keymap() == ({}, [])  # no file: the defaults, nothing said
    config.write_text(CONFIG + 'nosuch = "z"\ncursor_up = "w,k"\ncopy = "not a key"\nhelp = 3\n')
    keymap, problems = load_keymap()
    assert keymap == {"assign-1": "f1", "exit_preconfig": "B", "cursor_up": "w,k"}
    assert len(problems) == 3
    assert "nosuch: no such action" in problems[0]
    assert "copy: 'not a key' is not a list of key names" in problems[1]
    assert "help: 3 is not" in problems[2]
    assert all("\n" not in p for p in problems)
    config.write_text("[keys\n")
    assert load_keymap()[0] == {} and "not TOML" in load_keymap()[1][0]


def test_every_key_of_the_table_has_a_binding_id() -> None:
    ids = binding_ids()
    assert {f"assign-{d}" for d in range(10)} <= set(ids)
    assert {"exit_preconfig", "cursor_up", "page_down", "select_socket", "overview_go"} <= set(ids)
    assert all(name.replace("_", "").replace("-", "").isalnum() for name in ids)


async def test_remapped_assign_and_boot_keys(qemu: Any, session: Session, config: Path) -> None:
    config.write_text(CONFIG + 'bogus = "x"\n')
    keymap, problems = load_keymap()
    app = NumaApp(session, keymap=keymap, config_notes=problems)
    notes = Notes(app)
    first, second = (s.key for s in session.topology.slots[:2])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "bogus: no such action" in notes.text()  # said once, at start
        footer = " ".join(str(k.key_display) for k in app.screen.query("FooterKey"))
        assert "f1" in footer.split() and "B" in footer.split() and "X" not in footer.split()

        await pilot.press("f1", "right", "1", "X")  # the new key assigns; the old ones do nothing
        await settle(app, pilot)
        nodes = await qemu.nodes()
        assert nodes[first] == 1
        assert nodes[second] is None
        assert not isinstance(app.screen, ExitDialog)

        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        shown = Text.from_markup(app.screen.text).plain
        assert "\nBoot        B " in shown
        assert "0 f1 2 3 4 5 6 7 8 9" in shown
        await pilot.press("escape", "B")
        await settle(app, pilot)
        assert isinstance(app.screen, ExitDialog)  # the preflight, then enter boots


def test_the_readme_lists_every_binding_id() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("The binding ids:"):readme.index("lists them; a test checks")]
    words = section.replace("`", "").replace(",", " ").replace(";", " ").replace(":", " ").split()
    named: set[str] = set()
    for word in words:
        stem, *rest = word.split("/")
        named.add(stem)
        base = stem.rsplit("_", 1)[0]
        named.update(f"{base}_{r}" for r in rest)
    named.update(f"assign-{d}" for d in range(10))
    assert set(binding_ids()) <= named, set(binding_ids()) - named


def test_every_binding_has_an_id_so_a_remap_leaves_no_old_key_behind() -> None:
    """A wide terminal's footer entry of an action is a second binding on the
    same keys: it carries the action's id, so a remap moves both."""
    from textual.binding import Binding

    from numatui.tui.commands import bindings

    every = [b for kind in ({}, {"grid": True}, {"overview": True}) for b in bindings(**kind)]
    assert every and all(isinstance(b, Binding) and b.id for b in every)
    memory = [b for b in every if isinstance(b, Binding) and b.key == "m"]
    assert len(memory) == 2 and {b.id for b in memory} == {"memory"}  # the action and its wide entry


def test_the_config_is_read_bounded_and_only_as_a_regular_file(config: Path) -> None:
    """numatui's one bounded reader (session/files.py): a FIFO is refused
    without blocking on it, a file over 64 KiB is not read; the defaults apply."""
    import os

    os.mkfifo(config)
    keymap, problems = load_keymap()
    assert keymap == {} and len(problems) == 1 and "not a regular file" in problems[0]
    config.unlink()
    config.write_text("#" * (64 * 1024 + 1))
    keymap, problems = load_keymap()
    assert keymap == {} and len(problems) == 1 and "larger than" in problems[0]
