#!/usr/bin/env bash
# Sets up trackbench on a fresh Debian or Ubuntu machine, idempotently:
#   1. the Debian packages it builds and tests with (skipped when all are installed),
#   2. LibTorch from the PyPI torch wheel in a virtual environment (skipped when present), with h5py
#      for scripts/read_snapshot.py,
#   3. the cuDNN frontend's C++ headers (PyPI nvidia-cudnn-frontend) in the same virtual
#      environment, for the direct cuDNN baseline (kernels/dev/cudnn_baseline.h),
#   4. mlflow in a virtual environment of its own, for the MLflow export's tests,
#   5. configure and build with CMake (incremental; nothing rebuilds needlessly).
# Runs as root or through sudo. Usage: scripts/setup.sh [release|debug]
set -euo pipefail

preset="${1:-release}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
torch_version="2.11.0"
mlflow_version="3.17.2"
cudnn_frontend_version="1.32.0"
venv="${TRACKBENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/trackbench/venv}"
# MLflow has its own environment: its many dependencies stay out of torch's.
mlflow_venv="${TRACKBENCH_MLFLOW_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/trackbench/mlflow-venv}"

say() { printf 'setup: %s\n' "$*" >&2; }
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

packages=(
  build-essential cmake ninja-build git pkg-config python3 python3-venv python3-pip zlib1g-dev
  libhdf5-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  nlohmann-json3-dev libssl-dev libcurl4-openssl-dev dataset-fashion-mnist python3-h5py clang libclang-rt-dev
  chromium libopenmpi-dev openmpi-bin
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "Debian packages present"
fi

# nvcc is on PATH on the project's machines; a default CUDA install location works too.
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

has_torch() { "$1" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$torch_version')" 2>/dev/null; }

# A Python whose torch is the pinned version: the one named, ours, or the system's.
python=""
for candidate in "${TRACKBENCH_PYTHON:-}" "$venv/bin/python" "$(command -v python3 || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && has_torch "$candidate"; then
    python="$candidate"
    break
  fi
done
if [ -z "$python" ]; then
  say "installing torch==$torch_version (LibTorch, CUDA 13 build, with its nvidia-* CUDA libraries) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "torch==$torch_version"
  python="$venv/bin/python"
else
  say "torch $torch_version found for $python"
fi

# scripts/read_snapshot.py reads snapshots with h5py next to torch; Debian's python3-h5py
# serves the system Python, our venv gets it from PyPI.
if ! "$python" -c "import h5py" 2>/dev/null; then
  if [ "$python" = "$venv/bin/python" ]; then
    say "installing h5py into $venv"
    "$venv/bin/python" -m pip install --quiet h5py
  else
    say "warning: $python has no h5py; the Python reader's test will be skipped"
  fi
fi

# The cuDNN frontend is header-only C++; its wheel also carries a Python API whose dependencies
# (the CUTLASS DSL and more, hundreds of MB) the headers do not need: --no-deps. Into our venv
# even when torch came from another Python, so that CMake and kernels/dev/run.sh find it there.
frontend_python="$venv/bin/python"
if ! "$frontend_python" -c "import importlib.metadata as m, sys; sys.exit(m.version('nvidia-cudnn-frontend') != '$cudnn_frontend_version')" 2>/dev/null; then
  say "installing nvidia-cudnn-frontend==$cudnn_frontend_version (headers) into $venv"
  [ -x "$frontend_python" ] || python3 -m venv "$venv"
  "$frontend_python" -m pip install --quiet --no-deps "nvidia-cudnn-frontend==$cudnn_frontend_version"
else
  say "cuDNN frontend $cudnn_frontend_version found in $venv"
fi
# The folder with include/cudnn_frontend.h (the wheel installs its headers there).
cudnn_frontend_root="$("$frontend_python" -c 'import importlib.metadata as m; print(m.distribution("nvidia-cudnn-frontend").locate_file(""))')"

# The MLflow export is tested against a real `mlflow server`.
mlflow="$mlflow_venv/bin/mlflow"
if ! "$mlflow_venv/bin/python" -c "import mlflow, sys; sys.exit(mlflow.__version__ != '$mlflow_version')" 2>/dev/null; then
  say "installing mlflow==$mlflow_version into $mlflow_venv"
  [ -x "$mlflow_venv/bin/python" ] || python3 -m venv "$mlflow_venv"
  "$mlflow_venv/bin/python" -m pip install --quiet "mlflow==$mlflow_version"
else
  say "mlflow $mlflow_version found in $mlflow_venv"
fi

# CMake 3.25 or newer; older distributions get it from PyPI next to torch.
cmake_ok() { command -v cmake >/dev/null 2>&1 && printf '%s\n3.25\n' "$(cmake --version | head -n1 | awk '{print $3}')" | sort -V -C -r; }
if ! cmake_ok; then
  if [ ! -x "$venv/bin/cmake" ]; then
    say "installing CMake from PyPI into $venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet "cmake>=3.25"
  fi
  export PATH="$venv/bin:$PATH"
fi

cd "$root"
build_dir="build/$preset"
if [ ! -f "$build_dir/CMakeCache.txt" ] || ! grep -qx "TRACKBENCH_PYTHON:STRING=$python" "$build_dir/CMakeCache.txt" ||
  ! grep -qx "TRACKBENCH_MLFLOW:FILEPATH=$mlflow" "$build_dir/CMakeCache.txt" ||
  ! grep -qx "CUDNN_FRONTEND_ROOT:PATH=$cudnn_frontend_root" "$build_dir/CMakeCache.txt"; then
  say "configuring preset $preset"
  cmake --preset "$preset" -DTRACKBENCH_PYTHON="$python" -DTRACKBENCH_MLFLOW="$mlflow" \
    -DCUDNN_FRONTEND_ROOT:PATH="$cudnn_frontend_root" >/dev/null
fi
say "building preset $preset"
cmake --build --preset "$preset" >&2
