"""The pure model never imports Textual or qemu.qmp, and does no I/O."""

import subprocess
import sys
from pathlib import Path

MODEL = Path(__file__).parent.parent / "numatui" / "model"


def test_model_imports_neither_textual_nor_qmp() -> None:
    modules = sorted(f"numatui.model.{p.stem}" for p in MODEL.glob("*.py") if p.stem != "__init__")
    assert "numatui.model.topology" in modules
    code = (
        "import sys\n"
        f"for m in {modules!r}: __import__(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'qemu', 'rich', 'asyncio', 'subprocess', 'socket'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the pure model imported {out.stdout.strip()}"


def test_model_sources_do_not_open_files() -> None:
    for path in MODEL.glob("*.py"):
        text = path.read_text()
        for word in ("open(", "Path(", "os.", "print("):
            assert word not in text, f"{path.name} uses {word} (the model does no I/O)"


# -- layers and cycles, from every import statement (ast) --------------------------------
PACKAGE = Path(__file__).parent.parent / "numatui"
#: Each layer imports only layers listed before it (and itself); the CLI runs
#: the TUI, so it comes after it.  autosave and
#: bench are placed by what they use: autosave writes the session's state
#: (model + session), bench measures the whole app (it may import the TUI).
LAYERS = ["model", "session", "autosave", "core", "tui", "cli", "bench"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Module -> the numatui modules it imports, from every import statement
    (top level, function level, ``if TYPE_CHECKING:``)."""
    import ast

    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        name = _module_name(path)
        package = name if path.stem == "__init__" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    if parts[1].startswith("cli") or parts[1] == "__main__":
        return "cli"
    return parts[1]


def test_every_module_imports_only_its_own_layer_or_lower() -> None:
    graph = _imports()
    assert "numatui.core.vm" in graph and "numatui.tui.app" in graph
    bad = []
    for module, imported in graph.items():
        mine = _layer(module)
        if mine == "package":
            continue
        rank = LAYERS.index(mine)
        bad += [f"{module} -> {other}" for other in imported
                if _layer(other) != "package" and LAYERS.index(_layer(other)) > rank]
    assert bad == []


def test_no_import_cycles() -> None:
    """Not even through ``if TYPE_CHECKING:`` or a function-level import.
    (A package's ``__init__`` importing its own modules is not an edge back.)"""
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in _imports().items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for other in sorted(graph.get(module, ())):
            if state.get(other) == 1:
                cycles.append([*path[path.index(other):], other])
            elif other not in state:
                visit(other, [*path, other])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
