"""``--class-names en|ko``: the textbook's Korean names in evaluate and predict
text, and in pictures drawn with the NanumGothic font, or English names and a
note when no Hangul font is installed."""

import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fmnist_spec.cli import main
from fmnist_spec.language.facts import CLASS_NAMES, CLASS_NAMES_KO
from png_check import assert_real_png


@pytest.fixture(scope="module")
def model(real_data, tmp_path_factory):
    """A (784,) softmax model trained 1 epoch on 2,000 real images, saved as a .keras file."""
    import keras

    keras.utils.set_random_seed(2)
    net = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
    net.compile("adam", "sparse_categorical_crossentropy")
    net.fit(real_data.train_images[:2000].reshape(-1, 784) / 255, real_data.train_labels[:2000], verbose=0)
    path = tmp_path_factory.mktemp("model") / "dense.keras"
    net.save(path)
    return path


@pytest.fixture
def no_hangul_font(monkeypatch):
    """As if NanumGothic were not installed."""
    from fmnist_spec.tools import class_names

    monkeypatch.setattr(class_names, "HANGUL_FAMILY", "NoSuchHangulFont")
    monkeypatch.setattr(class_names, "HANGUL_FONT_FILE", "NoSuchHangulFont.ttf")


def _font_file(text) -> str:
    from matplotlib import font_manager

    return Path(font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)).name


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_the_korean_names_are_the_textbooks_in_label_order():
    from fmnist_spec.tools.class_names import class_names

    assert class_names("ko") == ("티셔츠", "바지", "스웨터", "드레스", "코트",
                                 "샌달", "셔츠", "스니커즈", "가방", "앵클 부츠")
    assert class_names() == CLASS_NAMES


def test_evaluate_prints_korean_class_names_in_aligned_columns(model, capsys):
    assert main(["evaluate", str(model)]) == 0
    english = capsys.readouterr().out.splitlines()[-10:]
    assert main(["evaluate", str(model), "--class-names", "ko"]) == 0
    korean = capsys.readouterr().out.splitlines()[-10:]
    for name, row, english_row in zip(CLASS_NAMES_KO, korean, english):
        assert row.startswith(name)
        # the same figures, starting at the same terminal column (Hangul is two columns wide)
        assert row[len(name):].lstrip() == english_row[english_row.index("1,000") - 3:].lstrip()
        assert _columns(row[:row.index("1,000")]) == english_row.index("1,000")


def test_predict_prints_the_korean_name(model, real_data, tmp_path, capsys):
    png = tmp_path / "zero.png"
    Image.fromarray(real_data.test_images[0]).save(png)
    assert main(["predict", str(model), str(png)]) == 0
    english = capsys.readouterr().out.strip().split(": ")[1].rsplit(" (", 1)[0]
    assert main(["predict", str(model), str(png), "--class-names", "ko"]) == 0
    korean = capsys.readouterr().out.strip().split(": ")[1].rsplit(" (", 1)[0]
    assert korean == CLASS_NAMES_KO[CLASS_NAMES.index(english)]


def test_the_nanum_font_is_installed_and_found():
    from fmnist_spec.tools.class_names import hangul_font

    path = hangul_font()
    assert path is not None, "NanumGothic is missing: run scripts/setup.sh (apt-get install fonts-nanum)"
    assert Path(path).name == "NanumGothic.ttf"


def test_a_korean_confusion_matrix_is_drawn_with_nanum_and_no_missing_glyphs(tmp_path):
    from fmnist_spec.running.plots import confusion_png
    from fmnist_spec.tools.class_names import for_pictures

    names = for_pictures("ko")
    assert names.names == CLASS_NAMES_KO and names.notes == []
    matrix = np.arange(100).reshape(10, 10)
    with warnings.catch_warnings(record=True) as caught, names.fonts():
        warnings.simplefilter("always")
        figure = confusion_png(matrix, tmp_path / "ko.png", class_names=names.names)
    assert not [w for w in caught if "Glyph" in str(w.message)]
    labels = figure.axes[0].get_xticklabels()
    assert [label.get_text() for label in labels] == list(CLASS_NAMES_KO)
    assert {_font_file(label) for label in labels} == {"NanumGothic.ttf"}
    assert_real_png(tmp_path / "ko.png")


def test_evaluate_and_inspect_draw_korean_pictures(model, tmp_path, capsys):
    confusion, mistakes = tmp_path / "confusion.png", tmp_path / "mistakes.png"
    assert main(["evaluate", str(model), "--class-names", "ko", "--confusion", str(confusion)]) == 0
    assert main(["inspect", str(model), "--mistakes", "--class-names", "ko", "-o", str(mistakes)]) == 0
    assert "note:" not in capsys.readouterr().err
    assert_real_png(confusion)
    assert_real_png(mistakes)


def test_korean_mistake_titles_use_nanum(model, real_data, tmp_path):
    from fmnist_spec.tools import inspect, pictures
    from fmnist_spec.tools.class_names import for_pictures

    found = inspect.mistakes(inspect.load(model), real_data)
    names = for_pictures("ko")
    with warnings.catch_warnings(record=True) as caught, names.fonts():
        warnings.simplefilter("always")
        figure = pictures.draw_mistakes(found, tmp_path / "m.png", 6, names.names)
    assert not [w for w in caught if "Glyph" in str(w.message)]
    titles = [ax.title for ax in figure.axes if ax.get_title()]
    assert len(titles) == 6
    assert CLASS_NAMES_KO[found.labels[0]] in titles[0].get_text()
    assert {_font_file(t) for t in titles} == {"NanumGothic.ttf"}


def test_without_a_hangul_font_the_picture_has_english_names_and_a_note(model, tmp_path, capsys,
                                                                         no_hangul_font):
    from fmnist_spec.tools.class_names import for_pictures

    names = for_pictures("ko")
    assert names.names == CLASS_NAMES and names.font_family is None
    out = tmp_path / "mistakes.png"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = main(["inspect", str(model), "--mistakes", "--class-names", "ko", "-o", str(out)])
        evaluated = main(["evaluate", str(model), "--class-names", "ko", "--confusion", str(tmp_path / "c.png")])
    err = capsys.readouterr().err
    assert status == evaluated == 0
    assert "note: no font with Hangul (NoSuchHangulFont) was found" in err
    assert "hint: install NanumGothic: 'sudo apt-get install fonts-nanum'" in err
    assert "Glyph" not in err and "Traceback" not in err
    assert not [w for w in caught if "Glyph" in str(w.message)]
    assert_real_png(out)
    assert_real_png(tmp_path / "c.png")
