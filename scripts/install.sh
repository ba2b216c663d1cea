#!/usr/bin/env bash
# Creates the virtual environment and installs crl with a CPU build of torch (never the 5 GB CUDA build by accident).
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  # The CPU build: a local wheel where pip's find-links has one (these machines do), else PyTorch's CPU index.
  # (A plain `pip install torch` on Linux fetches the ~5 GB CUDA build; set TORCH_SPEC to choose your own.)
  if [ -n "${TORCH_SPEC:-}" ]; then
    $PIP install -q "$TORCH_SPEC"
  else
    $PIP install -q "torch==2.13.0+cpu" 2>/dev/null \
      || $PIP install -q torch --index-url https://download.pytorch.org/whl/cpu
  fi
fi
$PIP install -q -e ".[all]"
echo "crl installed in $VENV"
