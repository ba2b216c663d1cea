"""Architecture boundaries: the headless library never imports the UI stack."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI_PACKAGES = {"streamlit", "plotly", "pyvis"}
# Optional extras (pyproject.toml), and missing from GPU images where nothing can be installed: the affine default
# must train without them; only the spline flow needs zuko and only the covariate analysis causal-learn.
OPTIONAL_PACKAGES = {"zuko", "causallearn"}
# Everything `crl train` (foreground, background job or torchrun worker) and `crl evaluate` load.
TRAINING_PATH = [
    "crl.engine.fit",
    "crl.core.model",
    "crl.runs.checkpoint",
    "crl.runs.folder",
    "crl.jobs",
    "crl.jobs.worker",
    "crl.jobs.launch",
    "crl.jobs.__main__",
    "crl.runs.results",
    "crl.cli.train",
    "crl.cli.runs",
    "crl.runs.registry",
    "crl.runs.sparsity_path",
    "crl.engine.distributed",
    "crl.analysis.evaluate",
    "crl.data.load",
    "crl.data.synthetic",
    "crl.analysis.metrics",
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


def _run_without(packages: set[str], code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter in which importing any of `packages` fails."""
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {sorted(packages)!r}:\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    return subprocess.run([sys.executable, "-c", blocker + code], capture_output=True, text=True, cwd=ROOT)


def test_training_path_runs_without_ui_packages():
    """A GPU box may lack streamlit/plotly/pyvis (and zuko, causal-learn): the CLI and training modules import."""
    result = _run_without(
        UI_PACKAGES | OPTIONAL_PACKAGES,
        f"import crl, crl.cli\nfor m in {TRAINING_PATH!r}:\n    __import__(m)\nprint('ok')\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_default_model_trains_without_optional_packages():
    """The default (affine) model trains a step with zuko and causal-learn missing; the spline says why not."""
    code = (
        "import torch\n"
        "from crl.config import apply_overrides, default_config\n"
        "from crl.errors import ConfigError\n"
        "from crl.data.synthetic import generate\n"
        "from crl.core.model import build_model\n"
        "from crl.engine.fit import fit\n"
        "cohort = generate('paper-case1', n=200, seed=0).to_cohort()\n"
        "config = apply_overrides(default_config(cohort.schema()), ['train.epochs=1', 'train.min_steps=0', 'train.device=cpu'])\n"
        "fit(build_model(config, cohort.schema()), cohort, config)\n"
        "spline = apply_overrides(config, ['prior.flow=spline'])\n"
        "try:\n"
        "    fit(build_model(spline, cohort.schema()), cohort, spline)\n"
        "except ConfigError as error:\n"
        "    print('spline:', error)\n"
        "print('ok')\n"
    )
    result = _run_without(UI_PACKAGES | OPTIONAL_PACKAGES, code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "ok"
    assert lines[0].startswith("spline: the spline flow (prior.flow=spline) needs the zuko package")


def test_covariate_links_without_causal_learn_say_how_to_install_it():
    """causal-learn is an optional extra: without it, linking covariates is a named error with the pip line."""
    code = (
        "import numpy as np, pandas as pd\n"
        "from crl.analysis.covariates import link_covariates\n"
        "from crl.errors import CrlError\n"
        "rng = np.random.default_rng(0)\n"
        "ids = [str(i) for i in range(50)]\n"
        "latents = pd.DataFrame(rng.normal(size=(50, 2)), index=ids, columns=['a.z0', 'a.z1'])\n"
        "covariates = pd.DataFrame({'age': rng.normal(size=50)}, index=ids)\n"
        "try:\n"
        "    link_covariates(latents, covariates)\n"
        "except CrlError as error:\n"
        "    print(error)\n"
    )
    result = _run_without({"causallearn"}, code)
    assert result.returncode == 0, result.stderr
    assert "needs the causal-learn package" in result.stdout
    assert 'pip install "crl[covariates]"' in result.stdout
