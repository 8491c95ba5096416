"""``numatui show`` imports only what it uses: a whole ``numatui show`` process
is measured against a plain socket script (the bench's ``cli_ratio``), and
every module the headless path imports for nothing is paid on each run.  So
the import set of a real ``show`` against a real QEMU is pinned here, and the
plain constants the parser offers as choices are pinned to their sources."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys

import pytest
from conftest import Qemu

from numatui.cli import choices, parser

#: Modules (or packages, with everything under them) ``show`` has no use for.
NOT_ON_SHOW = (
    "textual", "rich", "libvirt", "xml",
    "numatui.tui", "numatui.core", "numatui.bench",
    "numatui.session.launcher", "numatui.session.replay", "numatui.session.libvirt",
    "numatui.session.host_reader", "numatui.session.child_lifetime",
    "numatui.model.qemu_args", "numatui.model.flavor", "numatui.model.libvirt",
    "numatui.model.openstack", "numatui.model.domain_xml", "numatui.model.presets",
    "numatui.model.host_preset", "numatui.model.pinning", "numatui.model.memory_split",
    "numatui.cli.host", "numatui.cli.domain", "numatui.cli.completion",
    "tempfile", "importlib.metadata", "shutil",
    "ssl", "_ssl",  # numatui never speaks TLS (numatui.cli.no_tls)
)

_SHOW = """
import io, json, sys
from numatui.cli import main
out, err = io.StringIO(), io.StringIO()
code = main(["show", sys.argv[1]], stdout=out, stderr=err)
print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(),
                  "modules": sorted(sys.modules)}))
"""


def _unneeded(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == bad or m.startswith(bad + ".") for bad in NOT_ON_SHOW)]


@pytest.mark.qemu
def test_show_imports_nothing_it_does_not_use(qemu: Qemu) -> None:
    done = subprocess.run([sys.executable, "-c", _SHOW, qemu.sock], capture_output=True, text=True,
                          timeout=120, check=True)
    result = json.loads(done.stdout)
    assert result["code"] == 0, result["err"]
    assert "slots    8 slots, 8 vCPUs" in result["out"]  # a real show: its import set is a real one
    assert "numatui.session.session" in result["modules"]
    assert _unneeded(result["modules"]) == []


def test_the_list_catches_what_show_would_import_for_nothing() -> None:
    assert _unneeded(["textual.app", "numatui.core.export", "numatui.session.launcher", "tempfile"]) == [
        "textual.app", "numatui.core.export", "numatui.session.launcher", "tempfile"]
    assert _unneeded(["numatui.session.launcher_x", "numatui.core_x", "numatui.session.session"]) == []


_TLS = """
import sys
import numatui.cli  # first, as the numatui command does
hidden = "ssl" not in sys.modules
import asyncio, json, ssl  # ssl: the real module, for whoever imports it later


async def main():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, plain = await asyncio.open_connection("127.0.0.1", port)  # plain TCP (QMP's) works
    plain.close()
    try:
        await asyncio.open_connection("127.0.0.1", port, ssl=ssl.create_default_context())
        tls = "connected"
    except RuntimeError as exc:
        tls = str(exc)
    server.close()
    return tls


real = hasattr(ssl, "create_default_context")
print(json.dumps({"hidden": hidden, "real": real, "tls": asyncio.run(main())}))
"""


def test_numatui_imports_asyncio_without_ssl_and_asyncio_then_refuses_tls_loudly() -> None:
    """numatui.cli.no_tls: no OpenSSL loaded for numatui's own process; a later
    ``import ssl`` is the real module, and asyncio refuses TLS (never a
    connection without it)."""
    done = subprocess.run([sys.executable, "-c", _TLS], capture_output=True, text=True, timeout=60,
                          check=True)
    result = json.loads(done.stdout)
    assert result["hidden"] and result["real"]
    assert "ssl" in result["tls"] and result["tls"] != "connected"


@pytest.mark.parametrize("command", list(parser._COMMANDS))
def test_the_grammar_built_for_one_command_is_that_command_of_the_whole(command: str) -> None:
    """``parse`` builds only the command named: its help and what it parses are the whole grammar's."""
    def help_of(grammar: argparse.ArgumentParser) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            grammar.parse_args([command, "--help"])
        return out.getvalue()

    whole, alone = parser.build_parser(), parser.build_parser(command)
    assert help_of(alone) == help_of(whole)
    assert command in help_of(alone)
    argv = {"completion": ["bash"], "domain": ["d.xml"], "host": [], "launch": [], "apply": ["/s", "p.json"],
            "hotplug": ["/s", "socket-id=1"], "unplug": ["/s", "socket-id=1"]}.get(command, ["/s"])
    assert alone.parse_args([command, *argv]) == whole.parse_args([command, *argv])


def test_the_parser_choices_are_their_sources() -> None:
    from numatui.core.export import EXPORT_FORMATS
    from numatui.core.presets import preset_names
    from numatui.model.pinning import PinPolicy

    assert choices.EXPORT_FORMATS == EXPORT_FORMATS
    assert list(choices.PRESET_NAMES) == preset_names()
    assert list(choices.PIN_POLICIES) == [str(p) for p in PinPolicy]
