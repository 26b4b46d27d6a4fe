#!/usr/bin/env bash
# The kernels' tuning harness: builds the drivers with nvcc alone (the kernels' sources, cuDNN
# and the cuDNN frontend's headers; no LibTorch, nothing from Debian) and runs them.
#   kernels/dev/run.sh [forward|backward_input|backward_weight|all] [driver arguments ...]
#       builds what changed, then runs the pass (all: the three), e.g.
#       kernels/dev/run.sh backward_weight --layer=conv2 --versions=2,3 1024
#   kernels/dev/run.sh build DIR    only builds the three drivers into DIR (to stage them)
# Without nvcc it runs the drivers already in TRACKBENCH_DEV_BUILD (built elsewhere for the GPU).
# Driver arguments: [--layer=conv1|conv2] [--versions=V,V...] [--reps=N] [batch ...] (harness.cuh).
# Environment: CUDA_ARCH (default: the first GPU's, from nvidia-smi, else 90), CUDNN_ROOT (a
# folder with include/cudnn.h and lib/libcudnn.so.9; default: python3's torch wheel's
# nvidia/cudnn, else the CUDA install's), CUDNN_FRONTEND_ROOT (a folder with
# include/cudnn_frontend.h; default: python3's nvidia-cudnn-frontend wheel, also in
# scripts/setup.sh's virtual environment; where no wheel is, scripts/gpu_check.sh stage's
# STAGE/cudnn_frontend), TRACKBENCH_DEV_BUILD (default build/dev).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
say() { printf 'dev: %s\n' "$*" >&2; }
passes=(forward backward_input backward_weight)

nvcc="$(command -v nvcc || true)"
[ -n "$nvcc" ] || [ ! -x /usr/local/cuda/bin/nvcc ] || nvcc=/usr/local/cuda/bin/nvcc

# The folder that `python -c CODE` prints, when it holds HEADER: python3's first, then the
# project's venv (scripts/setup.sh); prints nothing when neither has it.
python_package_folder() {
  local code="$1" header="$2" python candidate
  for python in python3 "${XDG_CACHE_HOME:-$HOME/.cache}/trackbench/venv/bin/python"; do
    candidate="$("$python" -c "$code" 2>/dev/null || true)"
    if [ -n "$candidate" ] && [ -f "$candidate/$header" ]; then
      (cd "$candidate" && pwd)
      return
    fi
  done
}

find_cudnn() {
  if [ -n "${CUDNN_ROOT:-}" ]; then
    echo "$CUDNN_ROOT"
    return
  fi
  local folder
  folder="$(python_package_folder 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "..", "nvidia", "cudnn"))' include/cudnn.h)"
  [ -n "$folder" ] || folder="$(dirname "$(dirname "${nvcc:-/usr/local/cuda/bin/nvcc}")")"
  if [ -f "$folder/include/cudnn.h" ]; then
    echo "$folder"
    return
  fi
  say "no cuDNN found: set CUDNN_ROOT to a folder with include/cudnn.h and lib/libcudnn.so.9 (pip install nvidia-cudnn-cu13 has one)"
  exit 1
}

# The cuDNN frontend's headers (header-only), for the cuDNN baseline (cudnn_baseline.cpp).
find_cudnn_frontend() {
  if [ -n "${CUDNN_FRONTEND_ROOT:-}" ]; then
    echo "$CUDNN_FRONTEND_ROOT"
    return
  fi
  # From the wheel's metadata: importing its Python module would need its Python dependencies.
  local folder
  folder="$(python_package_folder 'import importlib.metadata as m; print(m.distribution("nvidia-cudnn-frontend").locate_file(""))' include/cudnn_frontend.h)"
  if [ -n "$folder" ]; then
    echo "$folder"
    return
  fi
  say "no cuDNN frontend found: set CUDNN_FRONTEND_ROOT to a folder with include/cudnn_frontend.h (scripts/setup.sh installs the nvidia-cudnn-frontend wheel; scripts/gpu_check.sh stage carries its headers in STAGE/cudnn_frontend)"
  exit 1
}

arch="${CUDA_ARCH:-}"
if [ -z "$arch" ]; then
  arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d '. ' || true)"
  [ -n "$arch" ] || arch=90
fi

build() {
  local out="$1"
  [ -n "$nvcc" ] || { say "no nvcc on PATH or in /usr/local/cuda/bin"; exit 1; }
  local cudnn frontend
  cudnn="$(find_cudnn)"
  frontend="$(find_cudnn_frontend)"
  local cudnn_lib="$cudnn/lib"
  [ -d "$cudnn_lib" ] || cudnn_lib="$cudnn/lib64"
  mkdir -p "$out"
  local flags=(-std=c++17 -O3 -arch="sm_$arch" -DTRACKBENCH_WITH_CUDA=1 -I"$root/kernels/include" -I"$root/kernels/src"
    -I"$cudnn/include" -isystem "$frontend/include")
  # The kernels and the cuDNN baseline compile once into objects the three drivers share;
  # make-style, by timestamp (of the source and of the headers beside it and in kernels/include).
  local objects=() source object
  for source in kernels/src/conv2d.cu kernels/src/conv2d_v1.cu kernels/src/conv2d_v2.cu kernels/src/conv2d_v3.cu \
    kernels/src/conv2d.cpp kernels/src/precision.cpp kernels/dev/cudnn_baseline.cpp; do
    object="$out/$(basename "${source/./_}").sm_$arch.o"
    if [ ! -f "$object" ] || [ "$root/$source" -nt "$object" ] ||
      [ -n "$(find "$root/kernels/include" "$root/$(dirname "$source")" -newer "$object" \( -name '*.h' -o -name '*.cuh' \) |
        head -n1)" ]; then
      say "compiling $source for sm_$arch"
      "$nvcc" "${flags[@]}" -c "$root/$source" -o "$object"
    fi
    objects+=("$object")
  done
  local pass
  for pass in "${passes[@]}"; do
    say "building $out/$pass"
    "$nvcc" "${flags[@]}" "$here/$pass.cu" "${objects[@]}" -L"$cudnn_lib" -l:libcudnn.so.9 \
      -Xlinker -rpath -Xlinker "$cudnn_lib" -o "$out/$pass"
  done
}

case "${1:-all}" in
  build)
    [ "$#" -eq 2 ] || { say "usage: $0 build DIR"; exit 2; }
    build "$2"
    ;;
  forward | backward_input | backward_weight | all)
    which="${1:-all}"
    [ "$#" -eq 0 ] || shift
    out="${TRACKBENCH_DEV_BUILD:-$root/build/dev}"
    if [ -z "$nvcc" ] && [ -x "$out/forward" ] && [ -x "$out/backward_input" ] && [ -x "$out/backward_weight" ]; then
      # A GPU machine without the CUDA toolkit: drivers built elsewhere (run.sh build) and
      # carried here, with cuDNN from this machine's torch wheel.
      say "no nvcc: running the drivers already in $out"
      cudnn="$(find_cudnn)"
      export LD_LIBRARY_PATH="$cudnn/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    else
      build "$out"
    fi
    status=0
    for pass in "${passes[@]}"; do
      [ "$which" = all ] || [ "$which" = "$pass" ] || continue
      "$out/$pass" "$@" || status=1
    done
    exit "$status"
    ;;
  *)
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
