"""Refuse a model or weights file before TensorFlow is imported.

The commands that load a model (``evaluate``, ``predict``, ``inspect``,
``export``) call these first, so that a file over a limit is refused in well
under a second and a few tens of MB, instead of after TensorFlow's import
(several seconds, 600 MB). The same checks run again where the model is
loaded, so the library API is as safe as the command line.

No TensorFlow here.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import Problem, SpecError
from ..language import registry

EXPRESSIBLE = tuple(kind for kind in registry.LAYERS if kind != "Input")
"""Layer classes a saved Sequential can hold and a spec can express."""


def check_model(target: str | Path) -> None:
    """Inspect the ``.keras`` file of a run folder or path
    (:func:`fmnist_spec.to_keras.archive.inspect_archive`).

    Raises:
        fmnist_spec.tools.evaluate.InputError: a bad path or an archive over a limit.
    """
    from ..to_keras.archive import ArchiveError, inspect_archive
    from .evaluate import InputError, locate

    model_path, _ = locate(target)
    try:
        inspect_archive(model_path)
    except ArchiveError as exc:
        raise InputError(str(exc)) from None


def check_weights(spec_path: str | Path, weights: str | Path) -> None:
    """Check ``evaluate SPEC --weights FILE``'s file against the spec's variable shapes.

    Raises:
        fmnist_spec.tools.evaluate.InputError: not a ``.weights.h5`` file, or its datasets
            do not fit the spec's model.
        fmnist_spec.SpecError: the spec is invalid.
    """
    from ..language.validation import load_spec
    from .evaluate import _check_weights_fit, _spec_variables, weights_path

    spec = load_spec(spec_path)
    _check_weights_fit(weights_path(weights), _spec_variables(spec), spec_path, by_name=False)


def check_export(path: str | Path) -> dict:
    """Inspect a ``.keras`` file for ``export``; a Keras layer class a spec cannot express is
    refused in export's words, before its layers are counted.

    Returns:
        The parsed ``config.json``.

    Raises:
        SpecError: an archive over a limit, or a layer a spec cannot express.
    """
    from ..to_keras.archive import ArchiveError, inspect_archive

    file = str(path)
    try:
        return inspect_archive(path, vet=lambda config: _refuse_inexpressible(file, config))
    except ArchiveError as exc:
        message = str(exc).removeprefix(f"{Path(path)}: ")
        raise SpecError([Problem(file, None, None, "", message, "give the path of a .keras file "
                                 "written by Keras's model.save")]) from None


def _refuse_inexpressible(file: str, config: dict) -> None:
    """Refuse a Sequential model with a Keras layer class the spec language has not
    (``Lambda`` is left to Keras's ``safe_mode``, which refuses its code)."""
    entries = (config.get("config") or {}).get("layers") if config.get("class_name") == "Sequential" else None
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict) \
            or entries[0].get("class_name") != "InputLayer":
        return
    for index, entry in enumerate(entries[1:]):
        if not isinstance(entry, dict):
            continue
        kind = entry.get("class_name")
        if entry.get("module") != "keras.layers" or kind in EXPRESSIBLE or kind == "Lambda":
            continue
        name = entry["config"].get("name") if isinstance(entry.get("config"), dict) else None
        raise SpecError([Problem(file, None, None, f"layers[{index}]",
                                 f"layer {name!r} is a {kind}, which the spec language cannot express",
                                 "specs have the layer types " + ", ".join(EXPRESSIBLE))])
