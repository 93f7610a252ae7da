"""Editors: the real yaml-language-server (as VS Code's YAML extension runs it) and check-jsonschema
on the spec schema. See docs/editors.md.

The language server is installed by scripts/setup.sh into .tools/; these tests are skipped only
when Node.js is missing (setup.sh could not install it). Nothing is written into the repository:
every document the server sees lives under tmp_path.
"""

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import BAD_SPECS, ROOT, SPECS
from yaml_lsp import POSITIONS, SERVER, YamlLanguageServer, completion_labels, default_settings

from fmnist_spec.errors import SpecError
from fmnist_spec.language.registry import OPTIMIZER_CLASSES
from fmnist_spec.language.schema import default, default_optimizer, schema
from fmnist_spec.language.schema_errors import schema_problems
from fmnist_spec.source.yaml_source import read_source

SCHEMA = ROOT / "schemas" / "model-spec.schema.json"
EVERY_KEY = Path(__file__).parent / "editor_specs" / "every_key.yaml"
DIFFERENT_IN_EDITORS = {
    "batch_size_float.yaml": "JSON Schema counts 32.0 as an integer; fmnist-spec's validator does not "
                             "(schema.StrictValidator), so only `fmnist-spec validate` reports it",
}


def _node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed and scripts/setup.sh could not install it "
                    "(Debian packages nodejs, npm); the editor tests need it to run yaml-language-server")
    if not SERVER.exists():
        pytest.fail(f"yaml-language-server is not installed at {SERVER.parent}: run `bash scripts/setup.sh`")
    return node


def _workspace_schemas() -> dict:
    """The ``yaml.schemas`` setting the repository ships for VS Code."""
    return json.loads((ROOT / ".vscode" / "settings.json").read_text("utf-8"))["yaml.schemas"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A copy of the repository's schema and editor settings: the folder the editor has open."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "schemas", root / "schemas")
    shutil.copytree(ROOT / ".vscode", root / ".vscode")
    return root


@pytest.fixture(scope="module")
def server(workspace):
    node = _node_or_skip()
    language_server = YamlLanguageServer(workspace, default_settings(_workspace_schemas()), node=node)
    yield language_server
    language_server.close()


def _open(server, path: Path, text: str) -> list:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    diagnostics = server.open(path, text)
    return diagnostics


def _lines(diagnostics) -> list[int]:
    """1-based lines of the diagnostics."""
    return sorted(d["range"]["start"]["line"] + 1 for d in diagnostics)


# --- the shipped specs ------------------------------------------------------------------------
@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_shipped_spec_has_no_diagnostics_in_the_language_server(server, workspace, path):
    assert _open(server, workspace / "specs" / path.name, path.read_text("utf-8")) == []


@pytest.mark.parametrize("where", ["specs", ".", "experiments/2024/today"])
def test_spec_copied_anywhere_in_the_repository_keeps_its_schema(server, workspace, where):
    text = (ROOT / "specs" / "relu_adam.yaml").read_text("utf-8")
    line = text.splitlines().index("  optimizer: adam") + 1
    folder = workspace / where
    assert _open(server, folder / "copy.yaml", text) == []
    broken = _open(server, folder / "broken.yaml", text.replace("optimizer: adam", "optimizer: adamw"))
    assert _lines(broken) == [line], broken
    assert "adam" in [item["label"] for item in server.completion(folder / "copy.yaml", line - 1, 13)]


def test_every_key_fixture_has_no_diagnostics(server, workspace):
    assert _open(server, workspace / "every_key.yaml", EVERY_KEY.read_text("utf-8")) == []


# --- the bad specs ----------------------------------------------------------------------------
def _expectation(path):
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    json_path, position, _ = first[len("# expect: "):].split(" ", 2)
    line, column = (int(n) for n in position.split(":"))
    return ("" if json_path == "(root)" else json_path), line, column


def _schema_level(path) -> bool:
    """Whether the bad spec's pinned problem is a schema error (what an editor can know)."""
    try:
        source = read_source(path)
    except SpecError:
        return False  # YAML-level: not the schema's
    return _expectation(path) in {(p.path, p.line, p.column) for p in schema_problems(source)}


SCHEMA_LEVEL_BAD_SPECS = [p for p in BAD_SPECS if _schema_level(p)]


def test_most_bad_specs_are_schema_errors_an_editor_can_show():
    assert len(SCHEMA_LEVEL_BAD_SPECS) >= 50


@pytest.mark.parametrize("path", SCHEMA_LEVEL_BAD_SPECS, ids=[p.name for p in SCHEMA_LEVEL_BAD_SPECS])
def test_bad_spec_has_a_diagnostic_on_its_line(server, workspace, path):
    if path.name in DIFFERENT_IN_EDITORS:
        pytest.skip(DIFFERENT_IN_EDITORS[path.name])
    _, line, _ = _expectation(path)
    diagnostics = _open(server, workspace / "bad" / path.name, path.read_text("utf-8"))
    assert line in _lines(diagnostics), diagnostics


COMPILE_WITH_LOSS = "spec_version: 1\nlayers:\n  - {units: 10}\ncompile:\n  loss: sparse_categorical_crossentropy\n"
NOT_A_MAPPING = {
    "layer-number": ("spec_version: 1\nlayers:\n  - 5\ncompile: {loss: sparse_categorical_crossentropy}\n", 3),
    "layer-list": ("spec_version: 1\nlayers:\n  - [Dense]\ncompile: {loss: sparse_categorical_crossentropy}\n", 3),
    "optimizer-null": (COMPILE_WITH_LOSS + "  optimizer: null\n", 6),
    "optimizer-number": (COMPILE_WITH_LOSS + "  optimizer: 7\n", 6),
    "loss-number": ("spec_version: 1\nlayers:\n  - {units: 10}\ncompile:\n  loss: 5\n", 5),
}


@pytest.mark.parametrize("case", NOT_A_MAPPING)
def test_a_value_that_is_neither_name_nor_mapping_gets_one_diagnostic(server, workspace, case):
    text, line = NOT_A_MAPPING[case]
    diagnostics = _open(server, workspace / "not_a_mapping" / f"{case}.yaml", text)
    assert _lines(diagnostics) == [line], diagnostics


# --- completion -------------------------------------------------------------------------------
def _expected_names() -> dict:
    """The names each tested position must offer, from the package's registries and the schema."""
    from fmnist_spec.to_keras.layers import LAYERS, LOSSES, OPTIMIZERS

    assert {name.lower() for name in OPTIMIZERS} == set(OPTIMIZER_CLASSES)
    dense = schema()["$defs"]["Dense"]["properties"]
    compile_keys = schema()["properties"]["compile"]["properties"]
    search = schema()["properties"]["search"]["properties"]
    return {
        "top level (empty document)": list(schema()["properties"]),
        "optimizer: ": list(OPTIMIZER_CLASSES),
        "loss: ": list(LOSSES),
        "activation: ": dense["activation"]["anyOf"][0]["enum"],
        "type: (in a layer)": list(LAYERS),
        "kernel_initializer: ": dense["kernel_initializer"]["enum"],
        "metrics: - ": compile_keys["metrics"]["items"]["enum"],
        "keys of compile": [key for key in compile_keys if key != "loss"],
        "keys of a Dense layer": [key for key in dense if key != "units"],
        "keys of an SGD mapping": [key for key in schema()["$defs"]["SGD"]["properties"] if key != "type"],
        "sampler: ": search["sampler"]["enum"],
        "keys of search": [key for key in search if key != "space"],
    }


EXTRA_VALUES = {"activation: ": {"null", "Default value"}}
"""Items besides the names: null is a valid activation; 'Default value' is the server's label for a null default."""


@pytest.mark.parametrize("name,body,line,column", POSITIONS, ids=[p[0] for p in POSITIONS])
def test_completion_offers_every_name_exactly_once(server, workspace, name, body, line, column):
    expected = _expected_names()[name]
    labels = completion_labels(server, workspace / "completion", SCHEMA, body, line, column,
                               name=f"{re.sub(r'[^a-z]+', '_', name)}.yaml")
    counts = Counter(labels)
    assert [label for label, n in counts.items() if n > 1] == [], labels
    assert set(expected) <= set(labels), labels
    assert set(labels) - set(expected) <= EXTRA_VALUES.get(name, set()), labels


def test_top_level_compile_item_inserts_the_key_with_its_colon(server, workspace):
    path = workspace / "completion" / "top.yaml"
    _open(server, path, "\n")
    items = [item for item in server.completion(path, 0, 0) if item["label"] == "compile"]
    assert len(items) == 1 and items[0]["insertText"].startswith("compile:"), items


def test_optimizer_mapping_type_offers_every_optimizer_class(server, workspace):
    from fmnist_spec.to_keras.layers import OPTIMIZERS

    path = workspace / "completion" / "optimizer_type.yaml"
    _open(server, path, "spec_version: 1\ncompile:\n  optimizer:\n    type: \n")
    labels = [item["label"] for item in server.completion(path, 3, 10)]
    assert sorted(labels) == sorted(OPTIMIZERS)


# --- hover ------------------------------------------------------------------------------------
def _shown(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _with_defaults(node):
    if isinstance(node, dict):
        if "default" in node:
            yield node
        for value in node.values():
            yield from _with_defaults(value)
    elif isinstance(node, list):
        for value in node:
            yield from _with_defaults(value)


def test_every_default_is_written_in_its_description_for_hover():
    """yaml-language-server's hover shows title, description, allowed values and examples, not default."""
    missing = [node["title"] for node in _with_defaults(schema())
               if f"Default: {_shown(node['default'])}" not in node.get("description", "")]
    assert missing == []


def _any_ofs(node):
    if isinstance(node, dict):
        if "anyOf" in node:
            yield node
        for key, value in node.items():
            if key != "if":  # an if's anyOf combines conditions, not values
                yield from _any_ofs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _any_ofs(value)


def test_every_any_of_has_an_untitled_first_branch_and_titled_others():
    """Hover shows the key's own title and description for the usual value, and one header, not 'X || X'."""
    wrong = [node.get("title") for node in _any_ofs(schema())
             if {"title", "description"} & set(node["anyOf"][0])
             or not all("title" in branch for branch in node["anyOf"][1:])]
    assert wrong == []


NAMES = ("spec_version: 1\nlayers:\n  - {units: 10, activation: softmax}\n"
         "compile:\n  optimizer: adam\n  loss: sparse_categorical_crossentropy\n")


HOVER_DEFAULTS = [
    (EVERY_KEY, "epochs", f"Default: {_shown(default('fit', 'epochs'))}."),
    (EVERY_KEY, "kernel_initializer", f"Default: {default('$defs', 'Dense', 'kernel_initializer')}."),
    (EVERY_KEY, "scale", f"Default: {_shown(default('data', 'scale'))}."),
    (EVERY_KEY, "strategy", f"Default: {default('distribute', 'strategy')}."),
    (EVERY_KEY, "learning_rate", f"Default: {_shown(default('$defs', 'Adam', 'learning_rate'))}."),
    (EVERY_KEY, "sampler", f"Default: {default('search', 'sampler')}."),
    (NAMES, "optimizer", f"Default: {default_optimizer()}."),
    (NAMES, "activation", "Default: null."),
]


@pytest.mark.parametrize("text,key,expected", HOVER_DEFAULTS, ids=[key for _, key, _ in HOVER_DEFAULTS])
def test_hover_shows_the_default(server, workspace, text, key, expected):
    text = text.read_text("utf-8") if isinstance(text, Path) else text
    path = workspace / "hover" / f"default_{key}.yaml"
    _open(server, path, text)
    rows = text.splitlines()
    row = next(n for n, r in enumerate(rows) if re.search(rf"(^|[\s{{,]){key}:", r))
    hover = server.hover(path, row, rows[row].index(f"{key}:") + 1)
    assert expected in re.sub(r"\\(.)", r"\1", hover), hover  # the server escapes markdown: glorot\_uniform


def _keys(text: str):
    """(0-based line, column, key) of every mapping key outside comments."""
    for n, row in enumerate(text.splitlines()):
        code = row.split("#", 1)[0]
        for match in re.finditer(r"(?:^|[\s{,-])([A-Za-z_][A-Za-z0-9_]*):(?=\s|$)", code):
            yield n, match.start(1), match.group(1)


@pytest.mark.parametrize("path", [EVERY_KEY, *SPECS], ids=["every_key.yaml", *[p.name for p in SPECS]])
def test_hover_has_one_header_and_a_description_for_every_key(server, workspace, path):
    text = path.read_text("utf-8")
    copy = workspace / "hover" / f"headers_{path.name}"
    _open(server, copy, text)
    for line, column, key in _keys(text):
        hover = server.hover(copy, line, column + 1)
        header = hover.split("\n", 1)[0]
        assert header.startswith("#### ") and "||" not in header, (key, hover)
        assert len(hover.split("\n\n")) > 1, (key, hover)


def test_hover_on_a_name_keeps_the_keys_own_title_and_description(server, workspace):
    path = workspace / "hover" / "names.yaml"
    _open(server, path, NAMES)
    assert server.hover(path, 4, 3).startswith("#### Optimizer\n\nThe optimizer, as Keras")
    assert server.hover(path, 5, 3).startswith("#### Loss\n\nThe loss, as Keras")
    assert server.hover(path, 2, 17).startswith("#### Activation\n\nActivation function")


# --- fmnist-spec schema --install -------------------------------------------------------------
def test_installed_schema_gives_a_spec_anywhere_completion_and_checks(tmp_path, capsys):
    from fmnist_spec.cli import main

    node = _node_or_skip()
    assert main(["schema", "--install", str(tmp_path / "share dir")]) == 0
    line = capsys.readouterr().out.strip()
    assert line == f"# yaml-language-server: $schema={(tmp_path / 'share dir').as_uri()}/model-spec.schema.json"
    elsewhere = tmp_path / "elsewhere"
    partial = (ROOT / "specs" / "relu_adam.yaml").read_text("utf-8").split("\n", 1)[1]
    full = (ROOT / "specs" / "relu_flatten.yaml").read_text("utf-8").split("\n", 1)[1]
    with YamlLanguageServer(elsewhere, default_settings(), node=node) as language_server:
        good = elsewhere / "good.yaml"
        assert _open(language_server, good, f"{line}\n{partial}") == []
        row = 1 + partial.splitlines().index("  optimizer: adam")
        labels = [item["label"] for item in language_server.completion(good, row, 13)]
        assert set(OPTIMIZER_CLASSES) <= set(labels), labels
        broken = _open(language_server, elsewhere / "broken.yaml", f"{line}\n{full.replace('units: 100', 'units: 0')}")
        assert _lines(broken) == [2 + next(n for n, r in enumerate(full.splitlines()) if "units: 100" in r)], broken


def test_schema_install_writes_the_packaged_schema_to_the_default_folder(tmp_path, monkeypatch, capsys):
    from fmnist_spec.cli import main
    from fmnist_spec.language.schema import schema_text

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert main(["schema", "--install"]) == 0
    installed = tmp_path / "data" / "fmnist-spec" / "model-spec.schema.json"
    assert installed.read_text("utf-8") == schema_text()
    out, err = capsys.readouterr()
    assert out == f"# yaml-language-server: $schema={installed}\n"
    assert str(installed) in err
    assert [p.name for p in installed.parent.iterdir()] == ["model-spec.schema.json"]  # no temporary left


def test_schema_install_into_a_place_that_is_no_folder_exits_2_before_writing(tmp_path, capsys):
    from fmnist_spec.cli import main

    (tmp_path / "file").write_text("x")
    assert main(["schema", "--install", str(tmp_path / "file" / "sub")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


# --- check-jsonschema -------------------------------------------------------------------------
def _check_jsonschema(*files):
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile", str(SCHEMA), *map(str, files)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_check_jsonschema_accepts_the_shipped_specs():
    result = _check_jsonschema(*SPECS, EVERY_KEY)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_jsonschema_reports_a_non_mapping_layer_once(tmp_path):
    spec = tmp_path / "x.yaml"
    spec.write_text("spec_version: 1\nlayers:\n  - 5\ncompile: {loss: sparse_categorical_crossentropy, "
                    "optimizer: null}\n")
    result = _check_jsonschema(spec)
    assert result.returncode == 1
    errors = [row for row in result.stdout.splitlines() if row.strip().startswith(str(spec))]
    assert [row.split("::")[1].split(":")[0] for row in errors] == ["$.layers[0]", "$.compile.optimizer"], result.stdout
