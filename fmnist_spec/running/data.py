"""Fashion-MNIST loading from the four IDX gzip files. No TensorFlow needed
unless every local place fails and Keras's downloader is the last resort.

Places tried, in order:

1. an explicit directory (``--data-dir``),
2. Keras's cache, ``$KERAS_HOME/datasets/fashion-mnist`` (default
   ``~/.keras/datasets/fashion-mnist``), where
   ``keras.datasets.fashion_mnist.load_data()`` keeps its download,
3. Debian's package ``dataset-fashion-mnist``: ``/usr/share/datasets/fashion-mnist``,
4. ``keras.datasets.fashion_mnist.load_data()``, which downloads.

The IDX format (LeCun et al., yann.lecun.com/exdb/mnist): two zero bytes, a
type byte (0x08 = unsigned byte), the number of dimensions, then each
dimension as a big-endian uint32, then the data in C order.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..language import facts

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
"""The four files, as named by the dataset, Keras and Debian alike."""

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


class DataError(Exception):
    """The data could not be found or read. The message says where fmnist-spec
    looked and how to get the files."""


@dataclass(frozen=True)
class FashionMNIST:
    """The dataset as arrays.

    Attributes:
        train_images: ``(n_train, 28, 28)`` uint8, pixels 0..255 (n_train = 60,000).
        train_labels: ``(n_train,)`` uint8, 0..9.
        test_images: ``(n_test, 28, 28)`` uint8 (n_test = 10,000).
        test_labels: ``(n_test,)`` uint8, 0..9.
        source: Where the files were read from (a directory, or ``keras download``).
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str


def keras_cache_dir() -> Path:
    """``$KERAS_HOME/datasets/fashion-mnist``, as Keras's ``get_file`` uses it."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "fashion-mnist"


MAX_IDX_ITEMS = 100_000
"""Most 28x28 images one IDX file may declare; Fashion-MNIST's largest has 60,000."""
MAX_IDX_BYTES = MAX_IDX_ITEMS * 28 * 28
"""Most data bytes an IDX header may declare (78,400,000)."""
_READ_CHUNK = 1024 * 1024


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes, gzip-compressed when its name ends in ``.gz``.

    Reads the header first, then at most the declared data plus one byte, so
    a small ``.gz`` that inflates to gigabytes (trailing zeros) is refused
    after reading ``(n, 28, 28)`` bytes, not all of it. A header may declare
    at most :data:`MAX_IDX_BYTES` bytes of data.

    Returns:
        A uint8 array of the shape the file's header declares.

    Raises:
        DataError: not a regular file, not gzip, not IDX of unsigned bytes, a
            header declaring more than the limit, or data longer or shorter
            than the header's dimensions.
    """
    from ..input_files import not_a_regular_file

    problem = not_a_regular_file(path)
    if problem:
        raise DataError(f"{path}: {problem}; expected an IDX file")
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            head = _read_up_to(fh, 4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 0x08:
                raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
            ndim = head[3]
            dims_raw = _read_up_to(fh, 4 * ndim)
            if ndim == 0 or len(dims_raw) < 4 * ndim:
                raise DataError(f"{path}: truncated IDX header")
            dims = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
            expected = _declared_bytes(path, dims)
            raw = _read_up_to(fh, expected + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read it ({exc})") from None
    if len(raw) != expected:
        held = f"{len(raw):,}" if len(raw) <= expected else "more"
        raise DataError(f"{path}: the header declares {dims} = {expected:,} bytes of data, "
                        f"the file holds {held}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(dims)


def _declared_bytes(path, dims: tuple) -> int:
    """Bytes of data ``dims`` declare, refused past :data:`MAX_IDX_BYTES`."""
    declared = int(np.prod(dims, dtype=object))
    if declared > MAX_IDX_BYTES:
        raise DataError(f"{path}: the header declares {dims} = {declared:,} bytes of data, more than the "
                        f"limit of {MAX_IDX_BYTES:,} ({MAX_IDX_ITEMS:,} images of 28x28)")
    return declared


def _read_up_to(fh, size: int) -> bytes:
    """At most ``size`` bytes from ``fh``, read in chunks (no ``size``-byte buffer up front)."""
    parts, left = [], size
    while left > 0:
        part = fh.read(min(left, _READ_CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _check(images: np.ndarray, labels: np.ndarray, what: str, where: Path) -> None:
    if images.ndim != 3 or images.shape[1:] != facts.IMAGE_SHAPE:
        raise DataError(f"{where}: {what} images have shape {images.shape}, expected (n, 28, 28)")
    if labels.ndim != 1:
        raise DataError(f"{where}: {what} labels have shape {labels.shape}, expected (n,)")
    if len(labels) != len(images):
        raise DataError(f"{where}: {len(images):,} {what} images but {len(labels):,} {what} labels; "
                        "the two files come from different sets (Fashion-MNIST has 60,000 training "
                        "and 10,000 test images)")
    if labels.size and labels.max() >= facts.NUM_CLASSES:
        raise DataError(f"{where}: {what} labels go up to {labels.max()}, expected 0..9")


def read_dir(directory: str | Path) -> FashionMNIST:
    """Read the four files from ``directory`` and check their shapes.

    Raises:
        DataError: a file is missing, unreadable or of the wrong shape.
    """
    directory = Path(directory)
    arrays = {}
    for key, name in FILES.items():
        path = _find_file(directory, name)
        if path is None:
            raise DataError(f"{directory}: {name} is missing")
        arrays[key] = read_idx(path)
    _check(arrays["train_images"], arrays["train_labels"], "training", directory)
    _check(arrays["test_images"], arrays["test_labels"], "test", directory)
    return FashionMNIST(**arrays, source=str(directory))


def candidate_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The directories tried, in order: explicit, Keras's cache, Debian's."""
    dirs = [Path(data_dir)] if data_dir else []
    return dirs + [keras_cache_dir(), DEBIAN_DIR]


def _find_file(directory: Path, name: str) -> Path | None:
    """``directory/name``, or the same file uncompressed (``name`` without ``.gz``)."""
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.exists():  # a directory or device is then refused by read_idx, by name
            return candidate
    return None


def _damaged_hint(directory: Path, later: list) -> str:
    """What to do when the files in ``directory``, a place searched by default, are damaged."""
    what = ("Keras's download cache ($KERAS_HOME/datasets/fashion-mnist)" if directory == keras_cache_dir()
            else "the first place searched")
    usable = [d for d in later if _has_files(d)]
    instead = f"pass --data-dir {usable[0]} to read the copy there, or " if usable else ""
    return (f"{directory} is {what} and is searched before other places; {instead}move the damaged "
            f"files away so the next place is used (Keras downloads them again there when it can)")


def _has_files(directory: Path) -> bool:
    return all(_find_file(directory, name) for name in FILES.values())


def load_fashion_mnist(data_dir: str | Path | None = None, download: bool = True) -> FashionMNIST:
    """Load Fashion-MNIST from the first place that has it (see the module doc).

    Args:
        data_dir: A directory holding the four IDX gzip files; when given and
            the files are not there, that is an error (no fallback). The
            files may also be uncompressed (names without ``.gz``).
        download: Let Keras download the files when no local copy exists.

    Raises:
        DataError: no place had the files, or they are damaged. The message
            lists every place tried and how to install the data.
    """
    if data_dir is not None:
        if not Path(data_dir).is_dir():
            raise DataError(f"--data-dir {data_dir}: no such directory")
        if not _has_files(Path(data_dir)):
            missing = [n for n in FILES.values() if not _find_file(Path(data_dir), n)]
            raise DataError(f"--data-dir {data_dir}: missing {', '.join(missing)} "
                            "(the IDX files, gzip-compressed or not)")
        return read_dir(data_dir)
    places = candidate_dirs()
    for i, directory in enumerate(places):
        if _has_files(directory):
            try:
                return read_dir(directory)
            except DataError as exc:
                raise DataError(f"{exc}\n  hint: {_damaged_hint(directory, places[i + 1:])}") from None
    tried = [str(d) for d in candidate_dirs()]
    failure = "download not attempted"
    if download:
        try:
            import keras

            (x, y), (xt, yt) = keras.datasets.fashion_mnist.load_data()
            return FashionMNIST(x, y, xt, yt, source="keras download")
        except Exception as exc:  # network errors come in many types
            failure = f"Keras download failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    raise DataError(
        "Fashion-MNIST not found. Looked in:\n  " + "\n  ".join(tried) + f"\n  ({failure})\n"
        "Get the files with 'sudo apt-get install dataset-fashion-mnist' (Debian), or put "
        + ", ".join(FILES.values()) + " in a directory and pass --data-dir DIR.")
