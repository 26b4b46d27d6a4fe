#!/usr/bin/env python3
"""trackbench against PyTorch, eager and torch.compile'd, side by side in one invocation (scripts/compare_pytorch.sh).

For each batch size, runs `trackbench train` and bench/pytorch/train_mnist.py in each of its modes (eager,
and torch.compile modes) in alternating order (A B, B A, ...), round after round, with the same data,
hyperparameters, device, precision, thread count, CPU affinity and allocator setting, and keeps the training
throughput of every epoch after the first (which carries the warm-up and the compilation) of every run. The
statistics are trackbench's own: after each round from --min-rounds on, the samples go to `trackbench versus`
as Google Benchmark JSON, which judges trackbench against each peer as `trackbench compare` judges two bench
snapshots (medians, two-sided Mann-Whitney U test, verdict faster / slower / same / uncertain) and gives the
speed-up's 95% interval; the rounds stop once every verdict is decided, or at --max-rounds. The last call
records every sample in a bench snapshot (--out), which `trackbench show` reads and `trackbench compare`
compares with another commit's.

With --to-accuracy, also the seconds each needs to reach that test accuracy: for trackbench the
time_to_target_seconds of `train --target` (warm-up included), for the peer the elapsed time at the end of
the first epoch that reaches it (model set-up, compilation and evaluation included), neither counting
process start-up. A peer's time-to-accuracy run at the throughput runs' seed and one of their batch sizes
would repeat its first throughput run (--stop-at-accuracy only ends a run after the epoch that reaches the
target), so that run's epochs answer it when they reach the target or number --max-epochs; trackbench's
`--target` run stops at the target, so it always runs apart from its steady-epoch runs.

--json is rewritten (whole, through a rename) after every run of a side and every verdict, so a comparison cut
short by a time limit or a failed run leaves what it measured: "complete" stays false and "running" names the
run or verdict it stopped in ("planned" says what would have followed).
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from train_mnist import KEEP_FREED  # noqa: E402

# What both sides run with: glibc keeps freed memory (trackbench's trainer sets this itself; the peer
# gets the same mallopt calls through --allocator keep-freed).
ALLOCATOR = "keep-freed (mallopt " + ", ".join(f"{name}={value}" for name, _, value in KEEP_FREED) + ")"


def scheduling():
    """The CPU scheduling policy this process has and both sides inherit: `chrt -f 10 scripts/compare_pytorch.sh`
    keeps other programs off the pinned CPUs (real-time priority), the same for both."""
    policy = os.sched_getscheduler(0)
    names = {os.SCHED_OTHER: "normal", os.SCHED_BATCH: "batch", os.SCHED_IDLE: "idle", os.SCHED_FIFO: "real-time FIFO",
             os.SCHED_RR: "real-time round-robin"}
    name = names.get(policy, f"policy {policy}")
    if policy in (os.SCHED_FIFO, os.SCHED_RR):
        name += f" priority {os.sched_getparam(0).sched_priority}"
    return name


def run(command, settings):
    """Runs a side pinned to the chosen CPUs with the shared environment; its stdout."""
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=settings["env"],
                            preexec_fn=lambda: os.sched_setaffinity(0, settings["cpus"]))
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(map(str, command))} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return result.stdout


def save(path, results):
    """Writes `results` to `path` whole: a kill mid-write leaves the previous version, never half a file."""
    if path is None:
        return
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(partial, path)


# Where each data set's IDX files are; trackbench finds them by name, the peer by folder.
DATASET_DIRS = {"fashion-mnist": pathlib.Path("/usr/share/datasets/fashion-mnist")}
DEFAULT_TARGETS = {"mnist-sample": 97.0, "fashion-mnist": 90.0, "mnist": 99.0}


def trackbench_record(args, batch_size, epochs, workdir, target=None):
    out = pathlib.Path(tempfile.mkdtemp(dir=workdir))
    command = [args.trackbench, "-q", "train", "--dataset", args.dataset, "--device", args.device, "--threads",
               str(args.threads), "--batch-size", str(batch_size), "--epochs", str(epochs), "--seed", str(args.seed),
               "--precision", args.precision, "--keep-weights", "none", "--out", str(out)]
    if args.dataset_dir is not None:
        command += ["--data-dir", str(args.dataset_dir)]
    if target is not None:
        command += ["--target", f"test_accuracy:{target}"]
    run(command + args.trackbench_flag, args.settings)
    snapshot = next(out.glob("*.h5"))
    record = json.loads(run([args.trackbench, "show", "--json", str(snapshot)], args.settings))
    snapshot.unlink()
    return record


def trackbench_epochs(record):
    return [{"images": round(e["images_per_second"] * e["train_seconds"]), "train_seconds": e["train_seconds"],
             "images_per_second": e["images_per_second"], "test_accuracy": e["test_accuracy"]}
            for e in record["epochs"]]


def pytorch_epochs(args, mode, batch_size, epochs, stop_at=None):
    command = [args.python, str(HERE / "train_mnist.py"), "--data-dir", str(args.peer_data_dir), "--device",
               args.device, "--threads", str(args.threads), "--batch-size", str(batch_size), "--epochs", str(epochs),
               "--seed", str(args.seed), "--precision", args.precision, "--allocator", "keep-freed", "--compile",
               "none" if mode == "eager" else mode]
    if stop_at is not None:
        command += ["--stop-at-accuracy", str(stop_at)]
    return [json.loads(line) for line in run(command, args.settings).splitlines() if line.startswith("{")]


def side_name(side):
    """The benchmark suffix of a side: trackbench, pytorch_eager, pytorch_reduce-overhead, ..."""
    return side.replace(" ", "_")


def benchmark_entries(args, batch_size, side, runs):
    """Google Benchmark JSON entries, one per steady epoch: time per image, images/s, and which round and epoch."""
    name = f"{args.device}_train/{args.dataset}/batch:{batch_size}/{side_name(side)}"
    label = (f"{side}; {args.threads} threads, CPUs {args.cpu_list}, OMP_NUM_THREADS={args.threads}, allocator "
             f"{ALLOCATOR}, scheduling {args.scheduling}, precision {args.precision}, {args.epochs}-epoch runs "
             f"without their first epoch, torch {torch.__version__}")
    samples = [(round_index, number, epoch) for round_index, epochs in runs
               for number, epoch in enumerate(epochs, start=1) if number > 1]
    return [{"name": name, "run_name": name, "run_type": "iteration", "repetitions": len(samples),
             "repetition_index": index, "threads": args.threads, "iterations": epoch["images"],
             "real_time": epoch["train_seconds"] / epoch["images"] * 1e6, "cpu_time": 0.0, "time_unit": "us",
             "items_per_second": epoch["images_per_second"], "round": round_index + 1, "epoch": number,
             "label": label}
            for index, (round_index, number, epoch) in enumerate(samples)]


def judge(args, runs, out):
    """`trackbench versus` on every sample so far: its JSON verdicts (and a bench snapshot in `out`)."""
    entries = [entry for (batch_size, side), side_runs in runs.items()
               for entry in benchmark_entries(args, batch_size, side, side_runs)]
    samples = pathlib.Path(out) / "samples.json"
    samples.write_text(json.dumps({"context": {"executable": "bench/pytorch/compare.py"}, "benchmarks": entries},
                                  indent=1) + "\n")
    command = [args.trackbench, "-q", "versus", str(samples), "--suite", "pytorch", "--dataset", args.dataset,
               "--new", "trackbench", "--out", str(out), "--json"]
    if args.dataset_dir is not None:
        command += ["--data-dir", str(args.dataset_dir)]
    for side in args.sides[1:]:
        command += ["--base", side_name(side)]
    return json.loads(run(command, args.settings))


def rates_text(epochs_by_round):
    return ", ".join(f"{e['images_per_second']:.0f}" for _, epochs in epochs_by_round for e in epochs[1:])


def trackbench_time_to_target(record):
    """(seconds, epoch) from the run's own time-to-target record, or None when it did not reach it."""
    epoch = record.get("target_reached_epoch", 0)
    if epoch < 1:
        return None
    return record["time_to_target_seconds"], epoch


def pytorch_time_to_target(epochs, accuracy):
    """(seconds, epoch) at the end of the first epoch that reaches `accuracy`, or None."""
    for number, e in enumerate(epochs, start=1):
        if e["test_accuracy"] >= accuracy:
            return e["elapsed_seconds"], number
    return None


def reusable_throughput_run(runs, batch_size, side, seed, throughput_seed, target, max_epochs):
    """The epochs of the peer's first throughput run at `batch_size` (cut at `max_epochs`) when it is the run a
    time-to-accuracy run with `seed` would be and answers it: same seed and batch size, and it reached `target`
    or ran `max_epochs`. Else None."""
    side_runs = runs.get((batch_size, side))
    if seed != throughput_seed or not side_runs:
        return None
    epochs = side_runs[0][1][:max_epochs]
    if pytorch_time_to_target(epochs, target) is None and len(epochs) < max_epochs:
        return None
    return epochs


def parse_cpus(text):
    cpus = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        try:
            cpus.update(range(int(first), int(last or first) + 1))
        except ValueError:
            sys.exit(f"error: --cpus {text}: expected CPU numbers such as 0-1 or 0,2")
    return cpus


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trackbench", required=True)
    parser.add_argument("--python", required=True, help="the Python with torch 2.11.0")
    parser.add_argument("--sample-dir", type=pathlib.Path, required=True, help="the embedded sample's IDX files")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dataset", default=None, choices=["mnist-sample", "fashion-mnist", "mnist"],
                        help="default: mnist-sample on the CPU, the full-size fashion-mnist on CUDA")
    parser.add_argument("--data-dir", type=pathlib.Path, default=None,
                        help="the data set's IDX files, for both sides (needed for mnist; fashion-mnist defaults to "
                             "Debian's /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "tf32"], help="of both sides")
    parser.add_argument("--pytorch-modes", nargs="+", default=None,
                        choices=["eager", "default", "max-autotune", "reduce-overhead"],
                        help="the peer's modes (torch.compile's, or eager); default: eager on the CPU, "
                             "eager, reduce-overhead and max-autotune on CUDA")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cpus", default=None,
                        help="CPUs both sides are pinned to, e.g. 0-1 (default: the first --threads CPUs this "
                             "process may use)")
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=None,
                        help="default: 64 256 on the CPU, 64 128 512 on CUDA")
    parser.add_argument("--min-rounds", type=int, default=3,
                        help="rounds (one run of each side) before the first verdict")
    parser.add_argument("--max-rounds", type=int, default=6, help="rounds after which an undecided verdict stands")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench-runs"),
                        help="folder of the bench snapshot with every sample (default: bench-runs)")
    parser.add_argument("--to-accuracy", default=None,
                        help="also time each to this test accuracy in %%, or 'auto': 97 on the sample, 90 on "
                             "Fashion-MNIST, 99 on MNIST")
    parser.add_argument("--target-batch-size", type=int, default=None,
                        help="batch size of the time-to-accuracy runs (default: the first of --batch-sizes)")
    parser.add_argument("--max-epochs", type=int, default=10, help="epoch limit of the time-to-accuracy runs")
    parser.add_argument("--accuracy-seeds", type=int, nargs="+", default=[1, 2, 3],
                        help="seeds of the time-to-accuracy runs (each seed's epochs to the target vary)")
    parser.add_argument("--json", type=pathlib.Path, default=None,
                        help="also write the results here: every sample and trackbench versus's verdicts")
    parser.add_argument("--trackbench-flag", action="append", default=[], help="an extra flag for trackbench train")
    args = parser.parse_args()
    if args.min_rounds < 1 or args.max_rounds < args.min_rounds or args.epochs < 2:
        sys.exit("error: --min-rounds must be at least 1, --max-rounds at least --min-rounds, and --epochs at least 2 "
                 "(the first epoch is warm-up)")
    cuda = args.device.startswith("cuda")
    args.dataset = args.dataset or ("fashion-mnist" if cuda else "mnist-sample")
    args.pytorch_modes = args.pytorch_modes or (["eager", "reduce-overhead", "max-autotune"] if cuda else ["eager"])
    args.batch_sizes = args.batch_sizes or ([64, 128, 512] if cuda else [64, 256])
    if args.dataset == "mnist" and args.data_dir is None:
        sys.exit("error: --dataset mnist needs --data-dir (the folder of the four IDX files)")
    # trackbench reads the sample from itself and Fashion-MNIST from Debian's folder unless told otherwise.
    args.dataset_dir = args.data_dir
    args.peer_data_dir = args.data_dir or (args.sample_dir if args.dataset == "mnist-sample"
                                           else DATASET_DIRS[args.dataset])
    if not args.peer_data_dir.is_dir():
        sys.exit(f"error: {args.peer_data_dir} (data set {args.dataset}) is not a folder; on Debian, "
                 "Fashion-MNIST comes from the dataset-fashion-mnist package")
    allowed = sorted(os.sched_getaffinity(0))
    cpus = parse_cpus(args.cpus) if args.cpus else set(allowed[:args.threads])
    if not cpus <= set(allowed):
        sys.exit(f"error: --cpus {args.cpus}: this process may only use CPUs {allowed}")
    args.cpu_list = ",".join(map(str, sorted(cpus)))
    args.scheduling = scheduling()
    # Both sides: the same CPUs, the same OpenMP thread count (each also sets it through LibTorch).
    args.settings = {"cpus": cpus, "env": dict(os.environ, OMP_NUM_THREADS=str(args.threads))}
    to_accuracy = None
    if args.to_accuracy == "auto":
        to_accuracy = DEFAULT_TARGETS[args.dataset]
    elif args.to_accuracy is not None:
        try:
            to_accuracy = float(args.to_accuracy)
        except ValueError:
            sys.exit(f"error: --to-accuracy {args.to_accuracy}: expected a percentage such as 97, or auto")
        if not 0 < to_accuracy <= 100:
            sys.exit(f"error: --to-accuracy {args.to_accuracy}: expected a percentage in (0, 100]")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        sys.exit(f"error: --out {args.out}: {e}")

    args.sides = ["trackbench"] + [f"pytorch {mode}" for mode in args.pytorch_modes]
    results = {"device": args.device, "dataset": args.dataset, "precision": args.precision, "threads": args.threads,
               "cpus": args.cpu_list, "allocator": ALLOCATOR, "scheduling": args.scheduling, "epochs": args.epochs, "min_rounds": args.min_rounds,
               "max_rounds": args.max_rounds, "pytorch_modes": args.pytorch_modes, "torch": torch.__version__,
               "planned": {"batch_sizes": args.batch_sizes, "sides": args.sides,
                           "to_accuracy_percent": to_accuracy, "accuracy_seeds": args.accuracy_seeds
                           if to_accuracy is not None else []},
               "complete": False, "running": None, "throughput": [], "versus": None, "time_to_accuracy": None}

    def running(what):
        results["running"] = what
        save(args.json, results)

    print(f"{args.dataset}, device {args.device}; both sides: precision {args.precision}, {args.threads} threads "
          f"(OMP_NUM_THREADS={args.threads}), pinned to CPUs {args.cpu_list}, allocator {ALLOCATOR}, scheduling "
          f"{args.scheduling}; "
          f"runs of {args.epochs} epochs, the first dropped; {args.min_rounds} to {args.max_rounds} rounds in "
          "alternating order until trackbench versus decides", flush=True)
    runs = {}  # (batch size, side) -> [(round index, epochs)]
    throughput_seed = args.seed
    with tempfile.TemporaryDirectory() as workdir:
        for batch_size in args.batch_sizes:
            # Filled in as the runs end: "rounds" counts the finished ones, "verdicts" are the latest.
            row = {"batch_size": batch_size, "rounds": 0, "runs": {side: [] for side in args.sides}, "verdicts": None}
            results["throughput"].append(row)
            for side in args.sides:
                runs[(batch_size, side)] = []
            for round_index in range(args.max_rounds):
                shift = round_index % len(args.sides)
                for side in args.sides[shift:] + args.sides[:shift]:
                    running(f"batch {batch_size} round {round_index + 1}: {side}")
                    if side == "trackbench":
                        epochs = trackbench_epochs(trackbench_record(args, batch_size, args.epochs, workdir))
                    else:
                        epochs = pytorch_epochs(args, side.split(" ", 1)[1], batch_size, args.epochs)
                    runs[(batch_size, side)].append((round_index, epochs))
                    row["runs"][side].append({"round": round_index + 1, "epochs": epochs})
                row["rounds"] = round_index + 1
                line = "; ".join(f"{side} {rates_text(runs[(batch_size, side)][-1:])}" for side in args.sides)
                print(f"  batch {batch_size} round {round_index + 1}: images/s {line}", flush=True)
                if round_index + 1 < args.min_rounds:
                    continue
                running(f"batch {batch_size} round {round_index + 1}: trackbench versus")
                this_batch = {key: value for key, value in runs.items() if key[0] == batch_size}
                verdicts = judge(args, this_batch, tempfile.mkdtemp(dir=workdir))["comparisons"]
                row["verdicts"] = verdicts
                print("    " + "; ".join(f"against {c['base']}: {c['verdict']}"
                                         + (f" ({c['reason']})" if c["reason"] else "") for c in verdicts), flush=True)
                if all(c["verdict"] != "uncertain" for c in verdicts):
                    break
        running("trackbench versus over every sample")
        versus = judge(args, runs, args.out)
        results["versus"] = versus
        rounds = {row["batch_size"]: row["rounds"] for row in results["throughput"]}
        print(f"\ntraining images/s, median of every epoch after the first; speed-up = trackbench / peer with its "
              f"95% interval; p: two-sided Mann-Whitney U; verdict as trackbench compare gives it")
        print(f"{'batch':>6} {'rounds':>6} {'peer':<24} {'trackbench':>11} {'peer img/s':>11} "
              f"{'speed-up [95% interval]':>26} {'p':>9}  verdict")
        for c in versus["comparisons"]:
            batch_size = int(c["benchmark"].rsplit("batch:", 1)[1])
            interval = (f"{c['speedup']:.2f}x [{c['speedup_low']:.2f}, {c['speedup_high']:.2f}]"
                        if c["speedup_low"] is not None else f"{c['speedup']:.2f}x [too few samples]")
            print(f"{batch_size:>6} {rounds[batch_size]:>6} {c['base'].replace('_', ' '):<24} "
                  f"{c['new_items_per_second']:>11.0f} {c['base_items_per_second']:>11.0f} {interval:>26} "
                  f"{c['p_value']:>9.3g}  {c['verdict']}" + (f" ({c['reason']})" if c["reason"] else ""))
        print(f"bench snapshot with every sample: {versus['snapshot']} (trackbench show; trackbench compare against "
              "another commit's)", flush=True)
        if to_accuracy is not None:
            target = to_accuracy / 100.0
            batch_size = args.target_batch_size or args.batch_sizes[0]
            reached = {side: [] for side in args.sides}
            # Per side, the seeds whose time came from a throughput run rather than a run of its own.
            reused = {side: [] for side in args.sides}
            results["time_to_accuracy"] = {"accuracy_percent": to_accuracy, "batch_size": batch_size,
                                           "seeds": args.accuracy_seeds, "seconds_and_epochs": reached,
                                           "seeds_from_throughput_runs": reused}
            for seed in args.accuracy_seeds:
                args.seed = seed
                for side in args.sides:
                    running(f"time to {to_accuracy}%, seed {seed}: {side}")
                    if side == "trackbench":
                        reached[side].append(trackbench_time_to_target(
                            trackbench_record(args, batch_size, args.max_epochs, workdir, target=target)))
                    else:
                        epochs = reusable_throughput_run(runs, batch_size, side, seed, throughput_seed, target,
                                                         args.max_epochs)
                        if epochs is None:
                            epochs = pytorch_epochs(args, side.split(" ", 1)[1], batch_size, args.max_epochs,
                                                    stop_at=target)
                        else:
                            reused[side].append(seed)
                        reached[side].append(pytorch_time_to_target(epochs, target))
            print(f"seconds to {to_accuracy}% test accuracy, batch {batch_size}, seeds {args.accuracy_seeds} "
                  f"(set-up, training and per-epoch evaluation; epochs needed in brackets):")
            for name, times in reached.items():
                shown = [f"{r[0]:.1f} s [{r[1]}]" if r else f"not in {args.max_epochs} epochs" for r in times]
                seconds = [r[0] for r in times if r]
                median = f"median {statistics.median(seconds):.1f} s" if len(seconds) == len(times) else "no median"
                source = f" (seeds {reused[name]} from the throughput runs)" if reused[name] else ""
                print(f"  {name:<24} {', '.join(shown)}; {median}{source}")
    results["complete"], results["running"] = True, None
    save(args.json, results)


if __name__ == "__main__":
    main()
