"""Output paths are checked before any work starts (exit status 2, nothing made)."""

import subprocess

import pytest
from conftest import ROOT

from fmnist_spec.cli import main

SPEC = str(ROOT / "specs" / "relu_adam.yaml")


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a command gets as far as importing TensorFlow (its work starts there)."""
    from fmnist_spec.cli import commands

    def work_started():
        raise AssertionError("the work started before the output path was checked")

    monkeypatch.setattr(commands, "import_tensorflow_quietly", work_started)


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder on a read-only tmpfs (root ignores permission bits, not a read-only mount)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def _commands(place):
    """(argv, flag) for every output flag, writing into ``place``."""
    return [
        (["build", SPEC, "--save", f"{place}/m.keras"], "--save"),
        (["build", SPEC, "--plot", f"{place}/m.png"], "--plot"),
        (["codegen", SPEC, "-o", f"{place}/m.py"], "--output"),
        (["export", "model.keras", "-o", f"{place}/m.yaml"], "--output"),
        (["evaluate", "runs/x", "--confusion", f"{place}/cm.png"], "--confusion"),
        (["train", SPEC, "--out", f"{place}/run"], "--out"),
        (["train", SPEC, "--tensorboard", f"{place}/tb"], "--tensorboard"),
        (["compare", SPEC, "--out", f"{place}/cmp"], "--out"),
    ]


@pytest.mark.parametrize("index", range(8))
def test_a_read_only_folder_is_refused_before_the_work(index, read_only_dir, no_work, capsys):
    argv, flag = _commands(read_only_dir)[index]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} ") and "Read-only file system" in err, err


@pytest.mark.parametrize("index", range(5))
def test_a_missing_parent_folder_is_refused_before_the_work(index, tmp_path, no_work, capsys):
    argv, flag = _commands(tmp_path / "missing")[index]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} ") and "does not exist" in err and "hint: create it first" in err
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("index", range(5))
def test_a_folder_where_a_file_is_wanted_is_refused(index, tmp_path, no_work, capsys):
    argv, _ = _commands(tmp_path)[index]
    target = argv[-1]
    (tmp_path / target.rsplit("/", 1)[1]).mkdir()
    assert main(argv) == 2
    assert "is a directory; a file is wanted here" in capsys.readouterr().err


@pytest.mark.parametrize("index", range(5, 8))
def test_a_file_where_a_folder_is_wanted_is_refused(index, tmp_path, no_work, capsys):
    (tmp_path / "file").write_text("mine")
    argv, _ = _commands(tmp_path / "file")[index]
    assert main(argv) == 2
    assert "which is not a directory" in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "mine"


def test_an_existing_file_is_kept_unless_overwrite_is_given(tmp_path, capsys):
    script = tmp_path / "m.py"
    script.write_text("# my edits\n")
    assert main(["codegen", SPEC, "-o", str(script)]) == 2
    assert "exists already" in capsys.readouterr().err and script.read_text() == "# my edits\n"
    assert main(["codegen", SPEC, "-o", str(script), "--overwrite"]) == 0
    assert "keras.Sequential" in script.read_text()


def test_a_wrong_ending_is_refused(tmp_path, no_work, capsys):
    assert main(["build", SPEC, "--save", str(tmp_path / "m.h5")]) == 2
    assert "--save" in capsys.readouterr().err and not list(tmp_path.iterdir())
