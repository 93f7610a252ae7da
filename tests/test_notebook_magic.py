"""The notebook face in process: the magics on IPython's InteractiveShell (as jupysql's tests
do), the displays of the library's results, and the live progress callback on a real fit."""

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, write_fashion_dir
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import fmnist_spec as fs

VALID = """spec_version: 1
name: "<script>alert(1)</script> & 모델"
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 16, activation: relu}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 2, batch_size: 16}
data: {train_samples: 50}
"""

INVALID = """spec_version: 1
name: bad
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 0, activation: relu}
  - {units: 10, activation: softmaxx}
compile: {loss: sparse_categorical_crossentropy}
"""


def well_formed(html: str) -> ET.Element:
    """``html`` parsed as XML (every element closed, entities escaped), or the test fails."""
    return ET.fromstring(f"<root>{html}</root>")


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch):
    """Nothing a test runs may write into the repository (a run's default folder is ./runs)."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def shell():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "fmnist_spec")
    return shell


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    return write_fashion_dir(tmp_path_factory.mktemp("fashion"), n_train=60, n_test=20)


def run_cell(shell, text: str):
    result = shell.run_cell(text)
    return result


def test_load_ext_registers_the_line_and_cell_magic(shell):
    assert shell.find_cell_magic("fmnist_spec") is not None
    assert shell.find_line_magic("fmnist_spec") is not None


def test_an_invalid_cell_is_a_short_error_at_the_cells_line_and_column(shell, capsys):
    result = run_cell(shell, "%%fmnist_spec build --set fit.epochs=3 --style add\n" + INVALID)
    assert isinstance(result.error_in_exec, UsageError)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("UsageError") == 1 and err.count("layers[1].units") == 1  # nothing printed twice
    # line 1 is the body's first line, whatever the magic line holds
    assert "<cell>:5:13: layers[1].units: 0 is less than the minimum of 1" in err
    lines = err.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("      - {units: 0"))
    assert lines[i + 1] == "    " + " " * 12 + "^"  # the caret under column 13
    assert "<cell>:6:29: layers[2].activation" in err and "hint: did you mean 'softmax'?" in err


def test_validate_binds_a_problems_list_shown_as_a_table(shell):
    run_cell(shell, "%%fmnist_spec validate --as found\n" + INVALID)
    found = shell.user_ns["found"]
    assert isinstance(found, list) and isinstance(found, fs.Problems)
    assert [(p.line, p.column) for p in found] == [(5, 13), (6, 29)]
    root = well_formed(found._repr_html_())
    assert [th.text for th in root.iter("th")] == ["where", "what", "hint"]
    assert "      - {units: 10, activation: softmaxx}" in found.render()


def test_set_in_a_cell_is_located_at_the_set(shell):
    run_cell(shell, "%%fmnist_spec validate --set fit.epochs=0 --as found\n" + VALID)
    [problem] = shell.user_ns["found"]
    assert problem.location() == "--set fit.epochs=0:1:12"


def test_a_wrong_command_or_option_is_a_usage_error_with_a_hint(shell, capsys):
    assert isinstance(run_cell(shell, "%%fmnist_spec trian\n" + VALID).error_in_exec, UsageError)
    assert "did you mean 'train'?" in capsys.readouterr().err
    assert isinstance(run_cell(shell, "%%fmnist_spec train --epocks 3\n" + VALID).error_in_exec, UsageError)
    err = capsys.readouterr().err
    assert "unrecognized arguments: --epocks 3" in err and "Traceback" not in err


def test_the_line_magic_reads_spec_files(shell):
    found = shell.run_line_magic("fmnist_spec", f"validate {ROOT / 'specs' / 'relu_adam.yaml'}")
    assert found == [] and "no problems" in found._repr_html_()


def test_fs_validate_returns_problems_that_show_the_files_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(INVALID, encoding="utf-8")
    found = fs.validate(path)
    assert isinstance(found, fs.Problems) and found[0].line == 5
    assert "      - {units: 0, activation: relu}\n" in found.render()
    assert fs.validate(ROOT / "specs" / "relu_adam.yaml") == []


def test_a_spec_shows_its_resolved_yaml_escaped():
    spec = fs.parse_spec(VALID)
    root = well_formed(spec._repr_html_())
    assert "<script>" not in spec._repr_html_()
    text = "".join(root.itertext())
    assert "<script>alert(1)</script> & 모델" in text  # shown as text
    from fmnist_spec.notebook.displays import spec_text

    assert yaml.safe_load(spec_text(spec)) == spec.resolved()


def test_build_shows_keras_summary(shell):
    built = shell.run_cell("%%fmnist_spec build --as built\n" + VALID).result
    assert shell.user_ns["built"] is built
    assert built.model.count_params() == 784 * 16 + 16 + 16 * 10 + 10
    html = built._repr_html_()
    well_formed(html)
    assert "Total params" in repr(built) and "12,730" in html
    assert "<script>" not in html


@pytest.fixture(scope="module")
def trained(shell, fashion, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    result = shell.run_cell(f"%%fmnist_spec train --data-dir {fashion} --out {out} --as run\n" + VALID)
    assert result.success, result.error_in_exec
    return shell.user_ns["run"]


def test_train_binds_the_run_which_shows_figures_and_curves(trained):
    assert trained.metrics.status == "finished" and trained.metrics.epochs_finished == 2
    html = trained._repr_html_()
    root = well_formed(html)
    assert [th.text for th in root.iter("th")][:1] == ["split"]
    assert [td.text for td in root.iter("td") if td.text in ("train", "validation", "test")] == \
        ["train", "validation", "test"]
    [img] = list(root.iter("img"))
    assert img.get("src").startswith("data:image/png;base64,iVBORw0KGgo")  # a PNG
    text = "\n".join(InteractiveShell.instance().display_formatter.format(trained)[0]["text/plain"].splitlines())
    assert re.search(r"  validation accuracy \d\.\d{4}, loss \d", text)


def test_training_into_a_finished_run_is_a_short_error_with_its_hint(shell, trained, fashion, capsys):
    result = shell.run_cell(f"%%fmnist_spec train --data-dir {fashion} --out {trained.out_dir}\n" + VALID)
    assert isinstance(result.error_in_exec, UsageError)
    err = capsys.readouterr().err
    assert "overwrite" in err and "Traceback" not in err


def test_a_comparison_shows_its_table_escaped(trained):
    from fmnist_spec.tools.compare import COLUMNS, CompareResult, row

    spec = fs.parse_spec(VALID)
    result = CompareResult([row(spec, trained.metrics, trained.out_dir, False)], {}, trained.out_dir)
    root = well_formed(result._repr_html_())
    assert [th.text for th in root.iter("th")] == list(COLUMNS[:-1])
    assert "<script>alert(1)</script> & 모델" in "".join(root.itertext())


def test_the_progress_display_is_one_display_updated_in_place():
    import keras
    import numpy as np

    from fmnist_spec.notebook.progress import live_progress

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj._repr_mimebundle_()))

    def display(obj, display_id=False):
        assert display_id is True
        shown.append(("display", obj._repr_mimebundle_()))
        return Handle()

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.zeros((32, 4), "float32"), np.zeros((32,), "int32"), epochs=3, batch_size=8, verbose=0,
              callbacks=[live_progress("demo <run>", display=display)])
    assert [kind for kind, _ in shown].count("display") == 1 and shown[0][0] == "display"
    last = shown[-1][1]
    assert last["text/plain"].startswith("demo <run>: 3/3 epochs in ")
    assert "accuracy" in last["text/plain"] and "loss" in last["text/plain"]
    for _, bundle in shown:
        assert not re.search(r"\x1b\[|\x08|\r", bundle["text/plain"])
        well_formed(bundle["text/html"])
        assert "demo &lt;run&gt;" in bundle["text/html"]
    assert any("left" in bundle["text/plain"] for _, bundle in shown[1:-1])  # time left while it runs


def test_outside_a_kernel_nothing_changes():
    from fmnist_spec.notebook.progress import in_kernel

    assert not in_kernel()  # an InteractiveShell is not a kernel: Keras's own output stays
    code = ("import sys, fmnist_spec as fs; fs.validate('specs/relu_adam.yaml'); "
            "print('IPython' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_caret_counts_wide_characters_twice():
    from fmnist_spec.errors import caret_excerpt

    # the 'x' is character 10; before it 6 narrow, 2 wide (two cells each) and 1 narrow character
    assert caret_excerpt("name: 모델 x", 10, "") == "name: 모델 x\n" + " " * 11 + "^"
    assert caret_excerpt("\tunits: 0", 9, "  ") == "  \tunits: 0\n  \t       ^"


SEARCH = VALID.replace("  - {units: 16, activation: relu}\n",
                       "  - {units: 16, activation: relu}\n  - {type: Dropout, rate: 0.3}\n") \
    .replace("fit: {epochs: 2, batch_size: 16}", "fit: {epochs: 2, batch_size: 25}") + """seed: 3
search:
  sampler: grid
  pruner: none
  space:
    compile.optimizer: {choices: [sgd, adam]}
    layers[2].rate: {choices: [0.1, 0.3]}
"""


@pytest.fixture(scope="module")
def searched(shell, fashion, tmp_path_factory):
    out = tmp_path_factory.mktemp("search") / "s"
    result = shell.run_cell(f"%%fmnist_spec search --data-dir {fashion} --out {out} --trials 2 --epochs 1 "
                            f"--set fit.batch_size=50 --as found\n" + SEARCH)
    assert result.success, result.error_in_exec
    return shell.user_ns["found"]


def test_a_search_cell_binds_the_result_with_the_clis_options(searched):
    assert searched.settled == searched.trained == 2 and searched.n_trials == 2
    assert [r["epochs"] for r in searched.rows] == [1, 1]  # --epochs 1
    assert yaml.safe_load(searched.best_yaml.read_text())["fit"]["batch_size"] == 50  # --set


def test_a_search_shows_its_leaderboard_best_values_and_history_escaped(searched):
    html = searched._repr_html_()
    root = well_formed(html)
    paths = list(searched.rows[0]["values"])
    assert paths == ["compile.optimizer", "layers[2].rate"]
    assert [th.text for th in root.find(".//table").iter("th")] == \
        ["#", "trial", *paths, "val_accuracy", "state", "epochs", "seconds"]
    cells = [[td.text for td in tr.iter("td")] for tr in root.find(".//table").find("tbody")]
    for row, cell in zip(searched.rows, cells):
        assert cell[2:4] == [row["values"][p] for p in paths]  # the values as written
        assert cell[4] == f"{row['val_accuracy']:.4f}" and cell[5] == "complete" and cell[6] == "1"
        assert re.fullmatch(r"\d+\.\d", cell[7])
    text = "".join(root.itertext())
    assert f"best.yaml: {searched.best_yaml}" in text and f"trial {searched.best_number}" in text
    [img] = list(root.iter("img"))
    assert img.get("alt") == "optimization history" and img.get("src").startswith("data:image/png;base64,iVBOR")
    assert "<script>" not in html  # the spec's name is in the study's name only as graph-safe text
    plain = InteractiveShell.instance().display_formatter.format(searched)[0]["text/plain"]
    assert plain.splitlines()[0].split() == ["#", "trial", *paths, "val_accuracy", "state", "epochs", "seconds"]
    assert f"best.yaml: {searched.best_yaml}" in plain


def test_a_search_without_history_picture_shows_none(searched, tmp_path):
    import dataclasses

    html = dataclasses.replace(searched, pictures=[], rows=[], best_number=None)._repr_html_()
    root = well_formed(html)
    assert not list(root.iter("img")) and "no trial completed" in "".join(root.itertext())


def test_a_bad_search_section_is_located_in_the_cell(shell, capsys):
    bad = SEARCH.replace("{choices: [sgd, adam]}", "{choices: [sgd, adamm]}")
    result = shell.run_cell("%%fmnist_spec search --trials 2\n" + bad)
    assert isinstance(result.error_in_exec, UsageError)
    err = capsys.readouterr().err
    line = bad.splitlines().index("    compile.optimizer: {choices: [sgd, adamm]}") + 1
    assert re.search(rf"<cell>:{line}:\d+: ", err), err
    assert "hint:" in err and "Traceback" not in err
    assert not (Path.cwd() / "runs").exists()  # nothing written


def test_a_spec_file_without_search_is_a_short_error_by_the_line_magic(shell, capsys):
    result = shell.run_cell(f"%fmnist_spec search {ROOT / 'specs' / 'relu_adam.yaml'} --workers 1 --as x")
    assert isinstance(result.error_in_exec, UsageError)
    err = capsys.readouterr().err
    assert "no search section" in err and "hint: add search:" in err and "Traceback" not in err
    assert "x" not in shell.user_ns


def test_search_progress_is_one_display_updated_in_place(fashion, tmp_path):
    """run_search tells a SearchProgress every trial and epoch: one display, then updates."""
    from fmnist_spec.notebook.progress import SearchProgress
    from fmnist_spec.search import run_search

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(obj._repr_mimebundle_())

    def display(obj, display_id=False):
        assert display_id is True and not shown
        shown.append(obj._repr_mimebundle_())
        return Handle()

    progress = SearchProgress("demo <search>", display=display)
    lines = []
    spec = fs.parse_spec(SEARCH, overrides=["fit.epochs=2"])
    run_search(spec, out=tmp_path / "s", n_trials=2, data_dir=fashion, progress=progress,
               echo=lambda line: (lines.append(line), progress.echo(line)))
    texts = [bundle["text/plain"] for bundle in shown]
    assert any(re.search(r"\ntrial 0 \(compile\.optimizer=\w+ layers\[2\]\.rate=0\.\d\): epoch 2/2", t) for t in texts)
    assert any(t.startswith("demo <search>: 1/2 trials, best val_accuracy ") for t in texts)
    assert texts[-1].startswith("demo <search>: 2/2 trials settled, best val_accuracy ")
    assert texts[-1].splitlines()[-1] == "last: " + " ".join(lines[-1].split())
    for bundle in shown:
        assert not re.search(r"\x1b\[|\x08|\r", bundle["text/plain"])
        assert "demo &lt;search&gt;" in bundle["text/html"]
        well_formed(bundle["text/html"])
