"""QMP addresses in the syntax of QEMU's -qmp, and the transcript."""

from __future__ import annotations

from pathlib import Path

import pytest

from numatui.session.address import Address
from numatui.session.errors import BadAddress
from numatui.session.transcript import Transcript


@pytest.mark.parametrize(
    ("text", "expected", "shown"),
    [
        ("unix:/run/q.qmp", Address("unix", path="/run/q.qmp"), "unix:/run/q.qmp"),
        ("/run/q.qmp", Address("unix", path="/run/q.qmp"), "unix:/run/q.qmp"),
        ("q.qmp", Address("unix", path="q.qmp"), "unix:q.qmp"),
        ("unix:/run/q.qmp,server=on,wait=off", Address("unix", path="/run/q.qmp"), "unix:/run/q.qmp"),
        ("unix:/run/a,,b.qmp,server", Address("unix", path="/run/a,b.qmp"), "unix:/run/a,b.qmp"),
        ("tcp:127.0.0.1:4444", Address("tcp", host="127.0.0.1", port=4444), "tcp:127.0.0.1:4444"),
        ("localhost:4444", Address("tcp", host="localhost", port=4444), "tcp:localhost:4444"),
        ("tcp:[::1]:4444,server=on", Address("tcp", host="::1", port=4444), "tcp:[::1]:4444"),
        ("tcp::4444", Address("tcp", host="localhost", port=4444), "tcp:localhost:4444"),
        ("./dir:1/q", Address("unix", path="./dir:1/q"), "unix:./dir:1/q"),
    ],
)
def test_parse(text: str, expected: Address, shown: str) -> None:
    addr = Address.parse(text)
    assert addr == expected and str(addr) == shown
    assert Address.parse(str(addr)) == addr


@pytest.mark.parametrize("text", ["", "tcp:host", "tcp:host:x", "tcp:h:70000", "unix:", "telnet:h:1"])
def test_parse_errors(text: str) -> None:
    with pytest.raises(BadAddress) as err:
        Address.parse(text)
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value)


def test_targets_and_loopback() -> None:
    assert Address.parse("/q").target() == "/q"
    assert Address.parse("tcp:127.0.0.2:1").target() == ("127.0.0.2", 1)
    for local in ("/q", "tcp:127.0.0.1:1", "tcp:[::1]:1", "localhost:1"):
        assert Address.parse(local).is_loopback() and Address.parse(local).warning() is None
    far = Address.parse("tcp:10.0.0.5:4444")
    assert not far.is_loopback()
    assert "no authentication" in (far.warning() or "")
    assert not Address.parse("qemu-host.example:4444").is_loopback()


def test_transcript_is_bounded_and_counts(tmp_path: Path) -> None:
    t = Transcript(maxlen=3)
    seen: list[str] = []
    remove = t.add_listener(lambda e: seen.append(e.kind))
    for i in range(5):
        t.append("cmd", f'{{"execute":"c{i}"}}')
    t.append("event", '{"event":"STOP"}')
    assert len(t) == 3 and [e.text for e in t.entries][-1] == '{"event":"STOP"}'
    assert t.count("cmd") == 5 and t.count("event") == 1 and t.count() == 6
    assert [e.kind for e in t.since(4)] == ["cmd", "event"]
    remove()
    t.note("after")
    assert seen == ["cmd"] * 5 + ["event"]

    def broken(_: object) -> None:
        raise RuntimeError("listener bug")

    t.add_listener(broken)
    t.note("a failing listener is dropped, not raised")


def test_transcript_log_file(tmp_path: Path) -> None:
    t = Transcript()
    t.append("cmd", '{"execute":"query-status"}')
    log = tmp_path / "qmp.log"
    stop = t.write_to(log)
    t.append("reply", '{"return":{}}')
    t.append("error", '{"error":{"class":"GenericError","desc":"no"}}')
    lines = log.read_text().splitlines()
    assert len(lines) == 3
    assert lines[0].endswith('-> {"execute":"query-status"}') and " <- " in lines[1]
    stop()
    t.note("not written")
    assert len(log.read_text().splitlines()) == 3


def test_long_list_replies_are_kept_short_and_logged_whole(tmp_path: Path) -> None:
    """The slots of a big machine are re-read on every key press: the
    transcript (the QMP log panel) keeps the first items, --log FILE all."""
    import json

    from numatui.session.connection import compact_json
    from numatui.session.transcript import LIST_KEPT, reply_text

    t = Transcript()
    stop = t.write_to(tmp_path / "qmp.log")
    slots = [{"props": {"core-id": i}, "vcpus-count": 1} for i in range(100)]
    t.append("reply", *reply_text(slots, compact_json))
    t.append("reply", *reply_text(slots[:LIST_KEPT], compact_json))
    long, short = t.entries[-2:]
    assert long.text.endswith(f"… {100 - LIST_KEPT} more items (--log FILE has all)]}}")
    assert long.text.startswith(compact_json({"return": slots[:LIST_KEPT]})[:-2])
    assert json.loads(short.text) == {"return": slots[:LIST_KEPT]}
    stop()
    logged = [line.split(" <- ", 1)[1] for line in (tmp_path / "qmp.log").read_text().splitlines()]
    assert [json.loads(text) for text in logged] == [{"return": slots}, {"return": slots[:LIST_KEPT]}]


def test_session_layer_never_imports_textual() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numatui.session, numatui.session.session, numatui.session.launcher\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
