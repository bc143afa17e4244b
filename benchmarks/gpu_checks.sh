#!/usr/bin/env bash
# GPU checks on a machine with one CUDA GPU (benchmarks/README.md, section 5): U-Net throughput vs
# diffusers (fp32, bf16), noise from a CPU vs a GPU generator, and the README's trainer=gpu commands end
# to end: digits (train, sample on GPU and CPU, eval) and CIFAR-10 (fabricated files in the real format).
#   bash benchmarks/gpu_checks.sh [results folder] [throughput] [digits] [cifar]   # default: all three
# (genflow importable: installed, or PYTHONPATH=.)
set -uo pipefail
R=${1:-benchmarks/results/gpu}
PARTS=${*:2}
PARTS=${PARTS:-throughput digits cifar}
W=$(mktemp -d)
mkdir -p "$R"
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
genflow() { "$PY" -c 'import sys; from genflow.app.cli import main; sys.exit(main())' "$@"; }
step() {
  local t0=$EPOCHREALTIME
  echo "=== $*"
  "$@"
  echo "=== rc=$? after $(awk "BEGIN {printf \"%.1f\", $EPOCHREALTIME - $t0}") s"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$PY" -c 'import torch, lightning; print("torch", torch.__version__, "lightning", lightning.__version__)'

throughput() {
step "$PY" benchmarks/unet_throughput.py --batch 128
step "$PY" benchmarks/unet_throughput.py --batch 128 --bf16
step "$PY" benchmarks/gpu_sampling.py
cp benchmarks/results/unet_throughput_cuda*.json benchmarks/results/gpu_sampling_cuda.json "$R"/
}

digits() {
# digits: the README's image example on the GPU (bf16-mixed), then sample on the GPU and on the CPU
step genflow train model=ddpm data=digits trainer=gpu hydra.run.dir="$W/digits"
cp "$W/digits/metrics.json" "$R/digits_train_metrics.json"
cp "$W/digits/samples.png" "$R/digits_samples.png"
for device in cuda cpu; do
  step genflow sample ckpt="$W/digits" sampler=ddim sampler.num_steps=50 num_samples=1000 device=$device \
    hydra.run.dir="$W/sample_$device"
done
"$PY" - "$W" <<'PY'
import sys, numpy as np
a, b = (np.load(f"{sys.argv[1]}/sample_{d}/samples.npz")["x"] for d in ("cuda", "cpu"))
print(f"digits samples, same seed on cuda and cpu: max |diff| = {np.abs(a - b).max():.2e}, mean {a.mean():.4f} vs {b.mean():.4f}")
PY
step genflow eval ckpt="$W/digits" metric=fd_digits num_points=1000 sampler=ddim sampler.num_steps=50 \
  hydra.run.dir="$W/eval_fd"
step genflow eval ckpt="$W/digits" metric=bpd num_points=500 trace=hutchinson hydra.run.dir="$W/eval_bpd"
}

cifar() {
# CIFAR-10 (1,000 fabricated images per batch file): model=vp_sde data=cifar10 trainer=gpu, two lengths
# of run; the difference of their times over 500 steps is the time per training step
"$PY" -c "import sys; sys.path.insert(0, 'tests'); from image_files import write_cifar10; write_cifar10('$W/cifar', 1000)"
for steps in 100 600; do
  step genflow train model=vp_sde data=cifar10 trainer=gpu data.root="$W/cifar" trainer.max_steps=$steps \
    checkpoint_every_n_steps=100000 plot_every_n_steps=0 sampler.num_steps=100 hydra.run.dir="$W/cifar_$steps"
done
cp "$W/cifar_600/metrics.json" "$R/cifar_train_metrics.json"
step genflow sample ckpt="$W/cifar_600" sampler=ddim sampler.num_steps=20 num_samples=256 batch_size=128 \
  hydra.run.dir="$W/cifar_sample"
cat "$W/cifar_sample/metrics.json"
}

for part in $PARTS; do $part; done
