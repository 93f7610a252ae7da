import numpy as np
import pytest

from conftest import ROOT
from fmnist_spec.cli import main
from fmnist_spec.running.plots import confusion_matrix, confusion_png, learning_curves
from png_check import assert_real_png

HISTORY = {"loss": [0.9, 0.6, 0.5], "accuracy": [0.70, 0.80, 0.83],
           "val_loss": [0.7, 0.6, 0.62], "val_accuracy": [0.75, 0.79, 0.80]}


def test_learning_curves_draw_loss_and_accuracy_panels(tmp_path):
    learning_curves({"run": HISTORY}, tmp_path / "both.png")
    only_loss = {k: v for k, v in HISTORY.items() if "loss" in k}
    learning_curves({"run": only_loss}, tmp_path / "loss.png")
    wide, _ = assert_real_png(tmp_path / "both.png", min_bytes=20_000)
    narrow, _ = assert_real_png(tmp_path / "loss.png", min_bytes=10_000)
    assert wide == 2 * narrow  # one panel per metric
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_overlaid_curves_differ_from_a_single_run(tmp_path):
    other = {k: [v + 0.05 for v in values] for k, values in HISTORY.items()}
    learning_curves({"a": HISTORY}, tmp_path / "one.png")
    learning_curves({"a": HISTORY, "b": other}, tmp_path / "two.png")
    assert assert_real_png(tmp_path / "two.png") == assert_real_png(tmp_path / "one.png")
    assert (tmp_path / "one.png").read_bytes() != (tmp_path / "two.png").read_bytes()


def test_confusion_matrix_counts_true_rows_and_predicted_columns(tmp_path):
    labels = np.array([0, 0, 1, 9, 9, 9])
    predicted = np.array([0, 6, 1, 9, 7, 9])
    matrix = confusion_matrix(labels, predicted)
    assert matrix.shape == (10, 10) and matrix.sum() == 6
    assert matrix[0, 0] == 1 and matrix[0, 6] == 1 and matrix[9, 9] == 2 and matrix[9, 7] == 1
    confusion_png(matrix, tmp_path / "cm.png")
    assert assert_real_png(tmp_path / "cm.png", min_bytes=20_000) == (800, 700)


def test_build_plot_draws_the_model(tmp_path, capsys):
    assert main(["build", str(ROOT / "specs" / "relu_flatten.yaml"), "--plot", str(tmp_path / "m.png")]) == 0
    assert f"drew {tmp_path / 'm.png'}" in capsys.readouterr().out
    assert_real_png(tmp_path / "m.png", min_bytes=10_000, min_width=200)


def test_build_plot_without_graphviz_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("fmnist_spec.running.plots.shutil.which", lambda name: None)
    assert main(["build", str(ROOT / "specs" / "relu_flatten.yaml"), "--plot", str(tmp_path / "m.png")]) == 1
    err = capsys.readouterr().err
    assert "Graphviz's 'dot' program was not found on PATH" in err
    assert "sudo apt-get install graphviz" in err and "Traceback" not in err
    assert not (tmp_path / "m.png").exists()


@pytest.mark.parametrize("bad", ["model.jpg", "no/such/dir/m.png"])
def test_build_plot_refuses_bad_paths_with_status_2(bad, tmp_path):
    assert main(["build", str(ROOT / "specs" / "relu_flatten.yaml"), "--plot", str(tmp_path / bad)]) == 2


def test_the_suffix_picks_the_format(tmp_path):
    confusion_png(np.eye(10, dtype=int), tmp_path / "cm.svg")
    assert (tmp_path / "cm.svg").read_text().lstrip().startswith("<?xml")
