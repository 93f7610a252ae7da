"""Pictures: learning curves, confusion matrices (matplotlib, Agg canvas, no
pyplot state) and model diagrams (Keras's ``plot_model``: pydot + Graphviz).

Every PNG is drawn to a temporary file beside the target and renamed, like
the other outputs (see :mod:`fmnist_spec.files`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from ..files import atomic_write
from ..language.facts import CLASS_NAMES

DPI = 100


class GraphvizMissing(Exception):
    """pydot or Graphviz's ``dot`` program is not installed; the message says how to install it."""


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: str | Path) -> None:
    """Save in the format the suffix names (``.png``; ``.svg`` and ``.pdf`` work too)."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".") or "png"
    atomic_write(path, lambda tmp: figure.savefig(tmp, format=kind, dpi=DPI), suffix=f".{kind}")


def learning_curves(histories: dict, path: str | Path, title: str = "Learning curves",
                    best_epochs: dict | None = None) -> dict:
    """Draw training (solid) and validation (dashed) loss and accuracy per epoch.

    Args:
        histories: Run label -> Keras ``History.history`` (``loss``,
            ``val_loss``, and ``accuracy``/``val_accuracy`` when compiled with
            that metric; one float per epoch). Several runs are overlaid, one
            colour each.
        path: The PNG to write (about 1100 x 450 pixels).
        title: The figure's title.
        best_epochs: Run label -> 1-based best epoch (``metrics.json``'s ``best_epoch``) or
            None. Each is marked in every panel: a dotted vertical line and a star on the
            validation curve, labelled ``best epoch e``.

    Returns:
        Run label -> ``{"epoch": e, "<val_metric>": value at e, ...}`` for every mark drawn.
    """
    best_epochs = {k: v for k, v in (best_epochs or {}).items() if v}
    panels = ["loss"] + (["accuracy"] if any("accuracy" in h for h in histories.values()) else [])
    figure = _figure(5.5 * len(panels), 4.5)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    colours = [f"C{i % 10}" for i in range(len(histories))]
    marked: dict = {}
    for ax, metric in zip(axes, panels):
        for colour, (name, history) in zip(colours, histories.items()):
            prefix = f"{name}: " if len(histories) > 1 else ""
            for key, style, split in ((metric, "-", "training"), (f"val_{metric}", "--", "validation")):
                values = history.get(key)
                if values:
                    epochs = np.arange(1, len(values) + 1)
                    ax.plot(epochs, values, style, color=colour, marker="o", markersize=3,
                            label=f"{prefix}{split}")
            best = best_epochs.get(name)
            values = history.get(f"val_{metric}") or history.get(metric) or []
            if best and best <= len(values):
                ax.axvline(best, color=colour, linestyle=":", linewidth=1)
                if values[best - 1] is not None:
                    ax.plot([best], [values[best - 1]], "*", color=colour, markersize=12,
                            markeredgecolor="black", label=f"{prefix}best epoch {best}")
                    marked.setdefault(name, {"epoch": best})[f"val_{metric}"] = values[best - 1]
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    _save(figure, path)
    return marked


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray,
                     classes: int = len(CLASS_NAMES)) -> np.ndarray:
    """``(classes, classes)`` int counts: row = true label, column = predicted label."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def confusion_png(matrix: np.ndarray, path: str | Path, title: str = "Confusion matrix (test set)",
                  class_names=CLASS_NAMES) -> None:
    """Draw a confusion matrix with counts in the cells and class names on both axes.

    Args:
        matrix: ``(10, 10)`` counts from :func:`confusion_matrix`.
        path: The PNG to write (about 800 x 700 pixels).
        title: The figure's title.
        class_names: Names in label order (Fashion-MNIST's by default).

    Returns:
        The matplotlib ``Figure``, already saved (tests read its text).
    """
    figure = _figure(8, 7)
    ax = figure.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                color="white" if count > threshold else "black")
    ax.set_title(title)
    figure.tight_layout()
    _save(figure, path)
    return figure


INSTALL_GRAPHVIZ = ("install Graphviz: 'sudo apt-get install graphviz' (Debian, Ubuntu), "
                    "'brew install graphviz' (macOS), or see https://graphviz.org/download/; "
                    "pydot comes with fmnist-spec ('pip install pydot')")


def check_graphviz() -> None:
    """Raise :class:`GraphvizMissing` unless pydot imports and Graphviz's ``dot`` runs."""
    try:
        import pydot
    except ImportError:
        raise GraphvizMissing("pydot is not installed; it is needed to draw models") from None
    if shutil.which("dot") is None:
        raise GraphvizMissing("Graphviz's 'dot' program was not found on PATH; it is needed to draw models")
    try:
        pydot.Dot.create(pydot.Dot())
    except (OSError, pydot.PydotException) as exc:
        raise GraphvizMissing(f"Graphviz's 'dot' program does not run ({exc})") from None


def draw_model(model, path: str | Path) -> None:
    """Draw ``model`` with ``keras.utils.plot_model`` (shapes, names, activations).

    Args:
        model: A built Keras model.
        path: The picture; Graphviz picks the format from the suffix (``.png``).

    Raises:
        GraphvizMissing: pydot or Graphviz is not installed (see :data:`INSTALL_GRAPHVIZ`).
    """
    import keras

    check_graphviz()
    path = Path(path)
    atomic_write(path, lambda tmp: keras.utils.plot_model(model, to_file=str(tmp), show_shapes=True,
                                                          show_layer_names=True, show_layer_activations=True,
                                                          dpi=DPI), suffix=path.suffix)
