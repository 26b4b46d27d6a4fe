#!/usr/bin/env bash
# Sets up trackbench on a fresh Debian or Ubuntu machine, idempotently:
#   1. the Debian packages it builds with (skipped when all are installed),
#   2. LibTorch from the PyPI torch wheel in a virtual environment (skipped when present),
#   3. for the tests and benchmarks only: h5py beside torch for scripts/read_snapshot.py, the
#      cuDNN frontend's C++ headers (PyPI nvidia-cudnn-frontend) in the same virtual environment
#      for the direct cuDNN baseline (kernels/dev/cudnn_baseline.h, bench/), and mlflow in a
#      virtual environment of its own for the MLflow export's tests,
#   4. configure and build with CMake (incremental; nothing rebuilds needlessly).
# With --only-training (scripts/train.sh) it installs and builds only what the trackbench
# executable needs: no test or benchmark packages (GoogleTest, Google Benchmark, clang for the
# fuzzer, Chromium, Fashion-MNIST), no h5py, no cuDNN frontend, no MLflow, and only the
# trackbench target, configured without the tests and benchmarks. A later full run
# (scripts/test.sh) turns them on in the same build folder; the trackbench objects are kept.
# Runs as root or through sudo. Usage: scripts/setup.sh [--only-training] [release|debug]
set -euo pipefail

only_training=false
if [ "${1:-}" = "--only-training" ]; then
  only_training=true
  shift
fi
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

# What building the trackbench executable needs (the libraries of cmake/TrackbenchDependencies.cmake
# outside the test and benchmark block; openmpi-bin is the launcher of `train --nproc`).
training_packages=(
  build-essential cmake ninja-build git pkg-config python3 python3-venv python3-pip zlib1g-dev
  libhdf5-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev libssl-dev libcurl4-openssl-dev
  libopenmpi-dev openmpi-bin libsqlite3-dev
)
# What the tests and benchmarks add: GoogleTest and Google Benchmark, the data set and the h5py of
# their tests, clang for the fuzzer (tests/fuzz), Chromium for the report's rendering test,
# Valgrind for `trackbench bench --measure instructions` (callgrind) and its tests.
test_packages=(
  libgtest-dev libgmock-dev libbenchmark-dev dataset-fashion-mnist python3-h5py clang libclang-rt-dev
  chromium valgrind
)
packages=("${training_packages[@]}")
$only_training || packages+=("${test_packages[@]}")
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

# The CMake cache entries this setup decides, as NAME:TYPE=VALUE; the build folder is configured
# again only when one of them differs from its cache.
cache=("TRACKBENCH_PYTHON:STRING=$python")

if ! $only_training; then
  # A package a test imports next to torch: our venv gets it from PyPI; another Python is left
  # as it is, and the test that needs it skips.
  python_package() {  # PACKAGE TEST
    "$python" -c "import $1" 2>/dev/null && return
    if [ "$python" = "$venv/bin/python" ]; then
      say "installing $1 into $venv"
      "$venv/bin/python" -m pip install --quiet "$1"
    else
      say "warning: $python has no $1; $2 will be skipped"
    fi
  }
  # scripts/read_snapshot.py reads snapshots with h5py next to torch; Debian's python3-h5py
  # serves the system Python.
  python_package h5py "the Python reader's test"
  # The test of `trackbench history --junit` reads the file with a real JUnit reader.
  python_package junitparser "the JUnit reader's test"

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

  cache+=(
    "TRACKBENCH_BUILD_TESTS:BOOL=ON" "TRACKBENCH_BUILD_BENCHMARKS:BOOL=ON"
    "TRACKBENCH_MLFLOW:FILEPATH=$mlflow" "CUDNN_FRONTEND_ROOT:PATH=$cudnn_frontend_root"
  )
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
cache_file="$build_dir/CMakeCache.txt"
# A first configure for training leaves the tests and benchmarks out (they need packages it did
# not install); a folder a full setup configured keeps them, and training builds its one target.
if $only_training && [ ! -f "$cache_file" ]; then
  cache+=("TRACKBENCH_BUILD_TESTS:BOOL=OFF" "TRACKBENCH_BUILD_BENCHMARKS:BOOL=OFF")
fi
configure=false
[ -f "$cache_file" ] || configure=true
for entry in "${cache[@]}"; do
  $configure || grep -qxF -- "$entry" "$cache_file" || configure=true
done
if $configure; then
  say "configuring preset $preset"
  cmake --preset "$preset" "${cache[@]/#/-D}" >/dev/null
fi
if $only_training; then
  say "building the trackbench executable of preset $preset"
  cmake --build --preset "$preset" --target trackbench >&2
else
  say "building preset $preset"
  cmake --build --preset "$preset" >&2
fi
