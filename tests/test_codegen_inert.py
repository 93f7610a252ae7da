"""codegen and export write inert code: hostile names and paths are text in the script, never code.

Every string of a spec (the model's name, layer names, checkpoint paths, the spec's own file
name) reaches the generated script as a literal; the script parses, holds exactly the statements
and calls a plain spec's script holds, and gives every string back exactly.
"""

import ast
import copy
import functools
import os
import subprocess
import sys

import pytest
import yaml
from conftest import write_fashion_dir
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st

from fmnist_spec import SpecError, parse_spec
from fmnist_spec.language.names import graph_name
from fmnist_spec.tools.codegen import generate

PIECES = ['"', "'", '"""', "'''", "\\", "\\N", "\\x00", "\n", "\r", "\r\n", "\t", "\x0c", "\x85", "\u2028",
          "\x00", "\ud7a5", "패션", "#", ";", ")", "]", "\\'", '\\"', "__import__('os').system('id')",
          "{", "}", "%s", "é", "\U0001f600", " "]
"""Fragments that break naive code generation: quotes, escapes, line breaks, NUL, code, braces."""

HOSTILE = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), min_size=1, max_size=12).map(
    "".join).filter(lambda s: 1 <= len(s) <= 150)

LAYER_NAME = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")  # the schema's pattern for layer names

NAMES = ['x"""; __import__("os").system("touch PWNED"); """', "C:\\New models", "C:\\\\x", 'ends in "',
         "a'b\"c\n\r\x0b\u2028패션", "\\", '"""', "'''"]
"""The issue's names and a few more, checked as examples besides the generated ones."""


def spec_data(name: str | None, filepath: str, layer_names: tuple) -> dict:
    """A spec with a named model, named layers and a ModelCheckpoint: every free string codegen writes."""
    data = {"spec_version": 1, "seed": 3,
            "layers": [{"type": "Flatten", "input_shape": [28, 28], "name": layer_names[0]},
                       {"units": 12, "activation": "relu", "name": layer_names[1]},
                       {"units": 10, "activation": "softmax", "name": layer_names[2]}],
            "compile": {"optimizer": {"type": "SGD", "learning_rate": 0.05}, "loss": "sparse_categorical_crossentropy",
                        "metrics": ["accuracy"]},
            "fit": {"epochs": 1, "batch_size": 8,
                    "callbacks": [{"type": "ModelCheckpoint", "filepath": filepath, "save_best_only": True}]},
            "data": {"train_samples": 40, "validation": {"test_size": 0.25, "random_state": 1}}}
    if name is not None:
        data["name"] = name
    return data


def _spec(data: dict):
    return parse_spec(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "hostile.yaml")


def _shape(tree: ast.AST) -> str:
    """The tree with every string constant blanked: what the script does, without its texts."""
    class Blank(ast.NodeTransformer):
        def visit_Constant(self, node):
            return ast.Constant("") if isinstance(node.value, str) else node
    return ast.dump(Blank().visit(copy.deepcopy(tree)))


def _call_names(tree: ast.AST) -> set[str]:
    """Dotted names of every called function: ``keras.layers.Dense``, ``model.fit``, ``print``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            names.add(ast.unparse(node.func))
    return names


def _keyword_values(tree: ast.AST, keyword: str, func_suffix: str = "") -> list:
    return [ast.literal_eval(k.value) for node in ast.walk(tree) if isinstance(node, ast.Call)
            and ast.unparse(node.func).endswith(func_suffix) for k in node.keywords if k.arg == keyword]


def _layer_names(tree: ast.AST) -> list:
    """The ``name=`` of every ``keras.layers.X(...)`` call, in the script's order."""
    calls = sorted((node for node in ast.walk(tree) if isinstance(node, ast.Call)
                    and ast.unparse(node.func).startswith("keras.layers.")), key=lambda n: (n.lineno, n.col_offset))
    return [ast.literal_eval(k.value) for node in calls for k in node.keywords if k.arg == "name"]


def _checkpoint_paths(tree: ast.AST) -> list:
    return [ast.literal_eval(node.args[0]) for node in ast.walk(tree) if isinstance(node, ast.Call)
            and ast.unparse(node.func) == "keras.callbacks.ModelCheckpoint"]


@functools.cache
def _plain(unnamed: bool, style: str) -> ast.AST:
    """The script of the same spec with plain strings."""
    spec = _spec(spec_data(None if unnamed else "plain", "ckpt.keras", ("a", "b", "c")))
    return ast.parse(generate(spec, style, source="plain.yaml"))


def check_inert(name: str | None, filepath: str, layer_names: tuple, source: str, style: str) -> None:
    """Generate the script of the hostile spec and of a plain one of the same build; compare.

    The strings the script must give back are the spec's, as read from its YAML text (PyYAML
    reads a NEL, U+0085, written raw as a line break, so a few differ from the Python strings dumped).
    """
    spec = _spec(spec_data(name, filepath, layer_names))
    name, filepath = spec.name if name is not None else None, spec.callbacks[0].arguments["filepath"]
    script = generate(spec, style, source=source)
    tree = ast.parse(script)  # raises SyntaxError when a string broke out of its literal
    compile(script, "generated.py", "exec")
    plain = _plain(name is None, style)
    assert _shape(tree) == _shape(plain)  # the same statements, calls and arguments, only other texts
    assert _call_names(tree) == _call_names(plain)
    assert not {"__import__", "eval", "exec", "system"} & {
        n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(tree) if isinstance(n, (ast.Name, ast.Attribute))}
    title = name if name is not None else os.path.splitext(os.path.basename(source))[0]
    assert ast.get_docstring(tree, clean=False).startswith(
        f"{title}: the Keras script of {os.path.basename(source)}.\n\nGenerated by fmnist-spec ")
    if name is not None:
        assert _keyword_values(tree, "name", "Sequential") == [graph_name(name)]
    assert _layer_names(tree) == list(layer_names)
    assert _checkpoint_paths(tree) == [filepath]


@settings(max_examples=150, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate), suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(name=HOSTILE, fragment=HOSTILE, source=HOSTILE, layer_names=st.tuples(LAYER_NAME, LAYER_NAME, LAYER_NAME),
       style=st.sampled_from(["list", "add"]))
def test_hostile_strings_stay_text_in_the_generated_script(name, fragment, source, layer_names, style):
    if len(set(layer_names)) < 3:
        reject()
    filepath = "ckpt " + fragment.replace("/", "_").replace("{", "(").replace("}", ")") + ".keras"
    try:
        check_inert(name, filepath, layer_names, source.replace("/", "_").replace("\x00", "") + ".yaml", style)
    except SpecError:
        reject()  # a string the spec language refuses (a NUL in the name) never reaches codegen


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("style", ["list", "add"])
def test_the_issue_names_give_scripts_that_parse_and_keep_the_name(name, style):
    check_inert(name, "ckpt " + name.replace("\x00", "").replace("/", "_") + ".keras", ("a", "b", "c"),
                name.replace("/", "_").replace("\x00", "") + ".yaml", style)


def test_a_nul_in_the_model_name_is_refused_before_codegen():
    with pytest.raises(SpecError, match="holds the NUL character"):
        _spec(spec_data("fashion\x00model", "ckpt.keras", ("a", "b", "c")))


def test_a_spec_without_a_name_takes_its_title_from_a_hostile_file_name():
    check_inert(None, "ckpt.keras", ("a", "b", "c"), 'evil"""; __import__("os").system("id"); """.yaml', "list")


def test_running_the_script_of_a_hostile_name_runs_no_command(tmp_path):
    marker = tmp_path / "PWNED"
    name = f'x"""; __import__("os").system("touch {marker}"); """'
    data = spec_data(name, "ckpt.keras", ("a", "b", "c"))
    script = tmp_path / "hostile.py"
    script.write_text(generate(_spec(data), "list"), encoding="utf-8")
    env = {**os.environ, "FASHION_MNIST_DIR": str(write_fashion_dir(tmp_path / "fashion")),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not marker.exists()
    assert (tmp_path / "ckpt.keras").is_file()  # it trained and wrote the checkpoint the spec asked for


# --- a name arriving from a foreign .keras through export, then codegen

EXPORT_NAMES = ['x"""; __import__("os").system("id"); """', "C:\\New models", "a'b\"c\n\r\u2028패션 {epoch}",
                "name\nlayers: []\n"]
"""Keras refuses '/' in names and h5py NUL, so a saved model cannot hold those."""


@pytest.mark.parametrize("name", EXPORT_NAMES)
def test_a_hostile_name_from_a_keras_file_is_exported_and_generated_as_text(tmp_path, name):
    import keras

    from fmnist_spec.tools.export import export_text

    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(name="flat"),
                              keras.layers.Dense(10, activation="softmax", name="out")], name=name)
    path = tmp_path / "model\nname: injected\n.keras"  # a line break in the file name, too
    model.save(path)
    text, _ = export_text(path)
    spec = parse_spec(text, "exported.yaml")
    assert spec.name == name and yaml.safe_load(text)["name"] == name
    assert [line for line in text.splitlines() if line.startswith("name")] == [text.splitlines()[2]]
    tree = ast.parse(generate(spec, "list", source="exported.yaml"))
    assert ast.get_docstring(tree, clean=False).startswith(f"{name}: the Keras script of exported.yaml.\n\n")
    assert _keyword_values(tree, "name", "Sequential") == [graph_name(name)]
    assert _layer_names(tree) == ["flat", "out"]
    assert not {"__import__", "system"} & {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}



@pytest.mark.parametrize("stem", NAMES + ['evil"""; __import__("os").system("id"); """'])
def test_the_search_script_of_a_hostile_file_name_keeps_the_name_as_text(stem):
    """codegen of a search spec named its file in the docstring without escaping it: a file name
    holding triple quotes ended the docstring and ran its code."""
    from test_codegen_search import SPEC as SEARCH_SPEC

    from fmnist_spec.tools.codegen_search import generate_search

    source = stem.replace("/", "_").replace("\x00", "") + ".yaml"
    tree = ast.parse(generate_search(parse_spec(SEARCH_SPEC, source), "list"))
    assert not {"__import__", "eval", "exec", "system"} & {
        n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(tree) if isinstance(n, (ast.Name, ast.Attribute))}
    assert ast.get_docstring(tree, clean=False).startswith(
        f"{os.path.splitext(source)[0]}: the Keras + Optuna script of the search of {source}.\n\nGenerated by ")
