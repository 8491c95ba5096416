"""``numatui host``: text and JSON, on this machine and on recorded trees.  Pure (no QEMU)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from host_trees import Trees, trees_fixture  # noqa: F401

from numatui.cli import main
from numatui.session.host_reader import read_host

pytestmark = pytest.mark.pure


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_json_has_the_issue_shape(trees: Trees) -> None:
    root = trees.root("nvidiagpunumanodes")
    code, out, err = run("host", "--host-root", str(root), "--format", "json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert set(data) == {"nodes", "distances", "cpus"}
    assert [n["id"] for n in data["nodes"]] == [0, 8, 250, 251, 252, 253, 254, 255]
    node0 = data["nodes"][0]
    assert set(node0) == {"id", "cpus", "memory", "free", "hugepages"}
    assert node0["cpus"] == list(range(16))
    assert node0["memory"] == read_host(root).nodes[0].memory
    assert data["distances"][0][:2] == [10, 40] and len(data["distances"]) == 8
    assert set(data["cpus"][0]) == {"cpu", "package", "die", "cluster", "core", "siblings"}


def test_hugepages_per_size(trees: Trees) -> None:
    root = trees.root("2i386-2t-hugepagesizecount")
    data = json.loads(run("host", "--host-root", str(root), "--format", "json")[1])
    pages = data["nodes"][0]["hugepages"]  # no node directory: /sys/kernel/mm/hugepages
    assert set(pages) == {"2048kB", "16777216kB"}
    assert pages["2048kB"]["total"] == 1 and pages["16777216kB"]["total"] == 1


def test_text_names_nodes_and_the_view(trees: Trees) -> None:
    code, out, _ = run("host", "--host-root", str(trees.root("16amd64-8n2c")))
    assert code == 0
    assert out.splitlines()[0].startswith("host: 8 NUMA node(s), 16 online CPU(s); the whole machine")
    assert "node 7: cpus 14-15; memory" in out


def test_this_machine() -> None:
    code, out, _ = run("host", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert sorted(c for n in data["nodes"] for c in n["cpus"]) == sorted(c["cpu"] for c in data["cpus"])


@pytest.mark.parametrize("root", ["/does/not/exist", "/tmp"])
def test_bad_root_is_one_line_exit_2(root: str, tmp_path: Path) -> None:
    code, out, err = run("host", "--host-root", root)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--host-root" in err
