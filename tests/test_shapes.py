import keras
import pytest

from conftest import SPECS
from fmnist_spec import build_model, load_spec
from fmnist_spec.language.shapes import infer


TOTALS = {"cnn": 333_526, "cnn_input": 333_526}
"""Parameters of the shipped specs that are not the notes' 79,510 (the 8-2 CNN, as its notebooks print)."""


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_inferred_shapes_and_params_equal_keras(path):
    spec = load_spec(path)
    rows = infer(spec.data["layers"], spec.input_shape)
    keras.backend.clear_session()  # Keras's automatic names count from dense, conv2d, ... again
    model = build_model(spec)
    assert [r.params for r in rows] == [layer.count_params() for layer in model.layers]
    assert [r.output_shape for r in rows] == [tuple(layer.output.shape) for layer in model.layers]
    model.summary(print_fn=lambda *a, **k: None)  # what validate --summary stands for
    assert [r.name for r in rows] == [layer.name for layer in model.layers]
    assert sum(r.params for r in rows) == model.count_params() == TOTALS.get(path.stem, 79_510)


def test_dense_on_images_keeps_the_extra_axis():
    rows = infer([{"units": 100}, {"units": 10}], (28, 28))
    assert rows[-1].output_shape == (None, 28, 10)
    assert [r.name for r in rows] == ["dense", "dense_1"]
