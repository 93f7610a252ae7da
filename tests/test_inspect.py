"""``fmnist-spec inspect``: the numbers behind the pictures of filters, feature
maps and mistakes equal what Keras computes, and the pictures are real."""

import xml.dom.minidom

import numpy as np
import pytest
from PIL import Image

from fmnist_spec.cli import main
from png_check import assert_real_png


@pytest.fixture(scope="module")
def models(real_data, tmp_path_factory):
    """A small CNN (28, 28, 1), a Dense logits model (784,) and a softmax model (28, 28),
    each trained 1 epoch on 2,000 real training images and saved as .keras files."""
    import keras

    folder = tmp_path_factory.mktemp("models")
    x = real_data.train_images[:2000].astype("float32") / 255
    y = real_data.train_labels[:2000]
    keras.utils.set_random_seed(1)
    # names given, since Keras numbers unnamed layers per process (flatten_63 after other tests)
    cnn = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu", padding="same", name="conv2d"),
        keras.layers.MaxPooling2D(2, name="max_pooling2d"),
        keras.layers.Conv2D(16, 3, activation="relu", padding="same", name="conv2d_1"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(10, activation="softmax", name="dense"),
    ])
    flat = keras.Sequential([keras.Input((784,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])
    square = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                               keras.layers.Dense(10, activation="softmax")])
    paths = {}
    for name, model, shape, from_logits in (("cnn", cnn, (-1, 28, 28, 1), False),
                                            ("flat", flat, (-1, 784), True),
                                            ("square", square, (-1, 28, 28), False)):
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits))
        model.fit(x.reshape(shape), y, epochs=1, batch_size=64, verbose=0)
        paths[name] = folder / f"{name}.keras"
        model.save(paths[name])
    return paths


@pytest.fixture(scope="module")
def cnn(models):
    from fmnist_spec.tools import inspect

    return inspect.load(models["cnn"])


def _mosaic_tile(figure_axes_image, k, columns, height, width):
    grid = np.ma.getdata(figure_axes_image.get_array())
    top, left = (k // columns) * (height + 1), (k % columns) * (width + 1)
    return grid[top:top + height, left:left + width]


def test_filter_tiles_are_the_conv2d_kernel_weights(cnn, tmp_path):
    from fmnist_spec.tools import inspect, pictures

    for wanted in ("conv2d", "2"):
        layer = inspect.find_layer(cnn.model, wanted)
        found = inspect.filters(cnn.model, wanted)
        kernel = layer.get_weights()[0]
        assert found.kernel.shape == kernel.shape  # (kh, kw, in, out)
        np.testing.assert_array_equal(found.kernel, kernel)
        np.testing.assert_array_equal(found.bias, layer.get_weights()[1])
        figure, notes = pictures.draw_filters(found, tmp_path / f"{wanted}.png")
        image = figure.axes[0].images[0]
        assert image.get_cmap().name.startswith("bwr")
        m = np.abs(kernel).max()
        assert image.get_clim() == pytest.approx((-m, m))  # centred on 0
        kh, kw, inputs, outputs = kernel.shape
        for channel in range(inputs):
            for f in range(outputs):
                np.testing.assert_array_equal(
                    _mosaic_tile(image, channel * outputs + f, outputs, kh, kw), kernel[:, :, channel, f])
        assert notes == []


def test_feature_maps_equal_the_sub_models_output_for_that_test_image(cnn, real_data, tmp_path):
    import keras

    from fmnist_spec.tools import inspect, pictures

    pixels, name, label = inspect.image_from("17", real_data)
    assert (name, label) == ("test image 17", int(real_data.test_labels[17]))
    for wanted in ("conv2d", "max_pooling2d", "conv2d_1"):
        found = inspect.feature_maps(cnn, wanted, pixels, name, label)
        layer = cnn.model.get_layer(wanted)
        x = real_data.test_images[17:18].astype("float32").reshape(1, 28, 28, 1) / 255
        expected = keras.Model(cnn.model.inputs, layer.output).predict(x, verbose=0)[0]
        np.testing.assert_allclose(found.maps, expected, rtol=1e-6, atol=1e-6)
        probabilities = cnn.model.predict(x, verbose=0)[0]
        assert found.predicted == int(np.argmax(probabilities))
        assert found.probability == pytest.approx(float(probabilities.max()), rel=1e-5)
        figure = pictures.draw_feature_maps(found, tmp_path / f"{wanted}.png")
        height, width, channels = expected.shape
        drawn = figure.axes[1].images[0]
        for c in range(channels):
            np.testing.assert_allclose(_mosaic_tile(drawn, c, min(channels, 8), height, width), expected[:, :, c],
                                       rtol=1e-6, atol=1e-6)


def test_a_png_gives_the_same_feature_maps_as_its_test_image(cnn, real_data, tmp_path):
    from fmnist_spec.tools import inspect

    png = tmp_path / "five.png"
    Image.fromarray(real_data.test_images[5]).save(png)
    from_png = inspect.feature_maps(cnn, "0", *inspect.image_from(str(png)))
    from_index = inspect.feature_maps(cnn, "0", *inspect.image_from("5", real_data))
    assert from_png.label is None and from_index.label == int(real_data.test_labels[5])
    np.testing.assert_array_equal(from_png.maps, from_index.maps)


@pytest.mark.parametrize("kind", ["cnn", "flat", "square"])
def test_mistakes_are_exactly_the_test_images_where_argmax_differs_from_the_label(models, real_data, kind):
    import keras

    from fmnist_spec.tools import inspect

    loaded = inspect.load(models[kind])
    found = inspect.mistakes(loaded, real_data)
    model = keras.saving.load_model(models[kind])
    x = real_data.test_images.astype("float32").reshape((-1,) + model.input_shape[1:]) / 255
    outputs = model.predict(x, verbose=0)
    predicted = np.argmax(outputs, axis=1)
    expected = np.flatnonzero(predicted != real_data.test_labels)
    assert 0 < len(expected) < 10_000
    np.testing.assert_array_equal(found.indices, expected)
    np.testing.assert_array_equal(found.predicted, predicted[expected])
    np.testing.assert_array_equal(found.labels, real_data.test_labels[expected])
    np.testing.assert_array_equal(found.images, real_data.test_images[expected])
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(outputs)) if kind == "flat" else outputs
    np.testing.assert_allclose(found.probabilities, probabilities[expected, predicted[expected]], rtol=1e-5)
    assert found.total == 10_000


def test_inspect_cli_draws_filters_feature_maps_and_mistakes(models, tmp_path, capsys):
    cnn = str(models["cnn"])
    runs = {"filters.png": ["--filters", "conv2d_1"],
            "maps.png": ["--feature-maps", "0", "--image", "0"],
            "mistakes.png": ["--mistakes", "--count", "10"]}
    for name, flags in runs.items():
        assert main(["inspect", cnn, *flags, "-o", str(tmp_path / name)]) == 0, capsys.readouterr().err
        width, height = assert_real_png(tmp_path / name)
        assert height > 200
    out = capsys.readouterr().out
    assert "drew 16 filters of conv2d_1" in out and "drew 10 of " in out
    assert main(["inspect", str(models["flat"]), "--mistakes", "-o", str(tmp_path / "flat.svg")]) == 0
    document = xml.dom.minidom.parse(str(tmp_path / "flat.svg"))
    assert document.documentElement.tagName == "svg"
    assert len(document.getElementsByTagName("image")) >= 25  # one per misclassified image drawn


def test_a_misspelt_layer_is_bad_input_with_did_you_mean_and_the_layers(models, tmp_path, capsys):
    status = main(["inspect", str(models["cnn"]), "--filters", "conv2", "-o", str(tmp_path / "f.png")])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "error: the model has no layer named 'conv2'" in err
    assert "did you mean 'conv2d'?" in err and "4: dense (Dense)" in err
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("model, flags, message", [
    ("cnn", ["--filters", "max_pooling2d"], "is a MaxPooling2D, not a Conv2D"),
    ("cnn", ["--filters", "7"], "layer index 7 is out of range"),
    ("cnn", ["--feature-maps", "flatten", "--image", "0"], "it has no feature maps to draw"),
    ("flat", ["--feature-maps", "0", "--image", "0"], "it has no feature maps to draw"),
    ("flat", ["--filters", "0"], "is a Dense, not a Conv2D"),
    ("cnn", ["--feature-maps", "0"], "--feature-maps needs an image"),
    ("cnn", ["--mistakes", "--image", "3"], "--image is only used with --feature-maps"),
    ("cnn", ["--feature-maps", "0", "--image", "10000"], "the test set has images 0..9999"),
])
def test_inspect_refuses_what_it_cannot_draw_with_status_2(models, tmp_path, capsys, model, flags, message):
    status = main(["inspect", str(models[model]), *flags, "-o", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert status == 2, err
    assert message in err and "hint:" in err and "Traceback" not in err


def test_inspect_keeps_an_existing_picture_unless_overwrite(models, tmp_path, capsys):
    target = tmp_path / "mine.png"
    target.write_bytes(b"the learner's own picture")
    args = ["inspect", str(models["cnn"]), "--filters", "0", "-o", str(target)]
    assert main(args) == 2
    assert "exists already" in capsys.readouterr().err
    assert target.read_bytes() == b"the learner's own picture"
    assert main(args + ["--overwrite"]) == 0
    assert_real_png(target, min_width=300)


def test_counts_in_the_closing_line_read_as_english():
    from fmnist_spec.cli.commands import _count

    assert _count(1, "feature map") == "1 feature map"
    assert _count(2649, "misclassified test image") == "2,649 misclassified test images"
