"""Reads a trackbench snapshot with nothing but h5py, as an outside user would.

Usage: read_snapshot.py RUNS_DIR   (checks the newest snapshot there: a run kept with
--keep-weights all, whose epochs before the last lie in sidecar files, or one `trackbench pack` made,
with every epoch inside it)
Exits 77 (skipped) when this Python has no h5py, 1 on any mismatch with the documented schema.
"""
import hashlib
import pathlib
import sys

try:
    import h5py
    import numpy as np
except ImportError as error:  # ctest reports 77 as a skip, with this reason
    print(f"skipped: {sys.executable} cannot import h5py/numpy ({error}); install python3-h5py")
    sys.exit(77)


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}")
        sys.exit(1)


runs = sorted(p for p in pathlib.Path(sys.argv[1]).glob("*.h5") if not p.name.startswith("."))
check(runs, f"no snapshot in {sys.argv[1]}")
path = runs[-1]
with h5py.File(path, "r") as f:
    check(f.attrs["schema"] == "trackbench.run", "schema attribute")
    check(f.attrs["schema_version"] == 5, "schema_version")
    check(isinstance(f["environment"].attrs["nvml_reason"], str), "nvml_reason")
    check(len(f.attrs["record_sha256"]) == 64, "record_sha256")
    check(f["config"].attrs["keep_weights"] == "all", "keep_weights")
    packed = "epoch_0001" in f["weights"]
    check(f["config"].attrs["precision"] == "fp32", "precision")
    check(not f["config"].attrs["cuda_graphs"], "a CPU run records no CUDA graphs")
    check(f["config"].attrs["target"] == "", "no target")
    check(f.attrs["warmup_seconds"] > 0 and f.attrs["target_reached_epoch"] == 0, "warm-up and target outcome")
    check(np.isnan(f.attrs["time_to_target_seconds"]), "no time to a target")
    check(f.attrs["status"] == "completed", f"status is {f.attrs['status']}")
    check(f.attrs["run_id"] == path.stem or path.stem == "packed", "run_id names the file")
    check(isinstance(f["config"].attrs["deterministic"], np.bool_), "booleans read as numpy.bool_")

    epochs = f["metrics/epoch"][()]
    check(list(epochs) == list(range(1, len(epochs) + 1)), f"epoch column {epochs}")
    accuracy = f["metrics/test_accuracy"][()]
    check(accuracy.dtype == np.float64 and 0.0 <= accuracy[-1] <= 1.0, "test_accuracy is a fraction")
    confusion = f["metrics/test_confusion"][()]
    check(confusion.shape == (len(epochs), 10, 10), f"confusion shape {confusion.shape}")
    check(np.isclose(np.trace(confusion[-1]) / confusion[-1].sum(), accuracy[-1]), "confusion matches accuracy")
    check(int(confusion[-1].sum()) == int(f["data"].attrs["test_count"]), "every test image counted")
    check(int(f["data/test_class_counts"][()].sum()) == int(f["data"].attrs["test_count"]), "class counts")

    def check_weights(group, epoch, compressed):
        check("fc1.weight" in group and group["fc1.weight"].shape == (128, 9216), "fc1.weight")
        for name, dataset in group.items():
            check(dataset.dtype == np.float32, f"{name} float32")
            check(not compressed or dataset.compression == "gzip", f"{name} compressed")
            digest = hashlib.sha256(dataset[()].astype("<f4").tobytes()).hexdigest()
            check(digest == dataset.attrs["sha256"], f"{name} matches its sha256")
            recorded = bytes(f[f"parameter_sha256/{name}"][epoch - 1]).hex()
            check(digest == recorded, f"{name} matches its parameter_sha256 row of epoch {epoch}")

    check(f["sidecar_sha256"].shape == (len(epochs), 32), "one sidecar digest row per epoch")
    for epoch in range(1, len(epochs) + 1):
        group = f"weights/epoch_{epoch:04d}"
        sidecar = pathlib.Path(f"{path}.epochs") / f"epoch_{epoch:04d}.h5"
        recorded = bytes(f["sidecar_sha256"][epoch - 1]).hex()
        if packed or epoch == len(epochs):
            check(group in f, f"{group} inside the file")
            # The last epoch is rewritten every epoch, uncompressed; packing compresses it.
            check_weights(f[group], epoch, packed)
        if packed:
            check(recorded == "0" * 64, f"a packed file names no sidecar (epoch {epoch})")
        else:
            check(sidecar.is_file(), f"{sidecar} exists")
            check(hashlib.sha256(sidecar.read_bytes()).hexdigest() == recorded, f"{sidecar} matches sidecar_sha256")
            with h5py.File(sidecar, "r") as side:
                check(side.attrs["epoch"] == epoch and side.attrs["run_id"] == f.attrs["run_id"], "sidecar identity")
                check_weights(side, epoch, True)

    check(int(f["state"].attrs["epochs_done"]) == len(epochs), "state after the last epoch")
    check(f["state/rng/cpu"].dtype == np.uint8, "cpu generator state")
    check(f["state/optimizer/fc1.weight.step"][()] > 0, "Adam step count")
print(f"read {path.name}: {len(epochs)} epochs, final test accuracy {accuracy[-1]:.4f}")
