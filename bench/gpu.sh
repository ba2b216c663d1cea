#!/usr/bin/env bash
# The whole GPU check as one command, from a checkout, with nothing installed:
# the `crl` command line end to end on CUDA (one GPU, then through torchrun), then bench/gpu.py's measurements.
#   bash bench/gpu.sh [OUT]    # gpu-steps.log (every step's output) and results into OUT; about 10 minutes
set -u
out=${1:-bench/results}
mkdir -p "$out"; rm -f "$out/gpu-steps.log"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
work=$(mktemp -d)
mkdir "$work/bin"  # a `crl` command for this checkout, as `pip install` would make
printf '#!/bin/sh\nexec python3 -c "import sys; from crl.cli import main; sys.exit(main())" "$@"\n' >"$work/bin/crl"
chmod +x "$work/bin/crl"
export PATH=$work/bin:$PATH
step() {  # step NAME SECONDS COMMAND...: run it with a time limit; say how it went, go on either way
    local name=$1 limit=$2 started=$SECONDS
    shift 2
    if timeout "$limit" "$@" >"$work/$name.log" 2>&1; then
        echo "ok     $name ($((SECONDS - started)) s)"
    else
        echo "FAILED $name (exit $?, $((SECONDS - started)) s):"
        tail -n 15 "$work/$name.log"
    fi
    { echo "== $name: $*"; cat "$work/$name.log"; } >>"$out/gpu-steps.log"
}

nvidia-smi -L
python3 -c "import torch, numpy, pandas; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
'numpy', numpy.__version__, 'pandas', pandas.__version__)"
step synth 60 crl synth paper-case1 --n 2000 --out "$work/case1"
step train 120 crl train "$work/case1" --out "$work/run" --device cuda --set train.epochs=5
step evaluate 60 crl evaluate "$work/run"
step torchrun 120 crl train "$work/case1" --out "$work/run-ddp" --gpus 1 --set train.epochs=3
step images-synth 60 crl synth images --n 1000 --out "$work/images"
step images-train 120 crl train "$work/images" --out "$work/run-images" --device cuda --set train.epochs=2
step scale 300 python3 bench/gpu.py --parts scale --name gpu-scale
grep '^scale' "$work/scale.log"
step bench 420 python3 bench/gpu.py --parts speed,images --name gpu
grep '^speed' "$work/bench.log"
[ "$out" = bench/results ] || cp bench/results/gpu.md bench/results/gpu.json bench/results/gpu-scale.md \
    bench/results/gpu-scale.json "$out/" 2>/dev/null
rm -rf "$work"
