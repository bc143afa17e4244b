#!/usr/bin/env bash
# Wheels of what genflow and the GPU checks need that the lent GPU machine's image lacks (it has torch,
# lightning, torchdiffeq, torchmetrics, scipy, scikit-learn, matplotlib, rich, pytest, huggingface_hub,
# safetensors, ...; no registry can be reached from it). Run here, once, in the repository's root; then
# carry .whl (ignored by git) with the run: benchmarks/gpu_checks.sh installs them into /tmp/site.
#   bash benchmarks/gpu_wheels.sh            # -> .whl/*.whl, for CPython 3.12 on manylinux x86_64
set -euo pipefail
PY=${PY:-python3}
mkdir -p .whl
platforms=""
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms="$platforms --platform $p"
done
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $platforms -d .whl \
  "hydra-core==1.3.2" "omegaconf==2.3.0" "platformdirs>=3" "POT>=0.9" "diffusers>=0.30" "importlib_metadata>=6"
# antlr4-python3-runtime 4.9.3 (what omegaconf 2.3 pins) is published as a source archive only: build its
# pure-Python wheel here
"$PY" -m pip wheel -q --no-deps -w .whl "antlr4-python3-runtime==4.9.3"
ls -1 .whl
