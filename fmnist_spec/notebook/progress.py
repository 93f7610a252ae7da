"""One live progress display per fit in a notebook, updated in place.

Keras's progress bar takes an IPython kernel for a terminal: it rewrites itself with
``\\b``, ``\\r`` and ANSI colour codes many times a second, which a notebook keeps as text
(one line per update in JupyterLab, "Buffered data was truncated" in Colab). In a kernel
:func:`fmnist_spec.train` passes :func:`live_progress`'s callback to the training stage
instead, which then fits with ``verbose=0``: ONE display (``IPython.display.display(...,
display_id=True)``), updated with ``handle.update()`` at the end of each epoch and at
most once a second within one, showing the epoch, the loss and metric figures, the time
spent and the time left. ``display_id`` is IPython's display protocol, which Jupyter,
JupyterLab, VS Code and plain Colab all support; no widget library is needed
(``tqdm.keras.TqdmCallback`` is the model, without its ``ipywidgets``).
A terminal keeps Keras's own output: nothing here runs outside a kernel.
"""

from __future__ import annotations

import sys
import time

from . import html as H

UPDATE_SECONDS = 1.0
"""Shortest interval between two in-place updates within an epoch."""


def in_kernel() -> bool:
    """True when this code runs inside an IPython kernel (Jupyter, JupyterLab, Colab, VS Code).

    A kernel's shell (``ipykernel.zmqshell.ZMQInteractiveShell``, which Colab's shell
    derives from) has a ``kernel``; the terminal's ``TerminalInteractiveShell`` and a plain
    ``InteractiveShell`` have none. IPython is never imported here: when nothing imported
    it, no kernel is running.
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class ProgressState:
    """What the display shows: where the fit is and its latest figures (no Keras here).

    Attributes:
        title: The run's name.
        epochs: Epochs asked for.
        epoch: Epochs finished (0 before the first ends).
        step, steps: Batches done in the current epoch and per epoch (None: unknown).
        figures: The latest logs of Keras (``loss``, ``accuracy``, ``val_loss``, ...).
        started: ``time.monotonic()`` at the start; ``first_epoch``: the epoch it started
            from (a resumed run starts after its finished epochs).
        done: True once ``fit`` has ended.
    """

    def __init__(self, title: str, epochs: int, steps: int | None = None):
        self.title, self.epochs, self.steps = title, epochs, steps
        self.epoch, self.step, self.first_epoch = 0, 0, 0
        self.figures: dict = {}
        self.started = time.monotonic()
        self.done = False

    def seconds_left(self) -> float | None:
        """Estimated seconds to the end: the mean time of this run's epochs so far (the
        current one counted by its batches) times what is left; None before any progress."""
        elapsed = time.monotonic() - self.started
        part = self.step / self.steps if self.steps else 0.0
        progress = (self.epoch - self.first_epoch) + part
        if progress <= 0:
            return None
        return max(elapsed / progress * (self.epochs - self.epoch - part), 0.0)

    def words(self) -> tuple[str, list]:
        """(the status line, [(name, value), ...] figures) shared by the text and the HTML."""
        elapsed = time.monotonic() - self.started
        if self.done:
            status = f"{self.title}: {self.epoch}/{self.epochs} epochs in {_clock(elapsed)}"
        else:
            left = self.seconds_left()
            status = (f"{self.title}: epoch {min(self.epoch + 1, self.epochs)}/{self.epochs}"
                      + f", {_clock(elapsed)} spent"
                      + (f", about {_clock(left)} left" if left is not None else ""))
        figures = [(k, f"{v:.4f}") for k, v in self.figures.items() if isinstance(v, (int, float))]
        return status, figures

    def text(self) -> str:
        status, figures = self.words()
        return status + ("\n" + "  ".join(f"{k} {v}" for k, v in figures) if figures else "")

    def html(self) -> str:
        status, figures = self.words()
        fraction = 1.0 if self.done else ((self.epoch + (self.step / self.steps if self.steps else 0))
                                          / max(self.epochs, 1))
        bar = (f'<progress value="{fraction:.3f}" max="1" style="width: 320px"></progress>')
        table = H.table([k for k, _ in figures], [[v for _, v in figures]]) if figures else ""
        return H.block(f"<div>{bar} {H.esc(status)}</div>", table)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": self.text(), "text/html": self.html()}


def live_progress(title: str = "fit", display=None):
    """A Keras callback that shows the fit's progress in one display, updated in place.

    Args:
        title: The run's name, shown first.
        display: ``IPython.display.display`` (default; tests pass their own recorder).

    Returns:
        A ``keras.callbacks.Callback``; give it to ``fit`` with ``verbose=0``
        (``fmnist_spec.running.train.train(..., progress=...)`` does).
    """
    import keras

    if display is None:
        from IPython.display import display

    class LiveProgress(keras.callbacks.Callback):
        """Keras callback: one display, updated at each epoch's end and at most once a second."""

        def __init__(self):
            super().__init__()
            self.state, self.handle, self.last = None, None, 0.0

        def _show(self, force: bool = False) -> None:
            now = time.monotonic()
            if not force and now - self.last < UPDATE_SECONDS:
                return
            self.last = now
            if self.handle is None:
                self.handle = display(self.state, display_id=True)
            else:
                self.handle.update(self.state)

        def on_train_begin(self, logs=None):
            params = self.params or {}
            self.state = ProgressState(title, params.get("epochs") or 0, params.get("steps"))
            self._show(force=True)

        def on_epoch_begin(self, epoch, logs=None):
            if self.state.epoch == 0 and epoch > 0:  # resumed: Keras starts at the first epoch left
                self.state.epoch = self.state.first_epoch = epoch
                self.state.started = time.monotonic()
            self.state.step = 0

        def on_train_batch_end(self, batch, logs=None):
            self.state.step = batch + 1
            self.state.figures.update(logs or {})
            self._show()

        def on_epoch_end(self, epoch, logs=None):
            self.state.epoch, self.state.step = epoch + 1, 0
            self.state.figures = dict(logs or {})
            self._show(force=True)

        def on_train_end(self, logs=None):
            self.state.done = True
            self._show(force=True)

    return LiveProgress()


def notebook_progress(spec, out=None):
    """:func:`live_progress` titled with the run folder's name (``out``, else the default one),
    with TensorFlow's retracing warnings dropped, as a notebook's many models trigger them
    (:func:`fmnist_spec.to_keras.compat.silence_retracing_warnings`)."""
    from pathlib import Path

    from ..running.train import default_out_dir
    from ..to_keras.compat import silence_retracing_warnings

    silence_retracing_warnings()
    return live_progress(Path(out or default_out_dir(spec)).name)


class SearchProgress:
    """One display for a whole search in a notebook, updated in place: trials settled of the total,
    the best figure so far, the trial in training and its epoch, the last trial's line.

    :func:`fmnist_spec.search.run_search` calls it (``progress=``): ``start`` once, then for each
    trial of this process ``trial_begins`` (which returns the Keras callback that follows its
    epochs) and ``trial_ends``, the trial's line through :meth:`echo`, and ``finish`` at the end.
    Nothing is printed: a 20-trial search is one output entry, not Keras bars nor a line per epoch.

    Args:
        title: The search's name, shown first.
        display: ``IPython.display.display`` (default; tests pass their own recorder).
    """

    def __init__(self, title: str = "search", display=None):
        self.title, self.display, self.handle = title, display, None
        self.total, self.done, self.objective, self.direction = 0, 0, "", "maximize"
        self.best: tuple | None = None  # (value, trial number)
        self.current: tuple | None = None  # (trial number, {path: text})
        self.epoch, self.epochs, self.last_line, self.finished = 0, 0, "", False
        self.started = time.monotonic()

    # --- what run_search tells -------------------------------------------------------------------

    def start(self, total: int, objective: str, direction: str, settled: int = 0, best_value=None,
              best_number=None) -> None:
        self.total, self.objective, self.direction, self.done = total, objective, direction, settled
        self.best = None if best_value is None else (best_value, best_number)
        self.started = time.monotonic()
        self._show()

    def trial_begins(self, number: int, values: dict) -> list:
        """The Keras callbacks that follow trial ``number``'s fit (its epoch, in this display)."""
        import keras

        self.current, self.epoch, self.epochs = (number, dict(values)), 0, 0
        self._show()
        progress = self

        class TrialEpochs(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                progress.epochs = (self.params or {}).get("epochs") or 0

            def on_epoch_end(self, epoch, logs=None):
                progress.epoch = epoch + 1
                progress._show()

        return [TrialEpochs()]

    def trial_ends(self, number: int, outcome) -> None:
        self.done += 1
        value = outcome.value
        if outcome.state == "complete" and value is not None and (
                self.best is None or (value > self.best[0] if self.direction == "maximize" else value < self.best[0])):
            self.best = (value, number)
        self.current = None

    def echo(self, line: str) -> None:
        """A trial's line (what a terminal prints): shown as the display's last line."""
        self.last_line = line
        self._show()

    def finish(self) -> None:
        self.finished, self.current = True, None
        self._show()

    # --- what it shows ---------------------------------------------------------------------------

    def words(self) -> list:
        """The display's lines (plain text; the HTML shows the same words)."""
        elapsed = _clock(time.monotonic() - self.started)
        head = f"{self.title}: {self.done}/{self.total} trials" + (" settled" if self.finished else "")
        if self.best is not None:
            head += f", best {self.objective} {self.best[0]:.4f} (trial {self.best[1]})"
        lines = [head + f", {elapsed} spent"]
        if self.current is not None:
            number, values = self.current
            shown = " ".join(f"{path}={text}" for path, text in values.items())
            lines.append(f"trial {number} ({shown}): epoch {self.epoch}/{self.epochs or '?'}")
        if self.last_line:
            lines.append("last: " + " ".join(self.last_line.split()))
        return lines

    def text(self) -> str:
        return "\n".join(self.words())

    def html(self) -> str:
        fraction = 1.0 if self.finished else (self.done + (self.epoch / self.epochs if self.epochs else 0)) \
            / max(self.total, 1)
        head, *rest = self.words()
        bar = f'<progress value="{min(fraction, 1.0):.3f}" max="1" style="width: 320px"></progress>'
        return H.block(f"<div>{bar} {H.esc(head)}</div>", "".join(f"<div>{H.esc(line)}</div>" for line in rest))

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": self.text(), "text/html": self.html()}

    def _show(self) -> None:
        if self.handle is None:
            display = self.display
            if display is None:
                from IPython.display import display
            self.handle = display(self, display_id=True)
        else:
            self.handle.update(self)


def search_progress(spec, out=None) -> SearchProgress:
    """A :class:`SearchProgress` titled with the search folder's name (``out``, else the default one),
    with TensorFlow's retracing warnings dropped (one model per trial).

    Optuna is imported here, without tqdm's ``TqdmWarning: IProgress not found. Please update jupyter
    and ipywidgets``: Optuna's ``progress_bar`` imports ``tqdm.auto`` (tqdm 4.67), which in a kernel
    without ipywidgets warns at import, though a search never shows Optuna's progress bar.
    """
    import warnings
    from pathlib import Path

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "IProgress not found")
        import optuna  # noqa: F401

    from ..to_keras.compat import silence_retracing_warnings

    silence_retracing_warnings()
    title = Path(out).name if out is not None else f"{spec.name} search"
    return SearchProgress(title)
