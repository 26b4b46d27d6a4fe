#!/usr/bin/env python3
"""trackbench against PyTorch, eager and torch.compile'd, side by side in one invocation (scripts/compare_pytorch.sh).

For each batch size, runs `trackbench train` and bench/pytorch/train_mnist.py in each of its modes (eager,
and torch.compile modes) in rotating order, round after round, with the same data, hyperparameters, device,
precision and thread count, and reads each one's training throughput (images per second over the training
part of each epoch after the first, which carries the warm-up and the compilation). Prints every side's
median with its range and the ratio trackbench / peer per round, summarised by its median and range. With
--to-accuracy, also the seconds each needs to reach that test accuracy: for trackbench the
time_to_target_seconds of `train --target` (warm-up included), for the peer the elapsed time at the end of
the first epoch that reaches it (model set-up, compilation and evaluation included), neither counting
process start-up.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent


def run(command):
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(map(str, command))} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return result.stdout


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
    run(command + args.trackbench_flag)
    snapshot = next(out.glob("*.h5"))
    record = json.loads(run([args.trackbench, "show", "--json", str(snapshot)]))
    snapshot.unlink()
    return record


def trackbench_epochs(record):
    return [{"images_per_second": e["images_per_second"], "epoch_seconds": e["epoch_seconds"],
             "test_accuracy": e["test_accuracy"]} for e in record["epochs"]]


def pytorch_epochs(args, mode, batch_size, epochs, stop_at=None):
    command = [args.python, str(HERE / "train_mnist.py"), "--data-dir", str(args.peer_data_dir), "--device",
               args.device, "--threads", str(args.threads), "--batch-size", str(batch_size), "--epochs", str(epochs),
               "--seed", str(args.seed), "--precision", args.precision, "--compile",
               "none" if mode == "eager" else mode]
    if stop_at is not None:
        command += ["--stop-at-accuracy", str(stop_at)]
    return [json.loads(line) for line in run(command).splitlines() if line.startswith("{")]


def steady_throughput(epochs):
    rates = [e["images_per_second"] for e in epochs[1:]] or [epochs[0]["images_per_second"]]
    return statistics.median(rates)


def spread(values, fmt="{:.0f}"):
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


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
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=None,
                        help="default: 64 256 on the CPU, 64 128 512 on CUDA")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run; the first is warm-up")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--to-accuracy", default=None,
                        help="also time each to this test accuracy in %%, or 'auto': 97 on the sample, 90 on "
                             "Fashion-MNIST, 99 on MNIST")
    parser.add_argument("--target-batch-size", type=int, default=None,
                        help="batch size of the time-to-accuracy runs (default: the first of --batch-sizes)")
    parser.add_argument("--max-epochs", type=int, default=10, help="epoch limit of the time-to-accuracy runs")
    parser.add_argument("--accuracy-seeds", type=int, nargs="+", default=[1, 2, 3],
                        help="seeds of the time-to-accuracy runs (each seed's epochs to the target vary)")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="also write the results here")
    parser.add_argument("--trackbench-flag", action="append", default=[], help="an extra flag for trackbench train")
    args = parser.parse_args()
    if args.rounds < 1 or args.epochs < 2:
        sys.exit("error: --rounds must be at least 1 and --epochs at least 2 (the first epoch is warm-up)")
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

    sides = ["trackbench"] + [f"pytorch {mode}" for mode in args.pytorch_modes]
    results = {"device": args.device, "dataset": args.dataset, "precision": args.precision, "threads": args.threads,
               "rounds": args.rounds, "epochs": args.epochs, "pytorch_modes": args.pytorch_modes,
               "throughput": [], "time_to_accuracy": None}
    print(f"images/s in training (median over rounds, range), {args.dataset}, device {args.device}, precision "
          f"{args.precision} on both sides, {args.threads} threads, {args.rounds} rounds of {args.epochs} epochs, "
          "sides in rotating order; ratio = trackbench / peer")
    print(f"{'batch':>6} " + " ".join(f"{side:>24}" for side in sides))
    with tempfile.TemporaryDirectory() as workdir:
        for batch_size in args.batch_sizes:
            rates = {side: [] for side in sides}

            def measure(side):
                if side == "trackbench":
                    epochs = trackbench_epochs(trackbench_record(args, batch_size, args.epochs, workdir))
                else:
                    epochs = pytorch_epochs(args, side.split(" ", 1)[1], batch_size, args.epochs)
                rates[side].append(steady_throughput(epochs))

            for round_index in range(args.rounds):
                shift = round_index % len(sides)
                for side in sides[shift:] + sides[:shift]:
                    measure(side)
            row = {"batch_size": batch_size, "images_per_second": rates, "ratios": {}}
            cells = [spread(rates["trackbench"])]
            for side in sides[1:]:
                ratios = [a / b for a, b in zip(rates["trackbench"], rates[side])]
                row["ratios"][side] = {"per_round": ratios, "median": statistics.median(ratios)}
                cells.append(f"{spread(rates[side])} x{statistics.median(ratios):.2f}")
            print(f"{batch_size:>6} " + " ".join(f"{cell:>24}" for cell in cells), flush=True)
            results["throughput"].append(row)
        if to_accuracy is not None:
            target = to_accuracy / 100.0
            batch_size = args.target_batch_size or args.batch_sizes[0]
            runs = {side: [] for side in sides}
            for seed in args.accuracy_seeds:
                args.seed = seed
                runs["trackbench"].append(trackbench_time_to_target(
                    trackbench_record(args, batch_size, args.max_epochs, workdir, target=target)))
                for side in sides[1:]:
                    runs[side].append(pytorch_time_to_target(
                        pytorch_epochs(args, side.split(" ", 1)[1], batch_size, args.max_epochs, stop_at=target),
                        target))
            print(f"seconds to {to_accuracy}% test accuracy, batch {batch_size}, seeds {args.accuracy_seeds} "
                  f"(set-up, training and per-epoch evaluation; epochs needed in brackets):")
            for name, reached in runs.items():
                shown = [f"{r[0]:.1f} s [{r[1]}]" if r else f"not in {args.max_epochs} epochs" for r in reached]
                seconds = [r[0] for r in reached if r]
                median = f"median {statistics.median(seconds):.1f} s" if len(seconds) == len(reached) else "no median"
                print(f"  {name:<24} {', '.join(shown)}; {median}")
            results["time_to_accuracy"] = {"accuracy_percent": to_accuracy, "batch_size": batch_size,
                                           "seeds": args.accuracy_seeds,
                                           "seconds_and_epochs": runs}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
