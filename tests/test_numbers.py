"""The one number parser (numatui.model.numbers) and the readers that use it:
ASCII digits only, bounded, one NumaError line naming what and where."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numatui.model.distances import parse_distance
from numatui.model.errors import NumaError
from numatui.model.numbers import UINT64_MAX, parse_decimal, parse_int, parse_qemu_int
from numatui.model.qemu_args import load_plan
from numatui.model.topology import parse_key
from numatui.model.units import qemu_strtosz
from numatui.session.address import Address
from numatui.session.errors import BadAddress
from numatui.tui.hmat_editor import parse_cache, parse_value

#: Text Python's isdigit() or int() takes and QEMU does not.
UNICODE_DIGITS = ["\u00b2", "\u0663", "\u0967", "\uff11", "1\u00b2", "\U0001d7ce", "\u2460"]


def test_parse_int_reads_ascii_digits_within_bounds() -> None:
    assert parse_int(" 42 ", "n", hi=100) == 42
    assert parse_int("-3", "n", lo=-5, hi=5, signed=True) == -3
    assert parse_int("ff", "n", hi=255, base=16) == 255
    with pytest.raises(NumaError, match=r"^cpu: n 101 is out of range \(0\.\.100\)$"):
        parse_int("101", "n", hi=100, where="cpu")
    with pytest.raises(NumaError, match="is not a whole number"):
        parse_int("-3", "n", lo=-5, hi=5)  # a sign only where allowed
    with pytest.raises(NumaError, match="is not a whole number"):
        parse_int("1" * 41, "n", hi=10**50)  # bounded length


@pytest.mark.parametrize("text", [*UNICODE_DIGITS, "", " ", "1.5", "1e3", "0x10", "+", "1_000", "\x1b[2J"])
def test_parse_int_refuses_in_one_line_naming_what_and_where(text: str) -> None:
    with pytest.raises(NumaError) as info:
        parse_int(text, "latency", hi=UINT64_MAX, where="plan line 3")
    line = str(info.value)
    assert line.startswith("plan line 3: latency ") and "\n" not in line and "\x1b" not in line


def test_parse_qemu_int_reads_as_qemus_option_visitors() -> None:
    assert [parse_qemu_int(t, "k", "-numa x") for t in ("10", "0x10", "010", "+7", " 3", "0")] == [
        10, 16, 8, 7, 3, 0]
    for bad in (*UNICODE_DIGITS, "08", "-1", "1 ", "0x", "18446744073709551616"):
        with pytest.raises(NumaError, match=r"^-numa x: Parameter 'k' expects"):
            parse_qemu_int(bad, "k", "-numa x")
    with pytest.raises(NumaError, match="between 0 and 255"):
        parse_qemu_int("256", "val", "-numa dist", 255)


def test_parse_decimal_takes_plain_decimals_only() -> None:
    assert parse_decimal("0.5", "s", lo=0, hi=10) == 0.5
    assert parse_decimal(".25", "s", lo=0, hi=10) == 0.25
    for bad in ("nan", "inf", "1e3", "-1", "\u0663", "1,5", "", "11"):
        with pytest.raises(NumaError):
            parse_decimal(bad, "s", lo=0, hi=10)


@pytest.mark.parametrize("text", UNICODE_DIGITS)
def test_every_reader_refuses_unicode_digits(text: str) -> None:
    """Each reader of typed or filed numbers: a NumaError, never int()'s ValueError."""
    readers = [
        lambda: qemu_strtosz(text),
        lambda: qemu_strtosz(f"{text}G"),
        lambda: parse_key(f"socket-id={text}"),
        lambda: parse_distance(text),
        lambda: parse_value(text, latency=True),
        lambda: parse_value(text, latency=False),
        lambda: parse_cache(0, f"{text} 1M"),
        lambda: load_plan(f"-numa hmat-lb,initiator=0,target=0,hierarchy=memory,"
                          f"data-type=access-latency,latency={text}"),
        lambda: load_plan(f"-numa node,nodeid={text}"),
        lambda: load_plan(f"-numa cpu,node-id=0,socket-id={text}"),
        lambda: load_plan(f"-smp {text}"),
        lambda: load_plan(f"-object memory-backend-ram,id=m0,size={text}"),
        lambda: load_plan(f'{{"cpus": [{{"node-id": "{text}", "socket-id": 0}}]}}'),
    ]
    for read in readers:
        with pytest.raises(NumaError) as info:
            read()
        assert type(info.value) is NumaError and "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["tcp:127.0.0.1:\u00b2", "127.0.0.1:\u0663", "tcp:h:0", "tcp:h:65536",
                                  "tcp:h:" + "9" * 5000])
def test_address_port_through_the_parser(text: str) -> None:
    with pytest.raises(BadAddress, match="port"):
        Address.parse(text)
    assert Address.parse("tcp:h:4444").port == 4444


def test_sizes_keep_qemus_grammar() -> None:
    assert qemu_strtosz("1.5G") == 3 << 29
    assert qemu_strtosz("0x10") == 16
    assert qemu_strtosz(" +2k") == 2048
    for bad in ("2Gi", "1e3", "-1", "0x1.5G", "1.5", "16E", "9" * 41):
        with pytest.raises(NumaError):
            qemu_strtosz(bad)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_parse_int_never_raises_anything_but_numa_error(text: str) -> None:
    try:
        value = parse_int(text, "n", lo=-(10**9), hi=10**9, signed=True)
    except NumaError as exc:
        assert "\n" not in str(exc)
    else:
        body = text.strip(" \t\r\n\f\v")
        digits = body[1:] if body[:1] in "+-" else body
        assert digits.isascii() and digits.isdigit() and int(body) == value
