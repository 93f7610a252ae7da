import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
BAD_SPECS = sorted((Path(__file__).parent / "bad_specs").glob("*.yaml"))
WARNING_SPECS = sorted((Path(__file__).parent / "warning_specs").glob("*.yaml"))


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) as a gzip-compressed IDX file."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.tobytes())


def write_fashion_dir(directory: Path, n_train: int = 50, n_test: int = 20, seed: int = 0) -> Path:
    """Tiny Fashion-MNIST look-alike: the four IDX files in ``directory``."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    write_idx(directory / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28)))
    write_idx(directory / "train-labels-idx1-ubyte.gz", np.arange(n_train) % 10)
    write_idx(directory / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (n_test, 28, 28)))
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", np.arange(n_test) % 10)
    return directory


@pytest.fixture
def tiny_data_dir(tmp_path):
    return write_fashion_dir(tmp_path / "fashion")


@pytest.fixture(scope="session")
def real_data():
    from fmnist_spec.running.data import DataError, load_fashion_mnist

    try:
        return load_fashion_mnist(download=False)
    except DataError as exc:
        pytest.fail(f"the real Fashion-MNIST is needed (apt-get install dataset-fashion-mnist): {exc}")


@pytest.fixture(scope="module")
def shared_server():
    """One PostgreSQL server (tests/postgres_server.py) for the tests of one file."""
    from postgres_server import running_server

    with running_server() as server:
        yield server


@pytest.fixture
def postgres_server(shared_server):
    """The shared server with a fresh database of this test's own as its default."""
    from postgres_server import fresh_database

    yield from fresh_database(shared_server)
