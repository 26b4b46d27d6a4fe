#!/usr/bin/env bash
# The one-shot GPU check, in two parts so that nothing compiles on the GPU machine.
#
#   scripts/gpu_check.sh stage [STAGE]      here: build for sm_90 (build/gpu-check) and stage the
#                                           binaries with every shared library they need that is
#                                           neither LibTorch's nor glibc's into STAGE
#                                           (default build/gpu-check/stage), and pack it into
#                                           STAGE.tar.xz to carry
#   scripts/gpu_check.sh run STAGE OUT      on the GPU machine: the CUDA tests, the kernels' tuning
#                                           harness (kernels/dev), the kernels suite's GPU rows
#                                           for the five passes training runs, the trainer
#                                           suite's steps (fp32 and tf32) and Fashion-MNIST
#                                           epochs at 512, a deterministic custom run reproduced
#                                           bitwise, CUDA graphs against no graphs bitwise, kill -9
#                                           and resume bitwise, the PyTorch comparison on
#                                           Fashion-MNIST (eager and reduce-overhead: images/s at
#                                           128 and 512, time to 90%), the comparison on the sample
#                                           (time to 97%), two GPUs under torchrun when there are
#                                           two (NCCL), and max-autotune; OUT gets summary.md, the
#                                           kernel table and results.tar.gz with every log and JSON
#                                           (3 files)
#
# The GPU machine needs python3 with torch 2.11.0 (its lib folder provides LibTorch and its
# CUDA libraries; h5py for the bitwise weight checks) and an NVIDIA driver; it needs none of the
# Debian libraries, which travel in STAGE/lib, nor the data: the embedded sample and Fashion-MNIST
# (Debian's dataset-fashion-mnist, if installed here) travel in STAGE/data. Every step runs under
# its own time limit inside a budget of TRACKBENCH_GPU_CHECK_SECONDS (default 290): a step that
# would start past it is skipped and says so in summary.md; steps run in order of importance, in
# the order above. Their estimated times (estimated_seconds, below) add up to about 260 s for
# everything issues 12 and 13 ask of the check, max-autotune aside: that last step starts with
# about 30 s of the budget left, which is not enough by its (guessed) estimate, so it finishes
# only when the steps before it were quicker than estimated. The whole has not yet been timed
# on a GPU.
# TRACKBENCH_GPU_CHECK_BUILD=DIR stages an existing build instead (it must include sm_90).
# TRACKBENCH_GPU_CHECK_DRY_RUN=1 with run needs no GPU: each step writes its command into its
# log and takes its estimated time on a simulated clock, so summary.md shows which steps the
# budget would reach, and OUT is packed as in a real run.
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
    # And the cuDNN frontend's headers where scripts/setup.sh installed them.
    local frontend_root
    frontend_root="$(sed -n 's/^CUDNN_FRONTEND_ROOT:PATH=//p' build/release/CMakeCache.txt 2>/dev/null)"
    say "configuring and building $build for sm_90"
    cmake --preset release -B "$build" -DCMAKE_CUDA_ARCHITECTURES=90 -DTRACKBENCH_PYTHON="$python" \
      ${frontend_root:+-DCUDNN_FRONTEND_ROOT:PATH="$frontend_root"} >/dev/null
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
  # The tuning harness, built by nvcc alone for the same GPU, with the cuDNN frontend's headers
  # the benchmarks were built with.
  local frontend_include
  frontend_include="$(sed -n 's/^CUDNN_FRONTEND_INCLUDE_DIR:PATH=//p' "$build/CMakeCache.txt")"
  CUDA_ARCH=90 CUDNN_FRONTEND_ROOT="$(dirname "$frontend_include")" "$root/kernels/dev/run.sh" build "$stage_dir/dev"
  rm -f "$stage_dir"/dev/*.o
  strip --strip-unneeded "$stage_dir"/dev/*
  # Those headers (3 MB, header-only), so that a GPU machine with nvcc can rebuild the harness
  # there: CUDNN_FRONTEND_ROOT=STAGE/cudnn_frontend kernels/dev/run.sh.
  mkdir -p "$stage_dir/cudnn_frontend/include"
  cp -r "$frontend_include"/cudnn_frontend* "$frontend_include/cudnn_backend_base.h" "$stage_dir/cudnn_frontend/include/"
  cp "$root/scripts/gpu_check.sh" "$stage_dir/"
  # What the run part needs besides the binaries: the PyTorch peer, the Python reader, the data.
  mkdir -p "$stage_dir/scripts" "$stage_dir/bench/pytorch" "$stage_dir/data"
  cp "$root/scripts/read_snapshot.py" "$stage_dir/scripts/"
  cp "$root/bench/pytorch/"*.py "$stage_dir/bench/pytorch/"
  cp -r "$root/data/mnist-sample" "$stage_dir/data/"
  if [ -d /usr/share/datasets/fashion-mnist ]; then
    cp -r /usr/share/datasets/fashion-mnist "$stage_dir/data/"
  else
    say "no /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist): the Fashion-MNIST steps will skip"
  fi
  cp "$build/CMakeCache.txt" "$stage_dir/build-cache.txt"  # what was built, and how
  { git -C "$root" rev-parse HEAD && git -C "$root" status --porcelain | sed 's/^/changed: /'; } >"$stage_dir/commit.txt" 2>&1
  check_stage "$stage_dir" || { say "staging is incomplete"; exit 1; }
  say "staged $(du -sh "$stage_dir" | cut -f1) in $stage_dir: $(ls "$stage_dir/lib" | wc -l) libraries"
  # With Fashion-MNIST the folder is about 100 MB; as one xz archive (binaries compress about
  # 3 times, the data not at all) it is about half that, which is what travels to the GPU machine.
  tar -C "$(dirname "$stage_dir")" -cf - "$(basename "$stage_dir")" | xz -T0 -6 >"$stage_dir.tar.xz"
  say "archived as $stage_dir.tar.xz ($(du -sh "$stage_dir.tar.xz" | cut -f1)); there: tar -xJf it, then run"
}

# Every file a step of run needs, relative to the stage: checked at the end of stage and before
# run's first step, so a stage missing one fails here, naming it, not on the GPU machine.
staged_files() {
  local binary pass file
  for binary in "${binaries[@]}"; do echo "bin/$binary"; done
  for pass in forward backward_input backward_weight; do echo "dev/$pass"; done
  echo scripts/read_snapshot.py
  echo bench/pytorch/compare.py
  echo bench/pytorch/train_mnist.py
  for file in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    echo "data/mnist-sample/$file"
  done
  echo cudnn_frontend/include/cudnn_frontend.h
  echo build-cache.txt
  echo commit.txt
}

check_stage() {
  local stage_dir="$1" file missing=0
  while read -r file; do
    if [ ! -e "$stage_dir/$file" ]; then
      say "the stage $stage_dir lacks $file"
      missing=1
    elif [ "${file%%/*}" = bin ] || [ "${file%%/*}" = dev ]; then
      [ -x "$stage_dir/$file" ] || { say "the stage's $file is not executable"; missing=1; }
    fi
  done < <(staged_files)
  return "$missing"
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

# Estimated seconds of each step on one H100/H200, in run's order, so the budget is visible:
# derived from the H200 logs of 2026-11-30 (bench/results/2026-11-30-h200, commit 06dc9f0, before
# CUDA graphs; steps with graphs should be quicker) where the step or its predecessor ran; what
# is guessed says so. A peer's run is taken as about 4 s of start-up (python3, torch, CUDA) plus
# its epochs, a trackbench run as about 2.5 s (start-up, data, `show --json`) plus its epochs. As
# estimated the steps before vs_pytorch_autotune add up to about 260 s, so within the 290 s
# budget that one is cut short. TRACKBENCH_GPU_CHECK_DRY_RUN=1 replays the plan against these
# estimates.
declare -A estimated_seconds=(
  [info]=2                  # trackbench info
  [cuda_tests]=20           # guess: 5 s on the H200 before the CUDA graph and TF32 tests
  [tuning_harness]=40       # guess, never run on a GPU: per pass, layer and batch the CPU reference
                            # on 64 images (about 1 s for conv2), a cuDNN search per precision, 20
                            # timed calls of each version (v1's grad-weight: 60 ms a call at 1024)
  [bench_kernels]=20        # 72 s on the H200 for 72 rows at 0.1 s: 30 s timed, about 40 us an
                            # iteration besides (L2 flush, sync). Now 80 rows at 0.02 s: by those
                            # kernel times 7 s timed and 3 s besides; a guess of 5 s for the direct
                            # cudnn rows' engine searches (never timed), one per row (a row keeps
                            # its search across its calls); 3 s start-up
  [bench_trainer]=23        # 17 s on the H200 for 10 rows on the sample at 0.2 s, 8.4 s of it timed:
                            # about 0.2 s a call besides. Now 12 step rows (cudnn, custom and
                            # custom_v3) at 0.05 s (3 s timed, about 60 calls) and 2 Fashion epoch rows at 512 (3 calls each: a trainer, two
                            # 0.25 s epochs, their evaluations), 3 s start-up
  [reproduce_custom]=10     # 5 epochs trained in 2 s, reproduce 3-8 s
  [cuda_graphs_bitwise]=16  # guess: four runs of 2 epochs on the sample
  [kill_and_resume]=15      # 12 epochs in 4 s, three runs
  [vs_pytorch]=77           # batch 128: trackbench 7 s (0.74 s epochs), eager 9.5 s (1.34 s first
                            # epoch, then 1.03 s), reduce-overhead 26 s (compiles 15.7 s, measured
                            # training only, plus a guessed 4 s for the evaluation graph; 0.55 s
                            # epochs); batch 512: 6, 6 and 15.5 s (compiles 7.8 s); trackbench's run
                            # to 90% 5 s (reached at epoch 2); trackbench versus 3 x 0.7 s
  [sample_to_97]=40         # batch 64: trackbench 4 s (0.18 s epochs), eager 5.5 s (0.25 s),
                            # reduce-overhead 23.5 s (guess: compiles as at 128 on Fashion);
                            # trackbench's run to 97% 4.6 s (2.1 s to the target); versus 1.5 s
  [two_gpus]=1              # skips at once on one GPU; about 20 s on two
  [vs_pytorch_autotune]=60  # guess: trackbench 7 s, max-autotune compiles longer than reduce-overhead
)

# Steps of the run part: each has a time limit, a log of its own, and a line in summary.md.
budget_start=0
budget_seconds=290
summary=""
dry_run="${TRACKBENCH_GPU_CHECK_DRY_RUN:-}"
simulated=0  # the dry run's clock: the estimates of the steps it has passed
now() { if [ -n "$dry_run" ]; then echo $((budget_start + simulated)); else date +%s; fi; }
step() {
  local name="$1" limit="$2"
  shift 2
  local left=$((budget_seconds - ($(now) - budget_start)))
  if [ "$left" -lt 10 ]; then
    printf '| %s | skipped: the %s s budget was spent |\n' "$name" "$budget_seconds" >>"$summary"
    say "$name: skipped (budget spent)"
    return 1
  fi
  local cut_by_budget=""  # the step's own limit reaches past the budget's end
  [ "$limit" -le "$left" ] || { limit="$left"; cut_by_budget=1; }
  local started code=0
  started=$(now)
  say "$name (at most $limit s)"
  if [ -n "$dry_run" ]; then
    local estimate="${estimated_seconds[$name]:?no estimated_seconds for step $name}"
    echo "dry run: $*" >"$name.log"
    if [ "$estimate" -le "$limit" ]; then simulated=$((simulated + estimate)); else simulated=$((simulated + limit)); code=124; fi
  else
    # Through bash, so that a step can be one of the functions below (exported after them).
    timeout -k 5 "$limit" bash -c '"$@"' step "$@" >"$name.log" 2>&1 || code=$?
  fi
  local took=$(($(now) - started))
  local result="ok"
  if [ "$code" -eq 124 ] && [ -n "$cut_by_budget" ]; then
    result="CUT when the $budget_seconds s budget ran out"
  elif [ "$code" -ne 0 ]; then
    result="FAILED (exit $code$([ "$code" -eq 124 ] && echo ": timed out"))"
  fi
  printf '| %s | %s in %s s |\n' "$name" "$result" "$took" >>"$summary"
  tail -n 2 "$name.log" >&2
  return "$code"
}

# Every array under weights/epoch_NNNN of two snapshots bitwise equal, at their last epochs.
same_final_weights() {
  python3 - "$1" "$2" <<'PY'
import sys, h5py, numpy
a, b = (h5py.File(path, "r") for path in sys.argv[1:3])
last = lambda f: sorted(f["weights"].keys())[-1]
ga, gb = a["weights"][last(a)], b["weights"][last(b)]
names = sorted(ga.keys())
assert names == sorted(gb.keys()), f"different tensors: {names} / {sorted(gb.keys())}"
different = [n for n in names if not numpy.array_equal(ga[n][()], gb[n][()])]
print(f"{last(a)} of {sys.argv[1]} and {last(b)} of {sys.argv[2]}: {len(names)} tensors, "
      f"{'all bitwise equal' if not different else 'different: ' + ', '.join(different)}")
sys.exit(1 if different else 0)
PY
}

only_snapshot() { ls "$1"/*.h5 | head -n1; }

# kill -9 during epoch 4 of 12, resume, and the same 12 epochs uninterrupted: final weights bitwise equal.
kill_and_resume() {
  local bin="$1" runs="$2"
  mkdir -p "$runs/killed" "$runs/whole"
  "$bin/trackbench" train --device cuda --conv custom --deterministic --epochs 12 --out "$runs/killed" \
    >"$runs/killed.out" 2>"$runs/killed.err" &
  local pid=$!
  # With CUDA graphs an epoch of the sample takes well under 0.1 s: a poll that starts Python
  # (0.3 s) could see the run end first. The console prints each epoch's row on stdout (flushed)
  # as the epoch ends, and the snapshot commits an epoch at the next one's first step, so by the
  # row of epoch 4 epoch 3's commit has started (behind a slow write, a later step takes it);
  # grep polls the log every 10 ms.
  until grep -qE '^ +4 +[0-9]' "$runs/killed.out"; do
    kill -0 "$pid" 2>/dev/null || break  # it ended by itself: the check below says so
    sleep 0.01
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  cat "$runs/killed.out" "$runs/killed.err"
  local snapshot
  snapshot="$(only_snapshot "$runs/killed" 2>/dev/null)"
  [ -n "$snapshot" ] || { echo "no snapshot was written before the kill"; return 1; }
  python3 - "$snapshot" <<'PY' || return 1
import sys, h5py
epochs = len(h5py.File(sys.argv[1], "r")["metrics/epoch"])
print(f"killed after {epochs} of 12 epochs")
sys.exit(0 if 1 <= epochs < 12 else "nothing to resume: the kill came before the first epoch or after the last")
PY
  "$bin/trackbench" train --resume "$snapshot" --out "$runs/killed" || return 1
  "$bin/trackbench" train --device cuda --conv custom --deterministic --epochs 12 --out "$runs/whole" || return 1
  local resumed
  resumed="$(ls -t "$runs/killed"/*.h5 | head -n1)"
  same_final_weights "$resumed" "$(only_snapshot "$runs/whole")"
}

# Data-parallel on two GPUs (NCCL through c10d, torchrun as the launcher), deterministic, then
# reproduced bitwise; a machine with fewer GPUs skips it and says why.
two_gpus() {
  local bin="$1" runs="$2" gpus
  gpus="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)"
  if [ "$gpus" -lt 2 ]; then
    echo "skipped: this machine has $gpus GPU(s); the NCCL check needs 2"
    return 0
  fi
  mkdir -p "$runs/two-gpus"
  python3 -m torch.distributed.run --no-python --standalone --nproc-per-node 2 \
    "$bin/trackbench" train --device cuda --deterministic --epochs 2 --out "$runs/two-gpus"
  python3 -m torch.distributed.run --no-python --standalone --nproc-per-node 2 \
    "$bin/trackbench" reproduce "$(only_snapshot "$runs/two-gpus")" --out "$runs/two-gpus"
}

# CUDA graphs on and off, deterministic: the same bits, for the default custom kernels (v2) and
# v3 (issue 28: v3 had never run under graphs). --cuda-graphs is given explicitly: it defaults off.
graphs_bitwise() {
  local bin="$1" runs="$2" conv mode
  for conv in custom custom_v3; do
    for mode in on off; do
      mkdir -p "$runs/graphs-$conv-$mode"
      "$bin/trackbench" train --device cuda --conv "$conv" --deterministic --epochs 2 --cuda-graphs "$mode" \
        --out "$runs/graphs-$conv-$mode"
    done
    same_final_weights "$(only_snapshot "$runs/graphs-$conv-on")" "$(only_snapshot "$runs/graphs-$conv-off")" || return 1
  done
}

# A deterministic custom-kernel run, then reproduce: every epoch's metrics and weights bitwise.
reproduce_custom() {
  local bin="$1" runs="$2"
  mkdir -p "$runs/reproduce"
  "$bin/trackbench" train --device cuda --conv custom --deterministic --epochs 3 --out "$runs/reproduce"
  "$bin/trackbench" reproduce --strict "$(only_snapshot "$runs/reproduce")" --out "$runs/reproduce"
}

# Per layer, pass, precision and batch: median times, and the best cuDNN (the faster of the
# direct path and LibTorch's) over the default kernels and over the fastest other version
# measured (above 1: ours is faster). The five passes training runs.
conv_ratios() {
  python3 - "$1" <<'PY'
import json, re, sys
times, peak = {}, {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") != "median" or b.get("error_occurred"):
        continue
    _, layer, pass_, backend, precision, batch = b["name"].split("/")[:6]
    times[(layer, pass_, backend, precision, int(batch))] = b["real_time"]  # microseconds
    peak[(layer, pass_, backend, precision, int(batch))] = b.get("fraction_of_peak", 0.0)
print("| layer | pass | precision | batch | custom us | fastest other version | its us | cudnn us |"
      " cudnn_libtorch us | best cuDNN / custom | best cuDNN / that version | custom % of FP32 peak |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
passes = (("conv1", "forward"), ("conv1", "backward_weight"), ("conv2", "forward"), ("conv2", "backward_input"),
          ("conv2", "backward_weight"))
for layer, pass_ in passes:
    for precision in ("fp32", "tf32"):
        for batch in (128, 1024):
            key = lambda backend: (layer, pass_, backend, precision, batch)
            if not all(key(k) in times for k in ("custom", "cudnn", "cudnn_libtorch")):
                print(f"| {layer} | {pass_} | {precision} | {batch} | missing | | | | | | | |")
                continue
            custom, cudnn, libtorch = (times[key(k)] for k in ("custom", "cudnn", "cudnn_libtorch"))
            best = min(cudnn, libtorch)
            versions = {k[2]: t for k, t in times.items() if k == key(k[2]) and re.fullmatch(r"custom_v\d+", k[2])}
            other = min(versions, key=versions.get) if versions else None
            other_cells = f"{other} | {versions[other]:.1f}" if other else "none | "
            other_ratio = f"{best / versions[other]:.2f}" if other else ""
            print(f"| {layer} | {pass_} | {precision} | {batch} | {custom:.1f} | {other_cells} | {cudnn:.1f} |"
                  f" {libtorch:.1f} | {best / custom:.2f} | {other_ratio} | {100 * peak[key('custom')]:.1f} |")
PY
}

# One summary.md row on a comparison's JSON (bench/pytorch/compare.py rewrites it after every run):
# complete, or where the time limit or a failed run stopped it, and what it had measured by then.
comparison_summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
name, r = sys.argv[1], json.load(open(sys.argv[2]))
parts = []
rows = {t["batch_size"]: t for t in r["throughput"]}
for batch in r["planned"]["batch_sizes"]:
    t = rows.get(batch)
    if t is None:
        parts.append(f"batch {batch}: not started")
        continue
    runs = ", ".join(f"{side} {len(side_runs)}" for side, side_runs in t["runs"].items())
    verdicts = ", ".join(f"{c['verdict']} against {c['base']}" for c in t["verdicts"] or [])
    parts.append(f"batch {batch}: runs {runs}; {verdicts or 'no verdict'}")
if r["planned"]["to_accuracy_percent"] is not None:
    a = r["time_to_accuracy"]
    seeds = len(r["planned"]["accuracy_seeds"])
    parts.append(f"time to {r['planned']['to_accuracy_percent']}%: " + (
        ", ".join(f"{side} {len(v)} of {seeds} seeds" for side, v in a["seconds_and_epochs"].items())
        if a else "not started"))
state = "complete" if r["complete"] else f"partial, stopped during {r['running']}"
print(f"| {name} results | {state}: {'; '.join(parts)} |")
PY
}

# The tuning harness: every kernel version and precision against the CPU reference and cuDNN.
tuning_harness() {
  local dev="$1" pass status=0
  for pass in forward backward_input backward_weight; do
    "$dev/$pass" 128 1024 || status=1
  done
  return "$status"
}

export -f same_final_weights only_snapshot kill_and_resume graphs_bitwise reproduce_custom tuning_harness two_gpus

run() {
  local stage_dir out
  stage_dir="$(cd "$1" && pwd)"
  mkdir -p "$2"
  out="$(cd "$2" && pwd)"
  check_stage "$stage_dir" || { say "refusing to run an incomplete stage"; exit 1; }
  [ -n "$dry_run" ] || staged_environment "$stage_dir"
  local bin="$stage_dir/bin" data="$stage_dir/data"
  local status=0
  budget_start=$(date +%s)
  budget_seconds="${TRACKBENCH_GPU_CHECK_SECONDS:-290}"
  local work="$out/results"
  mkdir -p "$work"
  cd "$work"
  summary="$out/summary.md"
  {
    echo "# gpu_check on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n1)"
    echo "stage built from commit $(head -n1 "$stage_dir/commit.txt")$(grep -q changed: "$stage_dir/commit.txt" && echo ' with uncommitted changes')"
    [ -z "$dry_run" ] || echo "dry run: no step ran; each took its estimated time (estimated_seconds in the script)"
    echo
    echo "| step | result |"
    echo "| --- | --- |"
  } >"$summary"
  cp "$stage_dir/build-cache.txt" "$work/"
  nvidia-smi >"$work/nvidia-smi.txt" 2>&1 || true
  # In order of importance: what the issues judge first, the cheap correctness runs next.
  step info 20 "$bin/trackbench" info || status=1

  # The tests that need the GPU or exercise the op, and the GPUs' description (the NVML tests load
  # a fake library from the build tree); the CLI and run tests need the source tree.
  step cuda_tests 60 "$bin/trackbench_tests" \
    --gtest_filter='ConvKernels.*:NormalizeKernels.*:Model.*:Train.*Gpu*:Train.*Cuda*:Environment.GpusAreDescribedWhenPresent' \
    --gtest_output="json:$work/tests.json" || status=1

  step tuning_harness 75 tuning_harness "$stage_dir/dev" || status=1

  # The GPU benchmarks only (the CPU ones are measured on the CPU machine), for the five passes
  # training runs (conv1's grad-input is never needed), at the batch sizes and precisions issue
  # 12 judges: the default kernels and each later version (v1, the naive one, only in the
  # harness above), against both cuDNN routes. 80 rows, 3 repetitions of at least 0.02 s each
  # (CUDA-event times of kernels of 10 us to 6 ms: about 5 to 2,500 calls a repetition).
  step bench_kernels 70 "$bin/trackbench_bench_kernels" \
    --benchmark_filter='^conv/(conv1/(forward|backward_weight)|conv2/[a-z_]+)/(custom|custom_v[2-9]|cudnn_libtorch|cudnn)/(fp32|tf32)/(128|1024)/' \
    --benchmark_min_time=0.02 --benchmark_repetitions=3 --benchmark_out="$work/bench_kernels.json" \
    --benchmark_out_format=json || status=1
  if [ -s "$work/bench_kernels.json" ]; then
    conv_ratios "$work/bench_kernels.json" >"$out/conv_ratios.md" 2>&1 || status=1
  fi
  # The trainer rows the issues judge: a step with cudnn and custom at fp32 and tf32, batch 128
  # and 1024 (8 rows; each repetition builds a trainer and captures its graphs), and a steady
  # Fashion-MNIST epoch at 512 with each (against the FP32 roofline). The images/s at 128 and
  # 512 against PyTorch come from vs_pytorch's trackbench runs.
  step bench_trainer 45 env TRACKBENCH_FASHION_MNIST_DIR="$data/fashion-mnist" "$bin/trackbench_bench_trainer" \
    --benchmark_filter='^train/(step/cuda/|epoch_fashion/cuda/[a-z]+/fp32/512/)' --benchmark_min_time=0.05 \
    --benchmark_repetitions=3 --benchmark_out="$work/bench_trainer.json" --benchmark_out_format=json || status=1

  # The bitwise checks are cheap (about 33 s) and judge correctness, so they come before the
  # comparison, which a short budget cuts (it keeps what it measured).
  step reproduce_custom 40 reproduce_custom "$bin" "$work/runs" || status=1
  step cuda_graphs_bitwise 40 graphs_bitwise "$bin" "$work/runs" || status=1
  step kill_and_resume 60 kill_and_resume "$bin" "$work/runs" || status=1

  # The PyTorch comparisons: one round each, 5-epoch runs (the 4 steady epochs a side are what
  # trackbench versus needs for a verdict), the time to the target at seed 1 only. A peer's
  # throughput run at seed 1 is its time-to-target run too (compare.py reuses it: 5 epochs
  # reach the target or are --max-epochs), so only trackbench runs again, with --target. The
  # JSON is rewritten after every run, so a cut leaves what was measured.
  local has_fashion=""
  [ -d "$data/fashion-mnist" ] && has_fashion=1
  # Eager and reduce-overhead (Inductor with CUDA graphs, the fastest peer on the H200) at
  # batch 128 and 512, and the time to 90% at 128.
  if [ -n "$has_fashion" ]; then
    step vs_pytorch 120 python3 "$stage_dir/bench/pytorch/compare.py" --trackbench "$bin/trackbench" \
      --python python3 --sample-dir "$data/mnist-sample" --device cuda --threads 8 \
      --dataset fashion-mnist --data-dir "$data/fashion-mnist" --batch-sizes 128 512 --min-rounds 1 --max-rounds 1 \
      --epochs 5 --pytorch-modes eager reduce-overhead --to-accuracy auto --target-batch-size 128 \
      --accuracy-seeds 1 --max-epochs 5 --out "$work/bench-runs" --json "$work/vs_pytorch.json" || status=1
    [ ! -s "$work/vs_pytorch.json" ] || comparison_summary vs_pytorch "$work/vs_pytorch.json" >>"$summary" || status=1
  fi
  # The time to 97% on the sample (and images/s at batch 64).
  step sample_to_97 70 python3 "$stage_dir/bench/pytorch/compare.py" --trackbench "$bin/trackbench" \
    --python python3 --sample-dir "$data/mnist-sample" --device cuda --threads 8 --dataset mnist-sample \
    --batch-sizes 64 --min-rounds 1 --max-rounds 1 --epochs 5 --pytorch-modes eager reduce-overhead \
    --to-accuracy auto --accuracy-seeds 1 --max-epochs 5 --out "$work/bench-runs" --json "$work/sample_to_97.json" ||
    status=1
  [ ! -s "$work/sample_to_97.json" ] || comparison_summary sample_to_97 "$work/sample_to_97.json" >>"$summary" || status=1
  step two_gpus 40 two_gpus "$bin" "$work/runs" || status=1
  # max-autotune at batch 128 and its time to 90%, last: it fits only if the steps above were
  # quicker than estimated.
  if [ -n "$has_fashion" ]; then
    step vs_pytorch_autotune 90 python3 "$stage_dir/bench/pytorch/compare.py" --trackbench "$bin/trackbench" \
      --python python3 --sample-dir "$data/mnist-sample" --device cuda --threads 8 \
      --dataset fashion-mnist --data-dir "$data/fashion-mnist" --batch-sizes 128 --min-rounds 1 --max-rounds 1 \
      --epochs 5 --pytorch-modes max-autotune --to-accuracy auto --accuracy-seeds 1 --max-epochs 5 \
      --out "$work/bench-runs" --json "$work/vs_pytorch_autotune.json" || status=1
    [ ! -s "$work/vs_pytorch_autotune.json" ] ||
      comparison_summary vs_pytorch_autotune "$work/vs_pytorch_autotune.json" >>"$summary" || status=1
  fi

  cp "$summary" "$work/"
  tar -C "$out" -czf "$out/results.tar.gz" results && rm -rf "$work"
  cat "$summary" >&2
  return "$status"
}

case "${1:-}" in
  stage) stage "${2:-}" ;;
  run)
    [ "$#" -eq 3 ] || { say "usage: $0 run STAGE OUT"; exit 2; }
    run "$2" "$3"
    ;;
  *)
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0" >&2  # the header
    exit 2
    ;;
esac
