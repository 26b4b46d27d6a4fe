#!/usr/bin/env python3
"""The digit CNN trained in PyTorch, eager or torch.compile'd: the peer scripts/compare_pytorch.sh measures trackbench against.

Same model (PyTorch examples/mnist), optimizer, hyperparameters, data and thread count as `trackbench train`
with its defaults: Adam at lr 1e-3, batch 64, 10% of the training images held out for validation, pixels
normalised with MNIST's mean and standard deviation, and each epoch evaluated on the validation and test
splits. Written the way a PyTorch user would write it for speed: the data is decoded once and stays resident
as a normalised tensor, and batches are gathered by index (no DataLoader workers on a 2-core machine).

--compile MODE runs the model through torch.compile (Inductor) with that mode: `default`, `max-autotune`
(autotuned kernels) or `reduce-overhead` (CUDA graphs); the compilation happens in the first steps, so it is
part of the first epoch and of the time to a target accuracy, as it is for a user. --precision sets
PyTorch's TF32 switches for cuDNN and matmul to trackbench's precision (PyTorch allows TF32 in cuDNN
convolutions by default, so fp32 turns it off explicitly).

--allocator keep-freed makes glibc keep freed memory for reuse with the same mallopt calls, same values,
as trackbench's trainer (trainer/src/memory.cpp), so a comparison gives both sides the same allocator;
glibc-default (the default) leaves glibc as a PyTorch user has it.

Prints one JSON object per epoch on stdout:
  {"epoch", "images", "train_seconds", "images_per_second", "epoch_seconds",
   "elapsed_seconds", "test_accuracy", "compile", "precision", "allocator", "threads"}
"elapsed_seconds" counts from before the model is built and the data moved to the device, as trackbench's
time to target counts its warm-up; reading and decoding the files (process start-up) is not counted.
"""
import argparse
import ctypes
import gzip
import json
import pathlib
import sys
import time

import torch
import torch.nn.functional as F

# The model as scripts/read_snapshot.py defines it for reading snapshots: one definition in Python.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))
from read_snapshot import DigitCNN  # noqa: E402

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
# glibc's mallopt parameters (name, number in malloc.h) and the values trackbench's keep_freed_memory_for_reuse sets.
KEEP_FREED = (("M_MMAP_MAX", -4, 0), ("M_TRIM_THRESHOLD", -1, 1 << 30))


def keep_freed_memory_for_reuse():
    """No mmap'd blocks and no trimming, so freed activations stay on the heap for the next step."""
    libc = ctypes.CDLL(None)
    for name, parameter, value in KEEP_FREED:
        if libc.mallopt(parameter, value) != 1:
            sys.exit(f"error: mallopt({name}, {value}) failed; --allocator keep-freed needs glibc")


def read_idx(path: pathlib.Path) -> torch.Tensor:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def find(folder: pathlib.Path, stem: str) -> pathlib.Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    sys.exit(f"error: {folder} has no {stem} (raw or .gz)")


def normalise(images: torch.Tensor) -> torch.Tensor:
    return ((images.float() / 255.0 - MNIST_MEAN) / MNIST_STD).unsqueeze(1)


@torch.no_grad()
def evaluate(model, forward, images, labels, batch_size):
    model.eval()
    correct, loss = 0, 0.0
    for begin in range(0, len(labels), batch_size):
        output = forward(images[begin:begin + batch_size])
        target = labels[begin:begin + batch_size]
        loss += F.nll_loss(output, target, reduction="sum").item()
        correct += int((output.argmax(1) == target).sum())
    return correct / len(labels), loss / len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=pathlib.Path, required=True, help="folder with the four IDX files")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--eval-batch-size", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--threads", type=int, required=True, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stop-at-accuracy", type=float, default=None,
                        help="stop after the first epoch whose test accuracy (0..1) reaches this")
    parser.add_argument("--compile", default="none", choices=["none", "default", "max-autotune", "reduce-overhead"],
                        help="torch.compile mode (none: eager)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "tf32"],
                        help="fp32: IEEE FP32 convolutions and matmuls; tf32: tensor cores with TF32 inputs")
    parser.add_argument("--allocator", default="glibc-default", choices=["glibc-default", "keep-freed"],
                        help="keep-freed: glibc keeps freed memory for reuse, as trackbench's trainer has it")
    args = parser.parse_args()
    if args.threads < 1 or args.epochs < 1 or args.batch_size < 1:
        sys.exit("error: --threads, --epochs and --batch-size must be at least 1")

    if args.allocator == "keep-freed":
        keep_freed_memory_for_reuse()
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.allow_tf32 = args.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"
    torch.manual_seed(args.seed)
    train_images = read_idx(find(args.data_dir, "train-images-idx3-ubyte"))
    train_labels = read_idx(find(args.data_dir, "train-labels-idx1-ubyte")).long()
    test_images = read_idx(find(args.data_dir, "t10k-images-idx3-ubyte"))
    test_labels = read_idx(find(args.data_dir, "t10k-labels-idx1-ubyte")).long()

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    start = time.perf_counter()
    test_images, test_labels = normalise(test_images.to(device)), test_labels.to(device)
    train_images, train_labels = train_images.to(device), train_labels.to(device)
    split = torch.randperm(len(train_labels), device=device)
    held_out = int(round(len(train_labels) * args.validation_fraction))
    val_images, val_labels = normalise(train_images[split[:held_out]]), train_labels[split[:held_out]]
    train_images, train_labels = normalise(train_images[split[held_out:]]), train_labels[split[held_out:]]

    model = DigitCNN().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    # The module keeps its parameters; the compiled callable is what trains and evaluates.
    forward = model if args.compile == "none" else torch.compile(model, mode=None if args.compile == "default"
                                                                 else args.compile)
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_labels), device=device)
        # As trackbench does: the loss is checked every step on the CPU, every 50 on a GPU (no sync per step).
        check_interval = 50 if device.type == "cuda" else 1
        for step, begin in enumerate(range(0, len(order), args.batch_size)):
            batch = order[begin:begin + args.batch_size]
            images, labels = train_images[batch], train_labels[batch]
            optimizer.zero_grad()
            loss = F.nll_loss(forward(images), labels)
            loss.backward()
            optimizer.step()
            if step % check_interval == 0 and not torch.isfinite(loss):
                sys.exit(f"error: loss became {loss.item()} at epoch {epoch}")
        sync()
        train_seconds = time.perf_counter() - epoch_start
        evaluate(model, forward, val_images, val_labels, args.eval_batch_size)
        test_accuracy, _ = evaluate(model, forward, test_images, test_labels, args.eval_batch_size)
        now = time.perf_counter()
        print(json.dumps({"epoch": epoch, "images": len(train_labels), "train_seconds": train_seconds,
                          "images_per_second": len(train_labels) / train_seconds,
                          "epoch_seconds": now - epoch_start, "elapsed_seconds": now - start,
                          "test_accuracy": test_accuracy, "compile": args.compile,
                          "precision": args.precision, "allocator": args.allocator,
                          "threads": torch.get_num_threads()}), flush=True)
        if args.stop_at_accuracy is not None and test_accuracy >= args.stop_at_accuracy:
            break


if __name__ == "__main__":
    main()
