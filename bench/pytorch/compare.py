#!/usr/bin/env python3
"""trackbench against PyTorch eager, side by side in one invocation (scripts/compare_pytorch.sh runs it).

For each batch size, runs `trackbench train` and bench/pytorch/train_mnist.py in alternating order, round
after round, with the same data, hyperparameters, device and thread count, and reads each one's training
throughput (images per second over the training part of each epoch after the first, which carries the
warm-up). Prints both medians with their range and the ratio trackbench / PyTorch per round, summarised by
its median and range. With --to-accuracy, also the seconds each needs to reach that test accuracy
(cumulative epoch time: training and the per-epoch evaluation, without process start-up).
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


def trackbench_epochs(args, batch_size, epochs, workdir):
    out = pathlib.Path(tempfile.mkdtemp(dir=workdir))
    run([args.trackbench, "-q", "train", "--device", args.device, "--threads", str(args.threads), "--batch-size",
         str(batch_size), "--epochs", str(epochs), "--seed", str(args.seed), "--out", str(out)]
        + args.trackbench_flag)
    snapshot = next(out.glob("*.h5"))
    record = json.loads(run([args.trackbench, "show", "--json", str(snapshot)]))
    snapshot.unlink()
    return [{"images_per_second": e["images_per_second"], "epoch_seconds": e["epoch_seconds"],
             "test_accuracy": e["test_accuracy"]} for e in record["epochs"]]


def pytorch_epochs(args, batch_size, epochs, stop_at=None):
    command = [args.python, str(HERE / "train_mnist.py"), "--data-dir", str(args.data_dir), "--device", args.device,
               "--threads", str(args.threads), "--batch-size", str(batch_size), "--epochs", str(epochs),
               "--seed", str(args.seed)]
    if stop_at is not None:
        command += ["--stop-at-accuracy", str(stop_at)]
    return [json.loads(line) for line in run(command).splitlines() if line.startswith("{")]


def steady_throughput(epochs):
    rates = [e["images_per_second"] for e in epochs[1:]] or [epochs[0]["images_per_second"]]
    return statistics.median(rates)


def spread(values, fmt="{:.0f}"):
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def seconds_to(epochs, accuracy):
    """(seconds, epoch) at the first epoch that reaches `accuracy`, or None."""
    elapsed = 0.0
    for number, e in enumerate(epochs, start=1):
        elapsed += e["epoch_seconds"]
        if e["test_accuracy"] >= accuracy:
            return elapsed, number
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trackbench", required=True)
    parser.add_argument("--python", required=True, help="the Python with torch 2.11.0")
    parser.add_argument("--data-dir", type=pathlib.Path, required=True, help="the embedded sample's IDX files")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[64, 256])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run; the first is warm-up")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--to-accuracy", type=float, default=None, help="also time each to this test accuracy (%%)")
    parser.add_argument("--max-epochs", type=int, default=10, help="epoch limit of the time-to-accuracy runs")
    parser.add_argument("--accuracy-seeds", type=int, nargs="+", default=[1, 2, 3],
                        help="seeds of the time-to-accuracy runs (each seed's epochs to the target vary)")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="also write the results here")
    parser.add_argument("--trackbench-flag", action="append", default=[], help="an extra flag for trackbench train")
    args = parser.parse_args()
    if args.rounds < 1 or args.epochs < 2:
        sys.exit("error: --rounds must be at least 1 and --epochs at least 2 (the first epoch is warm-up)")

    results = {"device": args.device, "threads": args.threads, "rounds": args.rounds, "epochs": args.epochs,
               "throughput": [], "time_to_accuracy": None}
    print(f"images/s in training (median over rounds, range), device {args.device}, {args.threads} threads, "
          f"{args.rounds} rounds of {args.epochs} epochs, alternating")
    print(f"{'batch':>6} {'trackbench':>22} {'pytorch eager':>22} {'ratio':>20}")
    with tempfile.TemporaryDirectory() as workdir:
        for batch_size in args.batch_sizes:
            ours, theirs = [], []
            for round_index in range(args.rounds):
                runners = [lambda: ours.append(steady_throughput(trackbench_epochs(args, batch_size, args.epochs,
                                                                                    workdir))),
                           lambda: theirs.append(steady_throughput(pytorch_epochs(args, batch_size, args.epochs)))]
                for runner in runners if round_index % 2 == 0 else reversed(runners):
                    runner()
            ratios = [a / b for a, b in zip(ours, theirs)]
            print(f"{batch_size:>6} {spread(ours):>22} {spread(theirs):>22} {spread(ratios, '{:.2f}'):>20}",
                  flush=True)
            results["throughput"].append({"batch_size": batch_size, "trackbench_images_per_second": ours,
                                          "pytorch_images_per_second": theirs, "ratios": ratios,
                                          "median_ratio": statistics.median(ratios)})
        if args.to_accuracy is not None:
            target = args.to_accuracy / 100.0
            runs = {"trackbench": [], "pytorch": []}
            for seed in args.accuracy_seeds:
                args.seed = seed
                runs["trackbench"].append(seconds_to(trackbench_epochs(args, 64, args.max_epochs, workdir), target))
                runs["pytorch"].append(seconds_to(pytorch_epochs(args, 64, args.max_epochs, stop_at=target), target))
            print(f"seconds to {args.to_accuracy}% test accuracy, batch 64, seeds {args.accuracy_seeds} "
                  f"(training and per-epoch evaluation; epochs needed in brackets):")
            for name, reached in runs.items():
                shown = [f"{r[0]:.1f} s [{r[1]}]" if r else f"not in {args.max_epochs} epochs" for r in reached]
                seconds = [r[0] for r in reached if r]
                median = f"median {statistics.median(seconds):.1f} s" if len(seconds) == len(reached) else "no median"
                print(f"  {name:<12} {', '.join(shown)}; {median}")
            results["time_to_accuracy"] = {
                "accuracy_percent": args.to_accuracy, "seeds": args.accuracy_seeds,
                **{f"{name}_seconds_and_epochs": reached for name, reached in runs.items()}}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
