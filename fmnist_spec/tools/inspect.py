"""What a trained network learned, as numbers: a ``Conv2D`` layer's filters,
the feature maps one image produces in a layer, and the test images the
model gets wrong. :mod:`fmnist_spec.tools.pictures` draws them.

After lesson 8-3 of the textbook the notes follow (Park Haesun, 혼자 공부하는
머신러닝+딥러닝, ``08-3.ipynb``: ``conv.weights[0]`` drawn per filter, and the
feature maps of ``conv_acti = keras.Model(model.inputs, conv.output)``).

Pixels are prepared as the run's ``spec.yaml`` says (``data.scale``), or
divided by 255 for a bare ``.keras`` file, and reshaped to the model's own
input shape, so ``(784,)``, ``(28, 28)`` and ``(28, 28, 1)`` models all work.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .evaluate import DEFAULT_SCALE, InputError, locate, read_image


class InspectError(InputError):
    """What to inspect was asked for wrongly (bad input, exit 2).

    Attributes:
        hint: How to ask for it.
    """

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


class LayerError(InspectError):
    """A layer that is not in the model, or cannot be drawn as asked; the hint lists the layers that fit."""


SPEC_SUFFIXES = (".yaml", ".yml")
"""A target with one of these endings is a spec, built untrained (for ``--filters`` only)."""


def is_spec(target: str | Path) -> bool:
    """True when ``target`` names a spec file (``.yaml``/``.yml``), not a run folder or a model."""
    return Path(target).suffix.lower() in SPEC_SUFFIXES and not Path(target).is_dir()


def check_spec_target(target: str | Path, filters: str | None) -> None:
    """A spec gives an untrained model, whose only picture is its filters.

    Raises:
        InspectError: a spec with ``--feature-maps`` or ``--mistakes``.
    """
    if is_spec(target) and filters is None:
        raise InspectError(f"{target}: a spec gives an untrained model, and only --filters draws one "
                           "(as lesson 8-3 draws no_training_model's filters)",
                           "train the spec and inspect its run folder for --feature-maps or --mistakes, "
                           f"or draw the untrained filters: inspect {target} --filters 0 -o filters.png")


def check_image_flag(image: str | None, feature_maps: str | None) -> None:
    """``--image`` goes with ``--feature-maps`` and only with it.

    Raises:
        InspectError: one is given without the other.
    """
    if feature_maps is not None and image is None:
        raise InspectError("--feature-maps needs an image: --image N (a test-set index) or --image IMAGE.png",
                           f"e.g. --feature-maps {feature_maps} --image 0")
    if image is not None and feature_maps is None:
        raise InspectError("--image is only used with --feature-maps LAYER",
                           f"e.g. --feature-maps 0 --image {image}")


@dataclass
class Loaded:
    """A model ready to inspect.

    Attributes:
        model: The Keras model.
        model_path: The ``.keras`` file it came from.
        scale: Pixels are divided by this (``data.scale`` of the spec, or 255).
        from_logits: The model outputs logits, not probabilities.
        source: Where ``scale`` and ``from_logits`` came from.
    """

    model: object
    model_path: Path
    scale: float
    from_logits: bool
    source: str

    def images(self, pixels: np.ndarray) -> np.ndarray:
        """``(n, 28, 28)`` uint8 -> float32 ``(n, *model input shape)``, divided by :attr:`scale`."""
        x = pixels.astype(np.float32) / np.float32(self.scale)
        return x.reshape((len(x),) + tuple(self.model.input_shape[1:]))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """``(n, 10)`` class probabilities of prepared images ``x`` (softmax of logits when needed)."""
        from .evaluate import batch_size_for

        outputs = np.asarray(self.model.predict(x, verbose=0, batch_size=batch_size_for(self.model, 256)),
                             dtype=np.float64)
        if self.from_logits:
            shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
            outputs = shifted / shifted.sum(axis=1, keepdims=True)
        return outputs


def load(target: str | Path) -> Loaded:
    """Load a run folder or ``.keras`` file whose input holds one 28x28 image.

    Raises:
        InputError: a bad path, an unreadable model, or an input shape that
            is not 784 values (``(784,)``, ``(28, 28)``, ``(28, 28, 1)``).
        fmnist_spec.SpecError: the run folder's ``spec.yaml`` is invalid.
    """
    from ..language.validation import load_spec
    from ..to_keras.archive import ArchiveError, inspect_archive
    from ..to_keras.builder import load_model

    model_path, spec_path = locate(target)
    try:
        inspect_archive(model_path)
    except ArchiveError as exc:
        raise InputError(str(exc)) from None
    try:
        model = load_model(model_path)
    except Exception as exc:  # Keras raises many types for a damaged or foreign file
        raise InputError(f"{model_path}: cannot load it as a Keras model "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    sample = tuple(model.input_shape[1:])
    if None in sample or int(np.prod(sample)) != 28 * 28:
        raise InputError(f"{model_path}: the model takes samples of shape {sample}; inspect feeds one "
                         f"Fashion-MNIST image as (784,), (28, 28) or (28, 28, 1)")
    if spec_path is not None:
        spec = load_spec(spec_path)
        return Loaded(model, model_path, spec.scale, spec.loss.from_logits, str(spec_path))
    activation = model.layers[-1].get_config().get("activation")
    return Loaded(model, model_path, DEFAULT_SCALE, activation != "softmax", "inferred from the model (no spec.yaml)")


def load_untrained(spec_path: str | Path) -> Loaded:
    """The model of the spec at ``spec_path``, built and not trained (Keras's initial weights,
    seeded with the spec's ``seed``): lesson 8-3's ``no_training_model``. A build-only spec
    (no ``compile``) is taken.

    Raises:
        fmnist_spec.SpecError: the spec is invalid.
    """
    import keras

    from ..language.validation import load_spec
    from ..to_keras.builder import build_model

    spec = load_spec(spec_path)
    if spec.seed is not None:
        keras.utils.set_random_seed(spec.seed)
    model = build_model(spec)
    return Loaded(model, Path(spec_path), spec.scale, spec.loss.from_logits, f"{spec_path}, built untrained")


def find_layer(model, wanted: str):
    """The layer of ``model`` named ``wanted``, or at index ``wanted`` (``"0"``, ``"-1"``).

    Raises:
        LayerError: no such layer; the hint offers the closest name and lists every layer.
    """
    layers = list(model.layers)
    listing = ", ".join(f"{i}: {layer.name} ({type(layer).__name__})" for i, layer in enumerate(layers))
    try:
        index = int(wanted)
    except ValueError:
        for layer in layers:
            if layer.name == wanted:
                return layer
        close = difflib.get_close_matches(wanted, [layer.name for layer in layers], n=1)
        guess = f"did you mean '{close[0]}'? " if close else ""
        raise LayerError(f"the model has no layer named {wanted!r}", f"{guess}layers: {listing}") from None
    if not -len(layers) <= index < len(layers):
        raise LayerError(f"layer index {index} is out of range; the model has {len(layers)} layers "
                         f"(0..{len(layers) - 1})", f"layers: {listing}")
    return layers[index]


def _layers_where(model, fits) -> str:
    names = [f"{layer.name} ({type(layer).__name__})" for layer in model.layers if fits(layer)]
    return ", ".join(names) if names else "none in this model"


@dataclass
class Filters:
    """The kernel of one ``Conv2D`` layer.

    Attributes:
        layer: The layer's name.
        kernel: ``(kernel_height, kernel_width, input_channels, filters)``
            float32, the layer's ``kernel`` weights as Keras holds them.
        bias: ``(filters,)`` float32, or None without ``use_bias``.
    """

    layer: str
    kernel: np.ndarray
    bias: np.ndarray | None

    def tile(self, input_channel: int, filter_index: int) -> np.ndarray:
        """``(kernel_height, kernel_width)``: the weights one filter applies to one input channel."""
        return self.kernel[:, :, input_channel, filter_index]


def filters(model, wanted: str) -> Filters:
    """The kernel of the ``Conv2D`` layer ``wanted`` (name or index).

    Raises:
        LayerError: no such layer, or it is not a ``Conv2D``.
    """
    import keras

    layer = find_layer(model, wanted)
    if not isinstance(layer, keras.layers.Conv2D):
        raise LayerError(f"layer {layer.name!r} is a {type(layer).__name__}, not a Conv2D; only a Conv2D "
                         f"layer has filters to draw",
                         f"Conv2D layers: {_layers_where(model, lambda l: isinstance(l, keras.layers.Conv2D))}")
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    bias = keras.ops.convert_to_numpy(layer.bias) if layer.use_bias else None
    return Filters(layer.name, kernel, bias)


def _spatial(layer) -> bool:
    """True when the layer's output is ``(batch, height, width, channels)``."""
    return len(layer.output.shape) == 4


@dataclass
class FeatureMaps:
    """The activations one image produces in one layer.

    Attributes:
        layer: The layer's name.
        image: ``(28, 28)`` uint8, the image as given.
        image_name: ``test image N`` or the PNG's path.
        label: The image's true label (0..9) for a test image, else None.
        maps: ``(height, width, channels)`` float32, the output of
            ``keras.Model(model.inputs, layer.output)`` for the prepared image.
        predicted: The model's most probable class for the image (0..9).
        probability: Its probability, 0..1.
    """

    layer: str
    image: np.ndarray
    image_name: str
    label: int | None
    maps: np.ndarray
    predicted: int
    probability: float


def feature_maps(loaded: Loaded, wanted: str, image: np.ndarray, image_name: str,
                 label: int | None = None) -> FeatureMaps:
    """The feature maps ``image`` produces in the layer ``wanted`` (name or index).

    Args:
        loaded: The model (see :func:`load`).
        wanted: A layer with a spatial output ``(batch, height, width, channels)``:
            ``Conv2D``, ``MaxPooling2D``, ...
        image: ``(28, 28)`` uint8 pixels (see :func:`image_from`).
        image_name: How to name the image in the picture.
        label: Its true label, when known.

    Raises:
        LayerError: no such layer, or its output is not spatial (``Dense``, ``Flatten``).
    """
    import keras

    model = loaded.model
    layer = find_layer(model, wanted)
    if not _spatial(layer):
        raise LayerError(f"layer {layer.name!r} ({type(layer).__name__}) outputs shape "
                         f"{tuple(layer.output.shape)}, not (batch, height, width, channels); "
                         f"it has no feature maps to draw",
                         f"layers with feature maps: {_layers_where(model, _spatial)}")
    x = loaded.images(image[np.newaxis])
    activations = keras.Model(model.inputs, layer.output)  # the lesson's conv_acti
    maps = np.asarray(activations.predict(x, verbose=0))[0]
    probabilities = loaded.probabilities(x)[0]
    best = int(np.argmax(probabilities))
    return FeatureMaps(layer.name, image, image_name, label, maps, best, float(probabilities[best]))


def image_from(spec: str, data=None, data_dir=None) -> tuple[np.ndarray, str, int | None]:
    """``(pixels (28, 28) uint8, name, label or None)`` for ``--image``: a test-set index or a PNG.

    Args:
        spec: ``N`` (0..9999, an index into the Fashion-MNIST test set) or an image path.
        data: Loaded data (tests); default :func:`fmnist_spec.running.data.load_fashion_mnist`.
        data_dir: Directory of the IDX files.

    Raises:
        InputError: an index out of range, or an image :func:`read_image` refuses.
    """
    if not spec.lstrip("-").isdigit():
        return read_image(spec), spec, None
    from ..running.data import load_fashion_mnist

    data = data if data is not None else load_fashion_mnist(data_dir)
    index, count = int(spec), len(data.test_images)
    if not 0 <= index < count:
        raise InspectError(f"--image {spec}: the test set has images 0..{count - 1}. Received: {index}",
                           "give an index in that range, or the path of a 28x28 grayscale PNG")
    return data.test_images[index], f"test image {index}", int(data.test_labels[index])


@dataclass
class Mistakes:
    """The test images a model classifies wrongly.

    Attributes:
        indices: ``(m,)`` int64, test-set indices where ``argmax(predict) != label``, ascending.
        images: ``(m, 28, 28)`` uint8 pixels of those images.
        labels: ``(m,)`` true labels.
        predicted: ``(m,)`` predicted labels.
        probabilities: ``(m,)`` the predicted class's probability, 0..1.
        total: How many test images were classified.
    """

    indices: np.ndarray
    images: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray
    total: int


def mistakes(loaded: Loaded, data) -> Mistakes:
    """Every misclassified image of ``data``'s test set, in test-set order.

    Args:
        loaded: The model (see :func:`load`).
        data: A :class:`fmnist_spec.running.data.FashionMNIST`.
    """
    labels = data.test_labels.astype(np.int64)
    probabilities = loaded.probabilities(loaded.images(data.test_images))
    predicted = np.argmax(probabilities, axis=1)
    wrong = np.flatnonzero(predicted != labels)
    return Mistakes(wrong, data.test_images[wrong], labels[wrong], predicted[wrong],
                    probabilities[wrong, predicted[wrong]], len(labels))

