"""The one sanitiser: controls visible, never emitted; lengths bounded; and the
exports keep their own format's escaping."""

from __future__ import annotations

import json
import subprocess

from hypothesis import given
from hypothesis import strategies as st

from numatui.model import sanitise
from numatui.model.qemu_args import shell_join, shell_quote

HOSTILE = "a\x1b]52;c;ZXZpbA==\x07b\x1b[2J\x9b31m\x7f\r\n\tz\u202e"


def inert(text: str) -> bool:
    """Nothing in ``text`` that :func:`sanitise.one_line` would escape."""
    return sanitise.one_line(text, None) == text


def test_controls_are_shown_visibly() -> None:
    line = sanitise.one_line(HOSTILE)
    assert line == "a\\x1b]52;c;ZXZpbA==\\x07b\\x1b[2J\\x9b31m\\x7f\\x0d\\x0a\\x09z\\u202e"
    block = sanitise.multi_line(HOSTILE)
    assert block == "a\\x1b]52;c;ZXZpbA==\\x07b\\x1b[2J\\x9b31m\\x7f\\x0d\n\tz\\u202e"
    assert sanitise.one_line("plain [b]markup[/b] stays text") == "plain [b]markup[/b] stays text"


def test_length_is_bounded_with_a_marker() -> None:
    text = sanitise.one_line("x" * 1000, 100)
    assert text == "x" * 100 + " … [900 more characters cut]"
    # an escape is never split in two by the cut
    assert sanitise.one_line("ab" + "\x1b" * 50, 5) == "ab … [50 more characters cut]"
    assert sanitise.one_line("ab" + "\x1b" * 50, 7) == "ab\\x1b … [49 more characters cut]"
    assert sanitise.multi_line("short", 100) == "short"


@given(st.text())
def test_nothing_a_terminal_obeys_gets_through(text: str) -> None:
    assert inert(sanitise.one_line(text, 50))
    assert inert(sanitise.multi_line(text, None).replace("\n", "").replace("\t", ""))


def test_shell_export_quotes_controls_as_ansi_c_and_still_runs() -> None:
    token = "id=\x1b]52;c;x\x07'\\\u0085"
    quoted = shell_quote(token)
    assert inert(quoted) and quoted.startswith("$'")
    out = subprocess.run(["bash", "-c", f"printf %s {quoted}"], capture_output=True, check=True)
    assert out.stdout.decode() == token
    assert shell_quote("plain") == "plain"
    assert inert(shell_join(["qemu", "-name", token]).replace("\n", ""))


def test_json_escapes_controls() -> None:
    assert "\x1b" not in json.dumps({"id": HOSTILE})
