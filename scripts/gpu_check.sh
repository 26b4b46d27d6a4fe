#!/usr/bin/env bash
# The one-shot GPU check, in two parts so that nothing compiles on the GPU machine.
#
#   scripts/gpu_check.sh stage [STAGE]      here: build for sm_90 (build/gpu-check) and stage the
#                                           binaries with every shared library they need that is
#                                           neither LibTorch's nor glibc's into STAGE
#                                           (default build/gpu-check/stage)
#   scripts/gpu_check.sh run STAGE OUT      on the GPU machine: the CUDA tests, the kernels' tuning
#                                           harness (kernels/dev), the GPU benchmarks of the kernels
#                                           and trainer suites and a short training with each conv
#                                           backend, every result written under OUT
#
# The GPU machine needs python3 with torch 2.11.0 (its lib folder provides LibTorch and its
# CUDA libraries) and an NVIDIA driver; it needs none of the Debian libraries, which travel
# in STAGE/lib. On an H200 (2026-11-30) a run with 72 conv benchmarks took about 4.5 minutes,
# the kernels suite 72 s of it; the suite now has 180 (both precisions and v3) and the tuning
# harness runs too, so expect about 7 minutes (not yet measured).
# TRACKBENCH_GPU_CHECK_BUILD=DIR stages an existing build instead (it must include sm_90).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'gpu_check: %s\n' "$*" >&2; }
binaries=(trackbench trackbench_tests trackbench_bench_kernels trackbench_bench_trainer)

stage() {
  local stage_dir="${1:-$root/build/gpu-check/stage}"
  local build="${TRACKBENCH_GPU_CHECK_BUILD:-$root/build/gpu-check}"
  cd "$root"
  if [ -z "${TRACKBENCH_GPU_CHECK_BUILD:-}" ]; then
    # The Python whose torch provides LibTorch: the one scripts/setup.sh configured with.
    local python="${TRACKBENCH_PYTHON:-}"
    [ -n "$python" ] || python="$(sed -n 's/^TRACKBENCH_PYTHON:STRING=//p' build/release/CMakeCache.txt 2>/dev/null)"
    [ -n "$python" ] || { say "run scripts/setup.sh first (or set TRACKBENCH_PYTHON)"; exit 1; }
    say "configuring and building $build for sm_90"
    cmake --preset release -B "$build" -DCMAKE_CUDA_ARCHITECTURES=90 -DTRACKBENCH_PYTHON="$python" >/dev/null
    cmake --build "$build" --target "${binaries[@]}" -j "${TRACKBENCH_JOBS:-2}" >&2
  fi
  grep -q 'code=\[[a-z_0-9,]*sm_90' "$build/build.ninja" || { say "$build is not built for sm_90"; exit 1; }

  # Torch_DIR is <site-packages>/torch/share/cmake/Torch; the torch wheel and the nvidia-*
  # wheels with its CUDA libraries all sit in that site-packages.
  local site_packages
  site_packages="$(cd "$(sed -n 's/^Torch_DIR:PATH=//p' "$build/CMakeCache.txt")/../../../.." && pwd)"

  rm -rf "$stage_dir"
  mkdir -p "$stage_dir/bin" "$stage_dir/lib"
  local binary
  for binary in "${binaries[@]}"; do
    local path
    path="$(find "$build" -name "$binary" -type f -perm -u+x | head -n1)"
    [ -n "$path" ] || { say "no $binary in $build"; exit 1; }
    # Debug symbols would triple the size that has to travel.
    strip --strip-unneeded -o "$stage_dir/bin/$binary" "$path"
    # Every resolved library but LibTorch's, the torch wheel's CUDA libraries and glibc's.
    ldd "$path" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r library; do
      case "$library" in
        "$site_packages"/*) continue ;;
      esac
      case "$(basename "$library")" in
        libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | libresolv.so* | libutil.so* | ld-linux*) continue ;;
      esac
      [ -e "$stage_dir/lib/$(basename "$library")" ] || cp -L "$library" "$stage_dir/lib/"
    done
  done
  # The tuning harness, built by nvcc alone for the same GPU.
  CUDA_ARCH=90 "$root/kernels/dev/run.sh" build "$stage_dir/dev"
  rm -f "$stage_dir"/dev/*.o
  strip --strip-unneeded "$stage_dir"/dev/*
  cp "$root/scripts/gpu_check.sh" "$stage_dir/"
  cp "$build/CMakeCache.txt" "$stage_dir/build-cache.txt"  # what was built, and how
  say "staged $(du -sh "$stage_dir" | cut -f1) in $stage_dir: $(ls "$stage_dir/lib" | wc -l) libraries"
}

# The environment a staged binary runs in: our libraries, then LibTorch's from python3's torch,
# and the wheel's cuDNN, which the kernels suite links directly.
staged_environment() {
  local stage_dir="$1"
  local torch_lib cudnn_lib
  torch_lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
  cudnn_lib="$(cd "$torch_lib/../../nvidia/cudnn/lib" && pwd)"
  export LD_LIBRARY_PATH="$stage_dir/lib:$torch_lib:$cudnn_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

run() {
  local stage_dir out
  stage_dir="$(cd "$1" && pwd)"
  mkdir -p "$2"
  out="$(cd "$2" && pwd)"
  staged_environment "$stage_dir"
  local bin="$stage_dir/bin"
  local status=0
  cd "$out"
  cp "$stage_dir/build-cache.txt" "$out/"
  nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || true
  "$bin/trackbench" info >"$out/info.txt" 2>&1 || status=1

  say "CUDA tests"
  # The tests that need the GPU or exercise the op; the CLI and run tests need the source tree.
  "$bin/trackbench_tests" --gtest_filter='ConvKernels.*:NormalizeKernels.*:Model.*:Train.CustomConvTrainsLikeCudnnOnGpu' \
    --gtest_output="json:$out/tests.json" >"$out/tests.log" 2>&1 || status=1
  tail -n 3 "$out/tests.log" >&2

  say "tuning harness: every kernel version and precision against the CPU reference and cuDNN"
  local pass
  for pass in forward backward_input backward_weight; do
    "$stage_dir/dev/$pass" 128 1024 >"$out/dev-$pass.log" 2>&1 || status=1
    tail -n 1 "$out/dev-$pass.log" >&2
  done

  # The GPU benchmarks only (the CPU ones are measured on the CPU machine), 3 repetitions each:
  # 180 conv benchmarks (5 backends x 2 precisions x 2 layers x 3 passes x 3 batches) of about
  # 0.1 s and 12 trainer ones of about 0.2 s, plus their set-up.
  say "GPU benchmarks: kernels suite"
  "$bin/trackbench_bench_kernels" --benchmark_filter='/(custom|custom_v[0-9]+|cudnn_libtorch|cudnn)/' \
    --benchmark_min_time=0.1 --benchmark_repetitions=3 --benchmark_out="$out/bench_kernels.json" \
    --benchmark_out_format=json >"$out/bench_kernels.log" 2>&1 || status=1
  say "GPU benchmarks: trainer suite"
  "$bin/trackbench_bench_trainer" --benchmark_filter='/cuda/' --benchmark_min_time=0.2 --benchmark_repetitions=3 \
    --benchmark_out="$out/bench_trainer.json" --benchmark_out_format=json >"$out/bench_trainer.log" 2>&1 || status=1

  say "short training with each conv backend"
  local conv
  for conv in cudnn custom; do
    "$bin/trackbench" train --conv "$conv" --device cuda --epochs 3 --out "$out/runs" --tag check=gpu \
      >"$out/train-$conv.log" 2>&1 || status=1
    tail -n 2 "$out/train-$conv.log" >&2
  done
  "$bin/trackbench" train --conv reference --device cpu --epochs 1 --out "$out/runs" --tag check=gpu \
    >"$out/train-reference.log" 2>&1 || status=1
  tail -n 2 "$out/train-reference.log" >&2

  # Per layer, pass, precision and batch: median times, and the best cuDNN (the faster of the
  # direct path and LibTorch's) over the default kernels and over v3 (above 1: ours is faster).
  python3 - "$out/bench_kernels.json" >"$out/conv_ratios.md" <<'PY' || status=1
import json, sys
times, peak = {}, {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") != "median" or b.get("error_occurred"):
        continue
    _, layer, pass_, backend, precision, batch = b["name"].split("/")[:6]
    times[(layer, pass_, backend, precision, int(batch))] = b["real_time"]  # microseconds
    peak[(layer, pass_, backend, precision, int(batch))] = b.get("fraction_of_peak", 0.0)
print("| layer | pass | precision | batch | custom us | custom_v3 us | cudnn us | cudnn_libtorch us |"
      " best cuDNN / custom | best cuDNN / v3 | custom % of FP32 peak |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for layer in ("conv1", "conv2"):
    for pass_ in ("forward", "backward_input", "backward_weight"):
        for precision in ("fp32", "tf32"):
            for batch in (1, 128, 1024):
                key = lambda backend: (layer, pass_, backend, precision, batch)
                if not all(key(k) in times for k in ("custom", "custom_v3", "cudnn", "cudnn_libtorch")):
                    print(f"| {layer} | {pass_} | {precision} | {batch} | missing | | | | | | |")
                    continue
                custom, v3, cudnn, libtorch = (times[key(k)] for k in ("custom", "custom_v3", "cudnn", "cudnn_libtorch"))
                best = min(cudnn, libtorch)
                print(f"| {layer} | {pass_} | {precision} | {batch} | {custom:.1f} | {v3:.1f} | {cudnn:.1f} |"
                      f" {libtorch:.1f} | {best / custom:.2f} | {best / v3:.2f} | {100 * peak[key('custom')]:.1f} |")
PY
  cat "$out/conv_ratios.md" >&2
  return "$status"
}

case "${1:-}" in
  stage) stage "${2:-}" ;;
  run)
    [ "$#" -eq 3 ] || { say "usage: $0 run STAGE OUT"; exit 2; }
    run "$2" "$3"
    ;;
  *)
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
