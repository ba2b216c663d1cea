"""Architecture boundaries: the headless library never imports the UI stack."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI_PACKAGES = {"streamlit", "plotly", "pyvis"}
# Everything `crl train` (foreground, background job or torchrun worker) and `crl evaluate` load.
TRAINING_PATH = [
    "crl.train",
    "crl.model",
    "crl.checkpoint",
    "crl.run_folder",
    "crl.jobs",
    "crl.runs",
    "crl.sparsity_path",
    "crl.distributed",
    "crl.evaluate",
    "crl.data.load",
    "crl.data.synthetic",
    "crl.metrics",
]


def _imported_top_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_crl_ui_imports_streamlit():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "crl").rglob("*.py")
        if "ui" not in p.relative_to(ROOT / "crl").parts[:1] and "streamlit" in _imported_top_modules(p)
    ]
    assert offenders == []


def test_training_path_runs_without_ui_packages():
    """A GPU box may lack streamlit/plotly/pyvis: the CLI and training modules must import without them."""
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {sorted(UI_PACKAGES)!r}:\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import crl, crl.cli\n"
        f"for m in {TRAINING_PATH!r}:\n"
        "    __import__(m)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
