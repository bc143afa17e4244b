#!/usr/bin/env bash
# Every GPU measurement of issue 23 (benchmarks/README.md, section 5) in one call on a machine with one
# CUDA GPU, within BUDGET seconds (default 470): each part is capped with `timeout` at what is left of
# the budget, in order of importance, and writes its results as it goes, so a part cut short keeps
# what it measured. Results and the log go to $OUT (the lent machine's output folder) or the folder
# given as the first argument; at most 7 files.
#
#   bash benchmarks/gpu_checks.sh [results folder] [parts...]
#   parts (default: all, in this order):
#     tests       GPU pytest checks (fused attention kernels, no host sync per step) and the CPU tests
#                 of this code on the machine's torch
#     eager       U-Net vs diffusers' UNet2DModel, eager, like for like: fp32 (strict), tf32, bf16,
#                 bf16 + channels_last, and bf16 with diffusers' heads of 8 channels
#     compiled    genflow compiled (bf16, channels_last) vs diffusers eager, interleaved
#     train       `genflow train model=vp_sde data=cifar10 trainer=gpu` step time: eager vs compile=true
#     peer        genflow compiled vs diffusers compiled (the peer at its best), interleaved
#     digits      the 0.7M digits U-Net (launch-bound): eager vs compile_mode=reduce-overhead (CUDA graphs)
#
# genflow's dependencies missing from the GPU image travel as wheels: run `bash benchmarks/gpu_wheels.sh`
# here first and carry .whl; they are installed into /tmp/site. Device call, from the repository root:
#   run(command="bash benchmarks/gpu_checks.sh", carry=[".whl"], timeout_s=540)
# Parts the budget cut (the log says "skipped") can follow in a second call on the same warm machine
# (inductor's cache in /tmp is kept): run(command="bash benchmarks/gpu_checks.sh \$OUT peer digits", ...)
set -uo pipefail
R=${1:-${OUT:-benchmarks/results/gpu}}
PARTS=${*:2}
PARTS=${PARTS:-tests eager compiled train peer digits}
BUDGET=${BUDGET:-470}
mkdir -p "$R"
exec > >(tee -a "$R/gpu_checks.log") 2>&1
START=$SECONDS
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled PYTHONWARNINGS=ignore
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
PY=${PY:-python3}
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
"$PY" -c 'import torch, lightning; print("torch", torch.__version__, "lightning", lightning.__version__, "cpus", __import__("os").cpu_count())'

# part NAME CAP COMMAND...: run with the smaller of CAP and what is left of the budget (skipped under 30 s)
part() {
  local name=$1 cap=$2 left rc t0=$SECONDS
  shift 2
  left=$((BUDGET - (SECONDS - START)))
  ((cap > left)) && cap=$left
  if ((cap < 30)); then echo "=== $name: skipped, ${left}s of the budget left"; return; fi
  echo "=== $name (cap ${cap}s): $*"
  timeout --signal=INT --kill-after=15 "$cap" "$@"
  rc=$?
  echo "=== $name: rc=$rc after $((SECONDS - t0))s (budget used $((SECONDS - START))s of $BUDGET)"
}

B=benchmarks
for p in $PARTS; do
  case $p in
    tests) part tests 100 "$PY" -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_unet.py \
             tests/test_ema.py tests/test_optimization_step.py ;;
    eager) part eager 120 "$PY" $B/unet_throughput.py --out "$R/unet_eager.json" --iters 6 \
             --groups fp32 tf32 bf16 bf16-cl
           part eager_heads8 40 "$PY" $B/unet_throughput.py --out "$R/unet_eager_heads8.json" --heads 32 \
             --iters 6 --groups bf16-cl ;;
    compiled) part compiled 150 "$PY" $B/unet_throughput.py --out "$R/unet_compiled.json" \
             --groups genflow:bf16-cl-compiled,diffusers:bf16-cl,genflow:bf16-cl ;;
    train) part train 110 "$PY" $B/train_step_time.py --case cifar10 --steps 150 --warm 50 \
             --variants eager compiled+channels_last --out "$R/train_cifar10.json" ;;
    peer) part peer 130 "$PY" $B/unet_throughput.py --out "$R/unet_peer_compiled.json" \
             --groups bf16-cl-compiled ;;
    digits) part digits 90 "$PY" $B/train_step_time.py --case digits --steps 300 --warm 100 --sample-steps 50 \
             --variants eager cudagraphs --out "$R/train_digits.json" ;;
    *) echo "unknown part $p" ;;
  esac
done
echo "=== done in $((SECONDS - START))s"
