"""Check a Keras weights file (HDF5) against the model it loads into, before Keras reads it.

An HDF5 dataset declares its shape in a few bytes of metadata; its data may be
absent (no chunk written: HDF5 returns the fill value) or compressed, so a
212 KB ``.weights.h5`` can declare 10^9 float32 values, and Keras's
``load_weights`` reads each dataset whole (``np.asarray``) before it compares
shapes: 4 GB per such dataset. :func:`check_weights_file` reads only the
metadata (with h5py) and refuses the file unless:

- every link is a hard link (no soft or external link to another object or
  file), no dataset stores its data in an external file or is virtual, and the
  file holds at most :data:`MAX_OBJECTS` groups and datasets;
- every dataset holds numbers of at most 8 bytes each, its chunks are no
  larger than the dataset (or :data:`CHUNK_FLOOR`), and its attributes at
  most :data:`MAX_ATTRIBUTE_BYTES` each;
- the dataset of a layer's variable (``layers/<layer>/vars/<i>``, the group
  whose ``name`` attribute names the layer) has exactly that variable's shape;
  every other dataset (the optimizer's ``optimizer/vars/<i>``) has the shape of
  one of the model's variables or is a scalar;
- the declared bytes of all datasets together are at most ``budget``.

Keras 3 writes this layout (``keras/src/saving/saving_lib.py``, ``H5IOStore``):
``layers/dense/vars/0`` with the attribute ``name: 'hidden'`` on ``vars``.

No TensorFlow here.
"""

from __future__ import annotations

import math

MAX_OBJECTS = 10_000
"""Most groups and datasets accepted in one weights file (a 100-layer model with Adam has about 800)."""
MAX_ATTRIBUTE_BYTES = 64 * 1024
"""Largest attribute accepted (Keras writes names of a few bytes)."""
CHUNK_FLOOR = 1024 * 1024
"""A dataset's chunk may be this large (bytes) even when the dataset is smaller."""


class WeightsFileError(ValueError):
    """The weights file declares more than the model holds; the message names the dataset and the limit."""


def check_weights_file(source, variables: dict, budget: int, by_name: bool = True) -> int:
    """Refuse a weights file whose declared datasets do not fit the model.

    Args:
        source: A path or a seekable binary file object (a ``zipfile`` member).
        variables: Layer name -> the shapes of its variables in Keras's saving
            order (``[(784, 100), (100,)]``), as tuples of ints.
        budget: Most bytes all datasets together may declare.
        by_name: Hold each layer's dataset to its own variable's shape; False: to any
            variable's shape (before the model is built, when Keras's layer names are
            not known yet).

    Returns:
        The bytes the datasets declare.

    Raises:
        WeightsFileError: see the module docstring; also a file that is not HDF5.
    """
    import h5py

    shapes = {tuple(s) for layer in variables.values() for s in layer} | {()}
    try:
        with h5py.File(source, "r") as handle:
            return _walk(handle, variables if by_name else None, shapes, budget)
    except WeightsFileError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise WeightsFileError(f"not a readable HDF5 weights file ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None


def _walk(handle, variables: dict, shapes: set, budget: int) -> int:
    import h5py

    _check_attributes(handle)
    total, seen, stack = 0, 0, [handle]
    while stack:
        group, groups = stack.pop(), []
        for name in group:
            seen += 1
            if seen > MAX_OBJECTS:
                raise WeightsFileError(f"the file holds more than {MAX_OBJECTS:,} groups and datasets")
            link = group.get(name, getlink=True)
            where = f"{group.name.rstrip('/')}/{name}"
            if not isinstance(link, h5py.HardLink):
                raise WeightsFileError(f"{where} is a {type(link).__name__}; a Keras weights file links "
                                       "nothing outside itself")
            item = group[name]
            _check_attributes(item)
            if isinstance(item, h5py.Group):
                groups.append(item)
                continue
            total += _dataset_bytes(item, where, _expected(group, name, variables), shapes)
            if total > budget:
                raise WeightsFileError(f"the datasets declare more than {budget:,} bytes (at {where}), the most "
                                       "the model's variables and an optimizer's slots need")
        stack.extend(reversed(groups))  # depth first in the file's order: a layer's shapes before the optimizer's
    return total


def _check_attributes(item) -> None:
    for key in item.attrs:
        size = item.attrs.get_id(key).get_storage_size()
        if size > MAX_ATTRIBUTE_BYTES:
            raise WeightsFileError(f"{item.name} has an attribute {key!r} of {size:,} bytes, more than "
                                   f"the limit of {MAX_ATTRIBUTE_BYTES:,}")


def _expected(group, name: str, variables: dict):
    """The shape the layer's variable at ``group/name`` has, None for a dataset of no layer,
    or the string of a reason the layer has no such variable."""
    if variables is None or group.name.rsplit("/", 1)[-1] != "vars" or not group.name.startswith("/layers/"):
        return None
    layer = group.attrs.get("name")
    layer = layer.decode() if isinstance(layer, bytes) else layer
    if layer not in variables:
        return f"the model has no layer named {layer!r}"
    held = variables[layer]
    if not name.isdigit() or int(name) >= len(held):
        return f"layer {layer!r} holds {len(held)} variables"
    return tuple(held[int(name)])


def _dataset_bytes(dataset, where: str, expected, shapes: set) -> int:
    dtype, shape = dataset.dtype, dataset.shape
    if dataset.is_virtual or dataset.external:
        raise WeightsFileError(f"{where} keeps its data outside the file; Keras writes every value into it")
    if shape is None or dtype.kind not in "biuf" or dtype.itemsize > 8:
        raise WeightsFileError(f"{where} holds {dtype} values of shape {shape}; weights are numbers of "
                               "at most 8 bytes")
    size = math.prod(shape) * dtype.itemsize
    if dataset.chunks and math.prod(dataset.chunks) * dtype.itemsize > max(size, CHUNK_FLOOR):
        raise WeightsFileError(f"{where} declares chunks of {dataset.chunks}, larger than its shape {shape}")
    if isinstance(expected, str):
        raise WeightsFileError(f"{where} has no variable to load into: {expected}")
    if expected is not None and tuple(shape) != expected:
        raise WeightsFileError(f"{where} declares shape {tuple(shape)}, but the model's variable has shape "
                               f"{expected}")
    if expected is None and tuple(shape) not in shapes:
        raise WeightsFileError(f"{where} declares shape {tuple(shape)}, which no variable of the model has")
    return size
