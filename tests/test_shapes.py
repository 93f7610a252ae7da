import pytest

from conftest import SPECS
from fmnist_spec import build_model, load_spec
from fmnist_spec.language.shapes import infer


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_inferred_shapes_and_params_equal_keras(path):
    spec = load_spec(path)
    rows = infer(spec.data["layers"], spec.input_shape)
    model = build_model(spec)
    assert [r.params for r in rows] == [layer.count_params() for layer in model.layers]
    assert [r.output_shape for r in rows] == [tuple(layer.output.shape) for layer in model.layers]
    assert sum(r.params for r in rows) == model.count_params() == 79_510


def test_dense_on_images_keeps_the_extra_axis():
    rows = infer([{"units": 100}, {"units": 10}], (28, 28))
    assert rows[-1].output_shape == (None, 28, 10)
    assert [r.name for r in rows] == ["dense", "dense_1"]
