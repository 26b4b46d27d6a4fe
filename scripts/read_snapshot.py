#!/usr/bin/env python3
"""Reads a trackbench snapshot with h5py and PyTorch alone, without any trackbench code.

Prints the run's per-epoch metrics, loads the weights of one epoch into the digit CNN defined
here in PyTorch, evaluates it on an IDX test set and prints its accuracy beside the snapshot's.

Usage:
  read_snapshot.py RUN.h5 [--epoch N] [--test-dir DIR] [--check]

--epoch      the epoch whose weights to load (default: the last completed one), one the run's
             --keep-weights policy kept (in the file, or in the sidecar <RUN.h5>.epochs/epoch_NNNN.h5,
             checked against its recorded SHA-256); a snapshot recorded with --keep-weights none
             has no weights, only its metrics are printed
--test-dir   a folder with t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, raw or .gz
             (default: none, metrics only)
--check      exit 1 unless the number of correctly classified test images equals the snapshot's

Needs h5py, numpy and torch (scripts/setup.sh installs h5py into the torch virtual environment).
Exit codes: 0 ok, 1 the accuracy differs (with --check), 2 bad input, 77 a module is missing.
"""
import argparse
import gzip
import hashlib
import pathlib
import sys

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as error:  # ctest reports 77 as a skip, with this reason
    print(f"skipped: {sys.executable} cannot import h5py, numpy and torch ({error}); run scripts/setup.sh")
    sys.exit(77)

# What the trainer normalises pixels with (trainer/src/train.cpp, kernels/src/normalize.cpp):
# out = float32(pixel) * scale + shift, scale and shift rounded to float32 from doubles.
PIXEL_MEAN = 0.1307
PIXEL_STD = 0.3081
IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class DigitCNN(nn.Module):
    """trainer/src/model.cpp's network: the same parameter names, shapes and layer order."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        x = self.fc2(self.dropout2(x))
        return F.log_softmax(x, dim=1)


def fail(message, code=2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def read_idx(folder, base, magic):
    """An IDX file's payload as a numpy array, checking the header like trackbench does."""
    for path in (folder / (base + ".gz"), folder / base):
        if path.exists():
            break
    else:
        fail(f"{folder} has no {base} or {base}.gz")
    raw = path.read_bytes()
    data = gzip.decompress(raw) if path.suffix == ".gz" else raw
    dims = magic & 0xFF
    if len(data) < 4 + 4 * dims or int.from_bytes(data[:4], "big") != magic:
        fail(f"{path}: not an IDX file with magic {magic:#010x}")
    shape = [int.from_bytes(data[4 + 4 * d : 8 + 4 * d], "big") for d in range(dims)]
    payload = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if payload.size != int(np.prod(shape)):
        fail(f"{path}: holds {payload.size} bytes after its header, expected {int(np.prod(shape))}")
    return payload.reshape(shape), path.name, hashlib.sha256(raw).hexdigest()


def print_metrics(f):
    columns = ["epoch", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy", "test_loss",
               "test_accuracy", "learning_rate", "epoch_seconds", "images_per_second"]
    values = {name: f[f"metrics/{name}"][()] for name in columns}
    widths = [max(len(name), 10) for name in columns]
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, widths)))
    for row in range(len(values["epoch"])):
        print(" ".join(f"{values[name][row]:>{width}.6g}" for name, width in zip(columns, widths)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snapshot", type=pathlib.Path)
    parser.add_argument("--epoch", type=int)
    parser.add_argument("--test-dir", type=pathlib.Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()

    try:
        f = h5py.File(args.snapshot, "r")
    except OSError as error:
        fail(f"{args.snapshot}: not a readable HDF5 file ({error})")
    with f:
        if f.attrs.get("schema") != "trackbench.run" or not 1 <= f.attrs.get("schema_version", 0) <= 5:
            fail(f"{args.snapshot}: not a schema v1 to v5 trackbench snapshot")
        epochs = len(f["metrics/epoch"])
        if epochs == 0:
            fail(f"{args.snapshot}: no completed epoch")
        epoch = args.epoch if args.epoch is not None else epochs
        if not 1 <= epoch <= epochs:
            fail(f"--epoch {epoch}: {args.snapshot} holds epochs 1 to {epochs}")
        # Absent in schema v1, whose snapshots always keep their weights.
        weights_kept = f["config"].attrs.get("keep_weights", "all") != "none"
        if not weights_kept and (args.epoch is not None or args.test_dir is not None):
            fail(f"--epoch {epoch}: {args.snapshot} keeps no weights (recorded with --keep-weights none); "
                 "run this without --epoch and --test-dir to print its metrics")
        print(f"run {f.attrs['run_id']}: {f.attrs['status']}, {epochs} epochs, data {f['data'].attrs['name']}")
        print_metrics(f)
        if args.test_dir is None:
            return 0

        model = DigitCNN()
        group = f"weights/epoch_{epoch:04d}"
        if group in f:
            state = {name: torch.from_numpy(f[group][name][()]) for name in f[group]}
        else:
            # Schema v4 keeps some epochs in a sidecar file, whose SHA-256 the snapshot records.
            recorded = bytes(f["sidecar_sha256"][epoch - 1]).hex() if "sidecar_sha256" in f else ""
            if recorded.strip("0") == "":
                fail(f"--epoch {epoch}: {args.snapshot} keeps no weights for it (--keep-weights "
                     f"{f['config'].attrs['keep_weights']})")
            sidecar = pathlib.Path(f"{args.snapshot}.epochs") / f"epoch_{epoch:04d}.h5"
            if not sidecar.is_file() or hashlib.sha256(sidecar.read_bytes()).hexdigest() != recorded:
                fail(f"--epoch {epoch}: {sidecar} is missing or does not match its recorded SHA-256")
            with h5py.File(sidecar, "r") as side:
                state = {name: torch.from_numpy(side[name][()]) for name in side}
        model.load_state_dict(state, strict=True)  # refuses a missing, extra or misshapen parameter
        confusion = f["metrics/test_confusion"][epoch - 1]
        recorded_correct = int(np.trace(confusion))
        recorded_accuracy = float(f["metrics/test_accuracy"][epoch - 1])
        recorded_loss = float(f["metrics/test_loss"][epoch - 1])
        config = f["config"].attrs
        recorded_files = {name: f[f"data/files/{name}"].attrs["sha256"] for name in f["data/files"]}
        eval_batch = int(config["eval_batch_size"])
        # The trainer's thread count, so matrix products sum in the same order as when it evaluated.
        torch.set_num_threads(int(config["threads_used"]))

    images, images_name, images_sha = read_idx(args.test_dir, TEST_FILES[0], IDX_IMAGES_MAGIC)
    labels, labels_name, labels_sha = read_idx(args.test_dir, TEST_FILES[1], IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        fail(f"{args.test_dir}: {len(images)} test images but {len(labels)} labels")
    for name, digest in ((images_name, images_sha), (labels_name, labels_sha)):
        if recorded_files.get(name, digest) != digest:
            print(f"warning: {name} differs from the file the run was tested on", file=sys.stderr)

    scale = torch.tensor(1.0 / (255.0 * PIXEL_STD), dtype=torch.float32)
    shift = torch.tensor(-PIXEL_MEAN / PIXEL_STD, dtype=torch.float32)
    model.eval()  # dropout off, as in the trainer's evaluation
    correct = 0
    loss_sum = torch.zeros((), dtype=torch.float64)  # summed per batch in float32, as the trainer does
    with torch.no_grad():
        for begin in range(0, len(images), eval_batch):
            batch = torch.from_numpy(images[begin : begin + eval_batch].copy())
            target = torch.from_numpy(labels[begin : begin + eval_batch].astype(np.int64))
            output = model((batch.to(torch.float32) * scale + shift).unsqueeze(1))
            loss_sum += F.nll_loss(output, target, reduction="sum").to(torch.float64)
            correct += int((output.argmax(1) == target).sum())
    accuracy = correct / len(images)
    loss = float(loss_sum) / len(images)
    print(f"epoch {epoch} weights on {len(images)} test images: {correct} correct, accuracy {accuracy:.4%}, "
          f"loss {loss:.6f}; the snapshot records {recorded_correct} correct, {recorded_accuracy:.4%}, "
          f"loss {recorded_loss:.6f}")
    if args.check and correct != recorded_correct:
        print(f"FAIL: {correct} correct here, {recorded_correct} in the snapshot", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
