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
