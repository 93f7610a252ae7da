"""Use a trained model: evaluate it on the Fashion-MNIST test set (overall and
per class) and predict the class of 28x28 grayscale images.

How to prepare the pixels comes from the run folder's ``spec.yaml``
(``data.scale`` and the model's input shape; ``from_logits`` of the loss).
A bare ``.keras`` file without that folder is prepared from what the model
itself says: images reshaped to its input shape, ``(784,)``, ``(28, 28)`` or
``(28, 28, 1)``, pixels divided by 255,
and its output taken as logits unless the last layer applies softmax.
Models are loaded with :func:`fmnist_spec.to_keras.builder.load_model` (Keras's
``safe_mode``); a ``.keras`` file anywhere inside a run folder (a ``ModelCheckpoint``'s
``best-model.keras``) takes that folder's ``spec.yaml``. ``evaluate SPEC --weights FILE``
builds the spec's model and loads the weights (``model.load_weights``, the textbook's
7-3), under the dtype policy the run recorded in its ``metrics.json`` when the spec says ``auto``. ``--split validation`` evaluates the validation split recomputed from the spec's
``data`` settings as training made it (:func:`fmnist_spec.running.splits.prepare`,
scikit-learn's ``train_test_split``).
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..language import facts

DEFAULT_SCALE = 255.0
SPLITS = ("test", "validation")
"""What ``evaluate`` can measure: the 10,000 test images, or the validation split."""
NOTES_SPLIT = {"test_size": 0.2, "random_state": 42}
"""The notes' ``train_test_split`` settings, used for a bare ``.keras`` file's validation split."""


class InputError(Exception):
    """A model path or image the user gave cannot be used; the message says
    what was received, what is expected and how to fix it (exit status 2)."""


SAMPLE_SHAPES = ((784,), (28, 28), (28, 28, 1))
"""Input shapes a model can take the 28x28 images in: flattened, as they are, with a channel axis."""


@dataclass(frozen=True)
class Preparation:
    """How pixels become model input: ``x = pixels / scale``, reshaped to
    ``(n,) + sample_shape``; ``from_logits``: the model outputs logits.
    ``source`` says where these came from (a ``spec.yaml`` path, or the model)."""

    scale: float
    sample_shape: tuple
    from_logits: bool
    source: str

    @property
    def flatten(self) -> bool:
        """The images are given flattened, ``(n, 784)``."""
        return len(self.sample_shape) == 1

    def images(self, pixels: np.ndarray) -> np.ndarray:
        """``(n, 28, 28)`` uint8 -> ``(n,) + sample_shape`` float32."""
        x = pixels.astype(np.float32) / np.float32(self.scale)
        return x.reshape((len(x),) + tuple(self.sample_shape))


@dataclass
class Evaluation:
    """What :func:`evaluate` measured on one split.

    Attributes:
        model_path: The ``.keras`` (or ``.weights.h5``) file evaluated.
        preparation: How the pixels were prepared.
        data_source: Where the test images came from.
        loss: Mean sparse categorical cross-entropy (nats) over the test set.
        accuracy: Fraction of test images whose most probable class is the label, 0..1.
        per_class: One dict per label 0..9: ``label``, ``name``, ``images``,
            ``correct``, ``accuracy`` and ``loss`` (None for a class without images).
        confusion: ``(10, 10)`` counts, row = true label, column = predicted.
    """

    model_path: Path
    preparation: Preparation
    data_source: str
    loss: float
    accuracy: float
    per_class: list
    confusion: np.ndarray
    split: str = "test"


@dataclass(frozen=True)
class Prediction:
    """One image's predicted ``label`` (0..9), its ``name`` and ``probability`` (0..1)."""

    path: str
    label: int
    name: str
    probability: float


def locate(target: str | Path) -> tuple[Path, Path | None]:
    """``(model file, spec.yaml or None)`` for a run folder or a ``.keras`` file.

    A ``model.keras`` inside a run folder takes that folder's ``spec.yaml``.

    Raises:
        InputError: the path is neither a run folder with ``model.keras`` nor
            a regular ``.keras`` file (a directory named ``x.keras``, a device
            or a pipe is said to be one).
    """
    from ..input_files import not_a_regular_file
    from ..running.run_folder import RunFolder

    target = Path(target)
    if target.is_dir() and target.suffix != ".keras":
        folder = RunFolder(target)
        model = folder.model_path
        if not model.exists():
            raise InputError(f"{target}: no {RunFolder.MODEL} in this folder; expected a run folder written by "
                             f"'fmnist-spec train' or a .keras file")
        spec = folder.spec_path
        return model, spec if spec.is_file() else None
    problem = not_a_regular_file(target)
    if problem:
        raise InputError(f"{target}: {problem}; expected a run folder or a .keras model file")
    if target.suffix != ".keras":
        raise InputError(f"{target}: not a .keras file; expected a run folder or a .keras model file")
    folder = _run_folder_of(target)
    return target, folder.spec_path if folder is not None else None


def _run_folder_of(path: Path):
    """The run folder (``spec.yaml`` and ``metrics.json``) holding ``path``, nearest first, or None."""
    from ..running.run_folder import RunFolder

    for parent in path.resolve().parents:
        folder = RunFolder(parent)
        if folder.spec_path.is_file() and folder.holds_run():
            return folder
    return None


def load(target: str | Path):
    """``(model, Preparation, model path)`` for a run folder or ``.keras`` file.

    The archive is inspected first (:func:`fmnist_spec.to_keras.archive.inspect_archive`:
    bounded sizes, nothing extracted to disk), then loaded with Keras's
    ``safe_mode``, then its input and output are checked.

    Raises:
        InputError: bad path, an archive over a limit or not a Keras archive,
            unreadable model, an input shape other than ``(784,)``, ``(28, 28)``
            or ``(28, 28, 1)``, or not one output of shape ``(None, 10)``.
        fmnist_spec.SpecError: the run folder's ``spec.yaml`` is invalid.
    """
    model, prep, model_path, _ = _load(target)
    return model, prep, model_path


def _load(target: str | Path, weights: str | Path | None = None):
    """``(model, Preparation, model path, Spec or None)``; with ``weights``, ``target`` is a
    spec file whose model is built and given those weights."""
    from ..to_keras.archive import ArchiveError, inspect_archive
    from ..language.validation import load_spec

    if weights is not None:
        return _built_with_weights(target, weights)
    model_path, spec_path = locate(target)
    try:
        inspect_archive(model_path)
    except ArchiveError as exc:
        raise InputError(str(exc)) from None
    from ..to_keras.builder import load_model  # imports TensorFlow: only once the archive passed
    from .model_checks import ModelShapeError, check_outputs, final_softmax

    try:
        model = load_model(model_path)
    except Exception as exc:  # Keras raises many types for a damaged or foreign file
        raise InputError(f"{model_path}: cannot load it as a Keras model "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    sample = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if sample not in SAMPLE_SHAPES:
        raise InputError(f"{model_path}: the model takes samples of shape {sample or model.input_shape}; "
                         f"fmnist-spec feeds Fashion-MNIST images as (28, 28), flattened (784,) or with a "
                         f"channel axis (28, 28, 1)")
    try:
        check_outputs(model)
    except ModelShapeError as exc:
        raise InputError(f"{model_path}: {exc}") from None
    spec = None
    if spec_path is not None:
        spec = load_spec(spec_path)
        if spec.input_shape != sample:  # a .keras of another model put inside a run folder
            raise InputError(f"{model_path}: the model takes samples of shape {sample}, but the spec of the "
                             f"run folder holding it ({spec_path}) gives the images as {spec.input_shape}: "
                             f"it is not that run's model\n  hint: evaluate the run folder itself, or copy "
                             f"the .keras file out of the run folder to evaluate it on its own")
        prep = Preparation(spec.scale, spec.input_shape, spec.loss.from_logits, str(spec_path))
    else:
        softmax = final_softmax(model)
        found = f"ends in a {softmax}: probabilities" if softmax else "no final softmax: logits"
        prep = Preparation(DEFAULT_SCALE, sample, softmax is None, f"inferred from the model (no spec.yaml); {found}")
    return model, prep, model_path, spec


def load_error_reason(exc: Exception, limit: int = 300) -> str:
    """The reason in Keras's text of a failed ``load_weights``/``load_model``, on one line.

    Keras 3.15 writes "A total of 2 objects could not be loaded. Example error message for object
    <Dense name=dense, built=True>:", a blank line, then the reason ("The shape of the target
    variable and the shape of the target value ... must match. variable.shape=(784, 50),
    Received: value.shape=(784, 100). Target variable: <Variable ... value=[[...]]>"): the header
    and the reason are kept, the printed variable values are not.
    """
    text = str(exc).split("Target variable:")[0].split("List of objects that could not be loaded")[0]
    line = " ".join(text.split()) or type(exc).__name__
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _built_with_weights(spec_path: str | Path, weights: str | Path):
    """Build the model of the spec at ``spec_path`` and ``load_weights(weights)`` into it."""
    from ..language.validation import load_spec, require_compile

    weights = weights_path(weights)
    spec = _with_run_policy(require_compile(load_spec(spec_path), "evaluate --weights"), weights, Path(spec_path))
    _check_weights_fit(weights, _spec_variables(spec), spec_path, by_name=False)  # before TensorFlow
    from ..to_keras.builder import build_model, compile_model, load_weights

    model = build_model(spec)
    compile_model(model, spec)
    _check_weights_fit(weights, {layer.name: [tuple(v.shape) for v in layer.trainable_weights
                                               + layer.non_trainable_weights] for layer in model.layers}, spec_path)
    try:
        load_weights(model, weights)
    except Exception as exc:  # Keras raises ValueError for another architecture, OSError for a bad file
        raise InputError(f"{weights}: cannot load these weights into the model of {spec_path} "
                         f"({type(exc).__name__}: {load_error_reason(exc)})\n"
                         f"  hint: give the spec the weights were trained with (the run folder's spec.yaml)") from None
    prep = Preparation(spec.scale, spec.input_shape, spec.loss.from_logits, str(spec_path))
    return model, prep, weights, spec


def weights_path(weights: str | Path) -> Path:
    """``--weights`` as a path, once it names a regular ``.weights.h5`` file.

    Raises:
        InputError: no such file, or not a ``.weights.h5`` file.
    """
    weights = Path(weights)
    if not weights.name.endswith(".weights.h5") or not weights.is_file():
        what = "no such file" if not weights.exists() else "not a .weights.h5 file"
        raise InputError(f"{weights}: {what}; --weights takes a file written by model.save_weights "
                         f"(a run folder's model.weights.h5)")
    return weights


def _spec_variables(spec) -> dict:
    """Layer name -> its variables' shapes, inferred from the spec without TensorFlow."""
    from ..language.shapes import infer
    from ..to_keras.model_config import variable_shapes

    layers = spec.resolved()["layers"]
    return {row.name: variable_shapes(layers[row.index], row) for row in infer(layers, spec.input_shape)}


def _check_weights_fit(weights: Path, variables: dict, spec_path, by_name: bool = True) -> None:
    """Refuse a weights file whose HDF5 datasets declare other shapes than the model's
    ``variables`` (layer name -> shapes), or more bytes than they and an optimizer's slots
    need, before Keras reads any of it (:func:`fmnist_spec.to_keras.weights_file.check_weights_file`)."""
    from ..to_keras.archive import weights_budget
    from ..to_keras.weights_file import WeightsFileError, check_weights_file

    parameters = sum(math.prod(s) for shapes in variables.values() for s in shapes)
    try:
        check_weights_file(weights, variables, weights_budget(parameters), by_name)
    except WeightsFileError as exc:
        raise InputError(f"{weights}: cannot load these weights into the model of {spec_path}: {exc}\n"
                         f"  hint: give the spec the weights were trained with (the run folder's spec.yaml)") from None


def batch_size_for(model, preferred: int) -> int:
    """``preferred``, or a smaller batch whose activations stay within
    :data:`fmnist_spec.language.memory.MAX_EVALUATION_BYTES` (estimated from the model's own
    output shapes, :func:`fmnist_spec.language.memory.per_sample_inference`)."""
    from ..language import memory
    from ..language.shapes import LayerShape

    rows = []
    for index, layer in enumerate(model.layers):
        shape = getattr(getattr(layer, "output", None), "shape", None)
        if shape is None or None in tuple(shape)[1:]:
            continue
        rows.append(LayerShape(index, layer.name, type(layer).__name__, (), tuple(shape), 0))
    inputs = math.prod(d for d in model.input_shape[1:] if d) if not isinstance(model.input_shape, list) else 784
    return memory.evaluation_batch_size(memory.per_sample_inference(rows, inputs), preferred)


def _with_run_policy(spec, *paths: Path):
    """``spec`` with the ``dtype_policy`` its run trained under (``metrics.json`` of the run folder
    holding the first of ``paths`` that is in one) when it says ``auto``, which could resolve
    otherwise here; unchanged when it names a policy or no run folder is found."""
    if spec.dtype_policy != "auto":
        return spec
    for path in paths:
        folder = _run_folder_of(path)
        metrics = folder.read_metrics() if folder is not None else None
        if metrics is not None:
            return replace(spec, dtype_policy=metrics.dtype_policy)
    return spec


def split_images(split: str, prep: Preparation, spec, data) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of ``split`` as the model takes them.

    The validation split of a spec is :func:`fmnist_spec.running.splits.prepare`'s, the
    very arrays training validated on; without a spec, the notes' split
    (:data:`NOTES_SPLIT`) of the 60,000 training images, prepared by ``prep``.
    """
    if split == "test":
        return prep.images(data.test_images), data.test_labels
    if spec is not None:
        from ..running.splits import prepare

        splits = prepare(spec, data)
        return splits.x_val, splits.y_val
    from sklearn.model_selection import train_test_split

    _, x_val, _, y_val = train_test_split(data.train_images, data.train_labels, **NOTES_SPLIT)
    return prep.images(x_val), y_val


def evaluate(target: str | Path, *, data_dir: str | Path | None = None, data=None, split: str = "test",
             weights: str | Path | None = None) -> Evaluation:
    """Evaluate a trained model on the 10,000 Fashion-MNIST test images or the validation split.

    Args:
        target: A run folder (``model.keras`` + ``spec.yaml``) or a ``.keras`` file; with
            ``weights``, a spec file.
        data_dir: Directory of the four IDX files (see :mod:`fmnist_spec.running.data`).
        data: Already loaded data (tests); default :func:`fmnist_spec.running.data.load_fashion_mnist`.
        split: ``"test"`` or ``"validation"`` (see :func:`split_images`).
        weights: A ``.weights.h5`` file (``model.save_weights``) to load into the spec's model.

    Returns:
        An :class:`Evaluation`. The overall loss and accuracy are
        ``model.evaluate``'s when the model is compiled with a loss (a run's
        model, or a spec's model given ``weights``): Keras computes a softmax
        output's loss from its logits, so these equal the training log's
        figures. Per-class figures come from one ``model.predict`` pass, with
        ``keras.losses.sparse_categorical_crossentropy`` of its outputs
        (``from_logits`` as prepared), which clips probabilities below 1e-7
        and so may differ from the logits' loss for confidently wrong images.

    Raises:
        InputError: see :func:`load`.
        fmnist_spec.running.data.DataError: Fashion-MNIST could not be loaded.
    """
    import keras

    from ..running.data import load_fashion_mnist
    from ..running.plots import confusion_matrix

    if split not in SPLITS:
        raise InputError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    model, prep, model_path, spec = _load(target, weights)
    data = data if data is not None else load_fashion_mnist(data_dir)
    images, labels = split_images(split, prep, spec, data)
    labels = labels.astype(np.int64)
    outputs = model.predict(images, verbose=0, batch_size=batch_size_for(model, 256))
    losses = keras.ops.convert_to_numpy(keras.losses.sparse_categorical_crossentropy(
        labels, outputs, from_logits=prep.from_logits)).astype(np.float64)
    predicted = np.argmax(outputs, axis=1)
    right = predicted == labels
    loss, accuracy = float(losses.mean()), float(right.mean())
    if getattr(model, "loss", None) is not None:
        figures = model.evaluate(images, labels, batch_size=batch_size_for(model, 1024), verbose=0,
                                 return_dict=True)
        loss = float(figures["loss"])
    per_class = []
    for label, name in enumerate(facts.CLASS_NAMES):
        mask = labels == label
        count = int(mask.sum())
        per_class.append({"label": label, "name": name, "images": count, "correct": int(right[mask].sum()),
                          "accuracy": float(right[mask].mean()) if count else None,
                          "loss": float(losses[mask].mean()) if count else None})
    return Evaluation(model_path, prep, data.source, loss, accuracy,
                      per_class, confusion_matrix(labels, predicted), split)


def read_image(path: str | Path) -> np.ndarray:
    """:func:`fmnist_spec.tools.images.read_image`, its refusals as :class:`InputError`."""
    from .images import ImageError, read_image as read

    try:
        return read(path)
    except ImageError as exc:
        raise InputError(str(exc)) from None


def predict(model_path: str | Path, images: list, class_names=facts.CLASS_NAMES) -> list:
    """Predict the class of each image with a trained model.

    Args:
        model_path: A ``.keras`` file (or run folder); see :func:`load` for the preparation.
        images: Paths of 28x28 grayscale images.
        class_names: The names :attr:`Prediction.name` takes, in label order.

    Returns:
        One :class:`Prediction` per image, in order.

    Raises:
        InputError: a bad model path or image (every image is read before predicting).
    """
    pixels = np.stack([read_image(p) for p in images])
    model, prep, _ = load(model_path)
    outputs = model.predict(prep.images(pixels), verbose=0, batch_size=batch_size_for(model, 32))
    if prep.from_logits:
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        outputs = shifted / shifted.sum(axis=1, keepdims=True)
    best = np.argmax(outputs, axis=1)
    return [Prediction(str(p), int(b), class_names[b], float(outputs[i, b]))
            for i, (p, b) in enumerate(zip(images, best))]


def _shape_words(shape: tuple) -> str:
    return {(784,): "flattened to 784", (28, 28, 1): "28x28x1"}.get(tuple(shape), "28x28")


def _padded(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` terminal columns; Hangul and other
    wide characters take two (Unicode East Asian Width W or F)."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - columns)


def report(evaluation: Evaluation, class_names=facts.CLASS_NAMES) -> str:
    """The evaluation as text: overall loss and accuracy, then one line per class
    named from ``class_names`` (label order)."""
    e = evaluation
    lines = [f"model: {e.model_path}",
             f"data: {int(e.confusion.sum()):,} {e.split} images from {e.data_source}; "
             f"pixels / {e.preparation.scale:g}, {_shape_words(e.preparation.sample_shape)} "
             f"({e.preparation.source})",
             f"{e.split} loss {e.loss:.4f}, accuracy {e.accuracy:.4f}",
             "",
             f"{'class':<13}{'images':>8}{'correct':>9}{'accuracy':>10}{'loss':>9}"]
    for c in e.per_class:
        acc = "-" if c["accuracy"] is None else f"{c['accuracy']:.4f}"
        loss = "-" if c["loss"] is None or math.isnan(c["loss"]) else f"{c['loss']:.4f}"
        lines.append(f"{_padded(class_names[c['label']], 13)}{c['images']:>8,}{c['correct']:>9,}{acc:>10}{loss:>9}")
    return "\n".join(lines) + "\n"
