"""``metrics.json``: one shape of a run's figures, whatever its status.

Every field is always present (``{}`` or None when not reached), so readers
such as ``compare`` never meet a missing key. The fields are documented one by
one in ``docs/run-folder.md``. Imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

RUNNING, FINISHED, NAN_LOSS, INTERRUPTED, FAILED = "running", "finished", "nan_loss", "interrupted", "failed"
STATUSES = (RUNNING, FINISHED, NAN_LOSS, INTERRUPTED, FAILED)
"""Values of ``status``. ``finished`` and ``nan_loss`` are final: such a run is
published under its run folder's name and never trained again in place."""
FINAL = (FINISHED, NAN_LOSS)


@dataclass
class Metrics:
    """A run's figures, as ``metrics.json`` holds them.

    Attributes:
        status: One of :data:`STATUSES`.
        epochs: Epochs asked for (``fit.epochs``).
        epochs_finished: Epochs trained to the end (backed up, logged).
        resumed_from_epoch: Epochs already done when this process started (0: a fresh run).
        train: Loss and metrics of the last finished epoch (Keras's running means), ``{}`` if none.
        learning_rate: The learning rate of the last finished epoch when the history records it
            (a ``ReduceLROnPlateau``), else None.
        validation: Loss and metrics on the validation split after the last epoch, ``{}`` if not reached.
        test: Loss and metrics on the 10,000 test images (``model.evaluate``), ``{}`` if not reached.
        fit_seconds: Wall time spent training in this process, seconds.
        samples: ``{"train": n, "validation": n, "test": n}`` images.
        parameters: ``model.count_params()``.
        dtype_policy: The Keras dtype policy the model trained under (the spec's ``auto``
            resolved): ``float32``, ``mixed_bfloat16`` or ``mixed_float16``.
        data_source: Where the IDX files were read from.
        threading: The thread pools the run set (``tf.config.threading``):
            ``{"intra_op_parallelism_threads": n, "inter_op_parallelism_threads": m}``, the spec's
            ``auto`` resolved by model (0: TensorFlow chose); ``{}`` in older run folders.
        distribute: ``{"strategy", "replicas", "workers", "global_batch_size"}``, and ``devices`` for mirrored.
        device: Where it trains: ``{"type": "GPU" | "CPU", "name", "count", ...}``
            (:func:`fmnist_spec.running.device.describe`), ``{}`` if not reached.
        stopped_at: ``{"epoch": e, "batch": b}`` (1-based) where the loss became NaN, else None.
        stopped_epoch: 1-based last epoch trained when ``EarlyStopping`` ended training before
            ``fit.epochs`` (Keras's own ``stopped_epoch`` is 0-based: one less), else None.
        best_epoch: 1-based epoch of the ``best`` value of ``monitor``, by the rule of the spec's
            first ``EarlyStopping``, else its first ``ModelCheckpoint``; None without either.
        monitor: The quantity that callback watches (``val_loss``, ``val_accuracy``, ...), or None.
        best: Its best value over the epochs trained, or None.
        message: What went wrong, in one sentence, or None.
    """

    status: str = RUNNING
    epochs: int = 0
    epochs_finished: int = 0
    resumed_from_epoch: int = 0
    train: dict = field(default_factory=dict)
    learning_rate: float | None = None
    validation: dict = field(default_factory=dict)
    test: dict = field(default_factory=dict)
    fit_seconds: float = 0.0
    samples: dict = field(default_factory=dict)
    parameters: int = 0
    dtype_policy: str = "float32"
    threading: dict = field(default_factory=dict)
    data_source: str = ""
    distribute: dict = field(default_factory=dict)
    device: dict = field(default_factory=dict)
    stopped_at: dict | None = None
    stopped_epoch: int | None = None
    best_epoch: int | None = None
    monitor: str | None = None
    best: float | None = None
    message: str | None = None

    def as_dict(self) -> dict:
        """The ``metrics.json`` object (plain data, field order)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Metrics:
        """Read a ``metrics.json`` object; keys a run folder of an older version lacks get
        their defaults (``epochs_finished`` of a finished run: its ``epochs``), unknown keys are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        if "epochs_finished" not in data and data.get("status") == FINISHED:
            values["epochs_finished"] = data.get("epochs", 0)
        for key in ("train", "validation", "test", "samples", "distribute", "device", "threading"):
            if values.get(key) is None:
                values.pop(key, None)
        return cls(**values)

    def figure_lines(self) -> list:
        """``  train      accuracy 0.8912, loss 0.3001``: one line per split reached, as ``train``
        ends and a run shows itself in a notebook."""
        lines = []
        for split in ("train", "validation", "test"):
            figures = ", ".join(f"{k} {v:.4f}" for k, v in getattr(self, split).items())
            if figures:
                lines.append(f"  {split:<10} {figures}")
        return lines

    @property
    def is_final(self) -> bool:
        """True for ``finished`` and ``nan_loss``: the run will not train further."""
        return self.status in FINAL
