"""The JSON Schema of the spec language: the schema itself, its defaults, ``schema --install``.

The schema (JSON Schema draft 2020-12) ships inside the package as
``model-spec.schema.json``; ``schemas/model-spec.schema.json`` at the top of
the repository is the same file (a test keeps them identical). Validation is
jsonschema's ``Draft202012Validator.iter_errors``, so every error is found in
one run; :mod:`fmnist_spec.language.schema_errors` turns each error into a
:class:`Problem` at the right line and column, with a hint.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from importlib import resources
from pathlib import Path

from jsonschema import Draft202012Validator, validators

from . import registry

@functools.lru_cache(maxsize=1)
def schema() -> dict:
    """The spec language's JSON Schema as a dict (draft 2020-12)."""
    text = resources.files("fmnist_spec").joinpath("model-spec.schema.json").read_text("utf-8")
    return json.loads(text)


def schema_text() -> str:
    """The JSON Schema file's text, as ``fmnist-spec schema`` prints it."""
    return resources.files("fmnist_spec").joinpath("model-spec.schema.json").read_text("utf-8")


def _is_integer(checker, instance) -> bool:
    """JSON Schema counts 32.0 as an integer; Keras does not, so neither do specs."""
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))
"""Draft 2020-12 where ``integer`` means a whole number written without a decimal point."""


@functools.lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return StrictValidator(schema())


def default(*keys: str):
    """The ``default`` the schema gives at ``$defs``/``properties`` path ``keys``.

    ``default("fit", "epochs")`` reads ``properties.fit.properties.epochs.default``;
    ``default("$defs", "Adam", "learning_rate")`` reads a definition's property.
    """
    node = schema()
    if keys and keys[0] == "$defs":
        node, keys = node["$defs"][keys[1]], keys[2:]
    for key in keys:
        node = node["properties"][key]
    return node["default"]


def _resolved(node: dict) -> dict:
    """``node`` with a ``$ref`` to ``#/$defs/NAME`` replaced by that definition (its keys first)."""
    if "$ref" not in node:
        return node
    return {**schema()["$defs"][node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}


def _property(node, key: str) -> dict:
    """The first ``properties[key]`` under ``node`` (a schema fragment), searched depth-first
    through ``if``/``then``/``else``/``allOf``/``anyOf``, not through ``$ref``; ``{}`` if none.

    So the facts read do not depend on how the definition is arranged."""
    if isinstance(node, dict):
        found = node.get("properties", {}).get(key)
        if isinstance(found, dict):
            return found
        children = [v for k, v in node.items() if k not in ("properties", "$ref")]
    elif isinstance(node, list):
        children = node
    else:
        return {}
    for child in children:
        found = _property(child, key)
        if found:
            return found
    return {}


def _fill(node: dict, value: dict) -> None:
    """Set, in ``value``, the ``default`` of each of ``node``'s properties it lacks, recursively."""
    for key, prop in node.get("properties", {}).items():
        prop = _resolved(prop)
        if key not in value and "default" in prop:
            value[key] = copy.deepcopy(prop["default"])
        if isinstance(value.get(key), dict) and "properties" in prop:
            _fill(prop, value[key])


def with_defaults(data: dict) -> dict:
    """A copy of schema-valid spec ``data`` with every default the schema gives filled in.

    Sections get their keys' defaults; each layer its ``type`` (``Dense``) and
    its class's argument defaults; each ``fit.callbacks`` entry its class's
    defaults; ``compile`` its optimizer (``rmsprop``, a name string, kept as
    written), and an optimizer, its learning-rate schedule or a loss written as
    a mapping its class's defaults. Keys without a default (``input_shape``,
    ``data.flatten``) stay absent.
    Checks and warnings read this, so no default is typed twice.
    """
    filled = copy.deepcopy(data)
    _fill(schema(), filled)
    defs = schema()["$defs"]
    layer_type = _property(defs["layer"], "type").get("default")
    for entry in filled.get("layers", []):
        entry.setdefault("type", layer_type)
        _fill(defs[entry["type"]], entry)
    for callback in filled.get("fit", {}).get("callbacks", []):
        _fill(defs[callback["type"]], callback)
    compile_ = filled.get("compile", {})
    optimizer = compile_.get("optimizer")
    if isinstance(optimizer, dict):
        _fill(defs[optimizer["type"]], optimizer)
        if isinstance(optimizer.get("learning_rate"), dict):
            _fill(defs[optimizer["learning_rate"]["type"]], optimizer["learning_rate"])
    loss = compile_.get("loss")
    if isinstance(loss, dict):
        for key in registry.LOSSES[registry.LOSS_NAMES[loss["type"]]].arguments:
            prop = _property(defs["loss"], key)
            if key not in loss and "default" in prop:
                loss[key] = prop["default"]
    return filled


def default_optimizer() -> str:
    """The schema's default optimizer name (``rmsprop``, as Keras's ``compile``)."""
    return schema()["$defs"]["optimizer"]["default"]


def schema_install_dir() -> Path:
    """Where ``fmnist-spec schema --install`` puts the schema: ``$XDG_DATA_HOME/fmnist-spec``,
    else ``~/.local/share/fmnist-spec`` (the XDG Base Directory default)."""
    data_home = os.environ.get("XDG_DATA_HOME", "")
    base = Path(data_home) if os.path.isabs(data_home) else Path.home() / ".local" / "share"
    return base / "fmnist-spec"


def install_schema(directory: str | Path | None = None) -> Path:
    """Write the schema to ``directory/model-spec.schema.json`` (whole or not at all), for editors.

    Args:
        directory: the folder; created if missing. ``None``: :func:`schema_install_dir`.

    Returns:
        The absolute path of the written file.

    Raises:
        OSError: the folder cannot be created or written.
    """
    from ..files import write_text

    folder = Path(directory if directory is not None else schema_install_dir()).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model-spec.schema.json"
    write_text(path, schema_text())
    return path


def modeline(path: str | Path) -> str:
    """The first line of a spec that points yaml-language-server at the schema file ``path``.

    The server reads a modeline's path up to the first whitespace, so a path with whitespace is
    given as a ``file://`` URI (percent-encoded); otherwise as the plain absolute path.
    """
    path = Path(path).resolve()
    target = path.as_uri() if re.search(r"\s", str(path)) else str(path)
    return f"# yaml-language-server: $schema={target}"
