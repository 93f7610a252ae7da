"""The textbook's lessons as notebooks (notebooks/*.ipynb), executed with nbclient on a real
ipykernel on a slice of Fashion-MNIST, and the live progress display of a 20-epoch fit.

The kernel is this interpreter, declared in a temporary JUPYTER_PATH (nothing is written to
the repository or the home directory); the notebooks run in a temporary folder, so their run
folders land there. Every output is checked: no error, no traceback, no terminal control
sequence (ANSI ``ESC[``, backspaces, carriage returns), every HTML output well-formed.
"""

import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "fmnist-spec-test"
CONTROL = re.compile(r"\x1b\[|\x08|\r(?!\n)")
"""What a terminal progress bar writes: ANSI escapes, backspaces, a carriage return not ending a line."""


@pytest.fixture
def kernel(tmp_path_factory, monkeypatch):
    """A kernel spec of this interpreter in a temporary JUPYTER_PATH; the kernel imports this checkout."""
    folder = tmp_path_factory.mktemp("jupyter")
    spec_dir = folder / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        # without pytest's PYTEST_CURRENT_TEST, which makes ipykernel leave descriptors 1 and 2 alone
        # (iostream.OutStream): as in Jupyter and Colab, what C++ writes there is the cell's output
        "argv": ["env", "-u", "PYTEST_CURRENT_TEST", sys.executable, "-m", "ipykernel_launcher",
                 "-f", "{connection_file}"],
        "display_name": "fmnist-spec tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("FMNIST_SPEC_NOTEBOOK_SLICE", "300")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    return KERNEL


def execute(nb, cwd: Path, kernel: str, timeout: int = 240):
    """Run every cell of ``nb`` in ``cwd``; a cell that raises fails the test (nbclient's CellExecutionError)."""
    NotebookClient(nb, kernel_name=kernel, timeout=timeout, resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def output_texts(output) -> list:
    """Every text an output carries (stream text, each MIME type's data, traceback lines)."""
    texts = [output.get("text", "")] + list(output.get("traceback", []))
    for value in output.get("data", {}).values():
        texts.append(value if isinstance(value, str) else json.dumps(value))
    return texts


def problems_of(nb) -> list:
    """What is wrong with the outputs of an executed notebook (empty: nothing)."""
    found = []
    for n, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            where = f"cell {n} ({cell.source.splitlines()[0][:60]!r})"
            if output.output_type == "error":
                found.append(f"{where}: error output {output.ename}: {output.evalue}")
            for text in output_texts(output):
                if "Traceback" in text:
                    found.append(f"{where}: a traceback: {text[:300]!r}")
                if CONTROL.search(text):
                    found.append(f"{where}: terminal control sequences: {text[:300]!r}")
            html = output.get("data", {}).get("text/html")
            if html is not None:
                try:
                    ET.fromstring(f"<root>{html}</root>")
                except ET.ParseError as exc:
                    found.append(f"{where}: HTML not well-formed ({exc}): {html[:300]!r}")
    return found


def test_the_lesson_notebooks_are_stored_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["7-2.ipynb", "7-3.ipynb", "8-2.ipynb", "8-3.ipynb"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path.name
        assert "%pip install" in code[0].source and "find_spec(\"fmnist_spec\") is None" in code[0].source
        assert "parameters" in code[1].metadata.get("tags", [])
        assert any(c.source.startswith("%%fmnist_spec ") for c in code), path.name


def test_problems_of_sees_ansi_tracebacks_and_broken_html():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1/5 \x1b[32m━━\x1b[0m\r2/5"),
                    nbformat.v4.new_output("display_data", data={"text/html": "<div><b>x</div>"}),
                    nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["Traceback ..."])]
    nb.cells = [cell]
    found = problems_of(nb)
    assert any("control sequences" in f for f in found)
    assert any("not well-formed" in f for f in found)
    assert any("error output" in f for f in found)


def check_lesson(nb) -> None:
    """No bad output; every trained run and every picture shows itself inline."""
    assert problems_of(nb) == []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        html = [o.data["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})]
        if cell.source.startswith("%%fmnist_spec train"):  # the run: figures table and learning curves
            assert any("data:image/png;base64," in h and "validation" in h for h in html), cell.source[:80]
        if cell.source.startswith("%%fmnist_spec build"):  # Keras's summary, and no empty display
            assert [o.output_type for o in cell.outputs] == ["execute_result"], cell.outputs
            assert "Total params" in cell.outputs[0].data["text/plain"]
        if cell.source.startswith("%%fmnist_spec search"):  # one progress display, then the leaderboard
            assert [o.output_type for o in cell.outputs] == ["display_data", "execute_result"], cell.outputs
            assert "trials settled" in cell.outputs[0].data["text/plain"]
            assert "leaderboard (maximize val_accuracy)" in html[-1] and "best.yaml: " in html[-1]
        if cell.source.startswith("%fmnist_spec inspect"):
            assert any("data:image/png;base64," in h for h in html), cell.source[:80]


@pytest.mark.parametrize("name", ["7-2", "7-3"])
def test_lesson_notebook_runs_cleanly_on_a_real_kernel(name, kernel, tmp_path):
    nb = execute(nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4), tmp_path, kernel)
    check_lesson(nb)
    assert len(list((tmp_path / "runs").iterdir())) >= 3


def test_lessons_8_2_and_8_3_run_cleanly_one_after_the_other(kernel, tmp_path):
    """8-3 looks inside the CNN 8-2 trained (runs/8-2-cnn), as the lesson loads 8-2's best model."""
    for name in ("8-2", "8-3"):
        nb = execute(nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4), tmp_path, kernel)
        check_lesson(nb)
    assert (tmp_path / "runs" / "8-2-cnn" / "model.keras").is_file()
    assert (tmp_path / "runs" / "8-2-confusion.png").is_file()


TWENTY_EPOCHS = """%%fmnist_spec train --out 'runs/<twenty>' --as run
spec_version: 1
name: twenty <epochs>
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 20}
data: {train_samples: 100}
"""


def test_a_twenty_epoch_fit_leaves_at_most_three_outputs_in_its_cell(kernel, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext fmnist_spec"), nbformat.v4.new_code_cell(TWENTY_EPOCHS),
                nbformat.v4.new_code_cell("print(run.metrics.epochs_finished)")]
    execute(nb, tmp_path, kernel)
    assert problems_of(nb) == []
    outputs = nb.cells[1].outputs
    assert len(outputs) <= 3, [o.output_type for o in outputs]
    progress = [o for o in outputs if o.output_type == "display_data"]
    assert len(progress) == 1  # one display, updated in place: it ends saying 20/20
    assert "20/20 epochs" in progress[0].data["text/plain"]
    assert "&lt;twenty&gt;: finished, 20 of 20 epochs" in outputs[-1].data["text/html"]  # the run, escaped
    assert nb.cells[2].outputs[0].text == "20\n"


SEARCH_20_EPOCHS = """%%fmnist_spec search --out 'runs/<ten>' --as found
spec_version: 1
name: ten <trials>
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 8, activation: relu}
  - {type: Dropout, rate: 0.3}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 20, batch_size: 50}
data: {train_samples: 100}
seed: 7
search:
  sampler: grid
  pruner: none
  space:
    compile.optimizer: {choices: [sgd, adam]}
    layers[2].rate: {choices: [0.1, 0.2, 0.3, 0.4, 0.5]}
"""


def output_lines(output) -> int:
    """The lines an output entry shows: its stream text, or its longest representation."""
    texts = [output.get("text", "")] + [v for v in output.get("data", {}).values() if isinstance(v, str)]
    return max(len(text.splitlines()) for text in texts)


def test_a_ten_trial_twenty_epoch_search_is_one_display_and_at_most_fifty_lines(kernel, tmp_path):
    """The notebook figure (at most 50 lines), on 100 images with 1 worker (about 2 minutes): the study's one display updated
    in place, then the leaderboard. The spec's seed would make TensorFlow print its E0000 line: left out."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext fmnist_spec"), nbformat.v4.new_code_cell(SEARCH_20_EPOCHS),
                nbformat.v4.new_code_cell("print(found.settled, found.rows[0]['epochs'])")]
    execute(nb, tmp_path, kernel, timeout=360)
    assert problems_of(nb) == []
    outputs = nb.cells[1].outputs
    print("lines per output:", [(o.output_type, output_lines(o)) for o in outputs])
    assert sum(map(output_lines, outputs)) <= 50, [(o.output_type, output_lines(o)) for o in outputs]
    assert not any(o.output_type == "stream" for o in outputs), outputs  # no line per trial or epoch
    progress = [o for o in outputs if o.output_type == "display_data"]
    assert len(progress) == 1 and progress[0].data["text/plain"].startswith("<ten>: 10/10 trials settled, best val_accuracy ")
    html = outputs[-1].data["text/html"]
    assert "leaderboard (maximize val_accuracy)" in html and "data:image/png;base64," in html
    assert nb.cells[2].outputs[0].text == "10 20\n"
    assert not any("E0000" in text or "use_unbounded_threadpool" in text
                   for cell in nb.cells for o in cell.outputs for text in output_texts(o))


SEEDED = """import fmnist_spec as fs
spec = fs.parse_spec('''spec_version: 1
name: seeded
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 1}
data: {train_samples: 100}
seed: 1
''')
run = fs.train(spec, out="runs/seeded")
run.metrics.status"""


@pytest.mark.parametrize("logs", ["", "1"])
def test_fs_train_of_a_seeded_spec_leaves_no_tensorflow_error_line_in_a_kernel(kernel, tmp_path, monkeypatch, logs):
    """TensorFlow's C++ writes ``E0000 ... use_unbounded_threadpool`` to descriptor 2 when a seeded fit
    starts; fs.train in a kernel filters it (compat.filtered_stderr). With FMNIST_SPEC_TENSORFLOW_LOGS=1,
    which turns the filter off, the line is there: the check sees it."""
    monkeypatch.setenv("FMNIST_SPEC_TENSORFLOW_LOGS", logs)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SEEDED)]
    execute(nb, tmp_path, kernel)
    texts = [text for o in nb.cells[0].outputs for text in output_texts(o)]
    assert nb.cells[0].outputs[-1].data["text/plain"] == "'finished'"
    assert any("use_unbounded_threadpool" in text for text in texts) == (logs == "1"), texts
