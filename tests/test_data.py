import gzip

import numpy as np
import pytest

from conftest import write_fashion_dir, write_idx
from fmnist_spec.running import data as data_mod
from fmnist_spec.running.data import DataError, load_fashion_mnist, read_idx


def test_reads_tiny_idx_files_written_by_the_test(tiny_data_dir):
    data = load_fashion_mnist(tiny_data_dir)
    assert data.train_images.shape == (50, 28, 28) and data.train_images.dtype == np.uint8
    assert data.test_labels.tolist() == [i % 10 for i in range(20)]
    assert data.source == str(tiny_data_dir)


def test_idx_header_dimensions_are_checked(tmp_path):
    path = tmp_path / "short.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 9)
    with pytest.raises(DataError, match="declares"):
        read_idx(path)


def test_bad_magic_is_refused(tmp_path):
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="magic"):
        read_idx(path)


def test_wrong_image_shape_is_refused(tmp_path):
    d = write_fashion_dir(tmp_path / "d")
    write_idx(d / "train-images-idx3-ubyte.gz", np.zeros((50, 32, 32)))
    with pytest.raises(DataError, match=r"expected \(n, 28, 28\)"):
        load_fashion_mnist(d)


def test_label_count_must_match_images(tmp_path):
    d = write_fashion_dir(tmp_path / "d")
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.zeros(3))
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((50, 28, 28)))
    with pytest.raises(DataError, match="50 test images but 3 test labels"):
        load_fashion_mnist(d)


def test_explicit_dir_without_files_is_an_error(tmp_path):
    with pytest.raises(DataError, match="missing train-images"):
        load_fashion_mnist(tmp_path)


def test_keras_cache_comes_before_debian(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    write_fashion_dir(tmp_path / "kh" / "datasets" / "fashion-mnist", n_train=30)
    data = load_fashion_mnist()
    assert data.train_images.shape[0] == 30 and "kh" in data.source


def test_nothing_found_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    monkeypatch.setattr(data_mod, "DEBIAN_DIR", tmp_path / "debian")
    with pytest.raises(DataError) as err:
        load_fashion_mnist(download=False)
    text = str(err.value)
    assert str(tmp_path / "kh") in text and str(tmp_path / "debian") in text
    assert "apt-get install dataset-fashion-mnist" in text


def test_real_files_have_the_published_sizes(real_data):
    assert real_data.train_images.shape == (60_000, 28, 28)
    assert real_data.test_images.shape == (10_000, 28, 28)
    assert np.bincount(real_data.train_labels).tolist() == [6_000] * 10


def test_uncompressed_idx_files_are_read_too(tmp_path):
    d = write_fashion_dir(tmp_path / "d")
    for path in list(d.iterdir()):
        (d / path.name.removesuffix(".gz")).write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    data = load_fashion_mnist(d)
    assert data.train_images.shape == (50, 28, 28) and data.test_labels.shape == (20,)


def test_missing_data_dir_says_so(tmp_path):
    with pytest.raises(DataError, match="no such directory"):
        load_fashion_mnist(tmp_path / "nowhere")


def test_a_damaged_keras_cache_says_what_it_is_and_where_a_good_copy_is(tmp_path, monkeypatch):
    from fmnist_spec.running import data as data_module

    cache = tmp_path / "keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for name in data_module.FILES.values():
        (cache / name).write_bytes(b"junk")
    good = write_fashion_dir(tmp_path / "debian")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(data_module, "DEBIAN_DIR", good)
    with pytest.raises(data_module.DataError) as caught:
        data_module.load_fashion_mnist(download=False)
    message = str(caught.value)
    assert "Not a gzipped file" in message and "Keras's download cache" in message
    assert f"pass --data-dir {good}" in message
    assert all((cache / name).read_bytes() == b"junk" for name in data_module.FILES.values())  # nothing removed
