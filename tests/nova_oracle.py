"""nova's own code as the oracle for flavors.

nova is large (~400 MB with its dependencies), so it lives in its own venv,
``.cache/nova-venv``, which ``scripts/dev test`` fills once (``pip install
nova``, then a ``.installed`` stamp); the tests talk to one long-lived ``python`` there over stdin/stdout,
a JSON line each way.  For each flavor nova's API validators check every extra
spec (``nova.api.validation.extra_specs.validators.validate``, what ``openstack
flavor set`` meets), then ``nova.virt.hardware.numa_get_constraints`` (with an
empty ``ImageMeta``) gives the cells and ``get_best_cpu_topology`` the CPU
topology.  Without the venv the tests using the ``nova`` fixture skip with
one line.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

NOVA_PYTHON = Path(__file__).resolve().parent.parent / ".cache" / "nova-venv" / "bin" / "python"
#: What the venv's python runs: one request a line, one answer a line.
_SERVER = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
from nova import objects
from nova.api.validation.extra_specs import validators
from nova.virt import hardware
objects.register_all()
validators.load_validators()
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    try:
        for key, value in req["specs"].items():
            validators.validate(key, value)
        flavor = objects.Flavor(vcpus=req["vcpus"], memory_mb=req["ram"], extra_specs=req["specs"])
        image = objects.ImageMeta.from_dict({"properties": {}})
        topo = hardware.numa_get_constraints(flavor, image)
        best = hardware.get_best_cpu_topology(flavor, image)
        cells = None if topo is None else [
            {"id": c.id, "cpus": sorted(c.cpuset | c.pcpuset), "memory": c.memory} for c in topo.cells]
        answer = {"cells": cells, "topology": [best.sockets, best.cores, best.threads]}
    except Exception as exc:
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(answer), flush=True)
"""


class Nova:
    """One nova process; :meth:`check` asks it about a flavor."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([str(NOVA_PYTHON), "-c", _SERVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert json.loads(self._line()) == {"ready": True}

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "nova's python exited"
        return line

    def check(self, specs: Mapping[str, str], vcpus: int, ram: int) -> dict[str, Any]:
        """``{"cells": [{"id", "cpus", "memory"}, ...] | None, "topology": [s, c, t]}``
        or ``{"error": "ExceptionName: message"}``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"specs": dict(specs), "vcpus": vcpus, "ram": ram}) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self._line())
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(30)


@pytest.fixture(scope="session", name="nova")
def nova_fixture() -> Iterator[Nova]:
    """The nova oracle (import ``nova_fixture`` into a test module, ask for ``nova``)."""
    if not (NOVA_PYTHON.parent.parent / ".installed").is_file():
        pytest.skip(f"nova is not installed in {NOVA_PYTHON.parent.parent} (scripts/dev test installs it)")
    oracle = Nova()
    yield oracle
    oracle.close()


def cells_of(answer: Mapping[str, Any]) -> list[tuple[int, list[int], int]]:
    """nova's cells as (id, vCPUs, MiB), asserting nova accepted the flavor."""
    assert "error" not in answer, answer["error"]
    return [(c["id"], c["cpus"], c["memory"]) for c in answer["cells"] or ()]
