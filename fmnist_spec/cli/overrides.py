"""Command-line flags as spec overrides.

Each flag below is turned into a ``KEY=VALUE`` override of the spec, applied
with the user's own ``--set`` arguments before validation, so every schema
rule and cross-field check of the spec language applies to it; a problem is
located at the flag as written, e.g.
``--epochs 0:1:10: fit.epochs: 0 is less than the minimum of 1``.
Value ranges live only in the schema: argparse hands over the text, which is
read as YAML 1.2 (``5`` an integer, ``1e3`` a float, ``abc`` a string).

Order: the flags are applied AFTER every ``--set``, in the order of this
table, so a flag always wins over a ``--set`` of the same key (``--epochs 3
--set fit.epochs=9`` trains 3 epochs), whatever their order on the line.

======================  ==========================================================
flag                    override(s)
======================  ==========================================================
``--epochs N``          ``fit.epochs=N``
``--seed N``            ``seed=N``
``--style S``           ``style=S``
``--distribute S``      ``distribute.strategy=S`` (and ``distribute.devices=null``
                        unless S is ``mirrored``: only mirrored takes devices)
``--workers A,B``       ``distribute.workers=[A, B]``,
                        ``distribute.strategy=multi_worker_mirrored``,
                        ``distribute.devices=null``
``--worker-index I``    ``distribute.worker_index=I``
``--timeout S``         ``distribute.timeout_seconds=S``
======================  ==========================================================
"""

from __future__ import annotations

import json

from ..errors import Problem, SpecError
from ..source.compose import Override

SIMPLE_FLAGS = (
    ("epochs", "--epochs", "fit.epochs"),
    ("seed", "--seed", "seed"),
    ("style", "--style", "style"),
    ("worker_index", "--worker-index", "distribute.worker_index"),
    ("timeout", "--timeout", "distribute.timeout_seconds"),
)
"""(argparse destination, flag, spec key) of the flags that set one key to their value."""


def _flag(flag: str, text: str, key: str, value: str | None = None, pinned: bool = False) -> Override:
    """The override ``key=value`` (default: the flag's own text), located at ``flag text``."""
    label = f"{flag} {text}"
    return Override(key, text if value is None else value, label, len(flag) + 2, pinned)


def flag_overrides(args) -> list:
    """The overrides of ``args`` (an argparse namespace): its ``--set`` strings, then the flags'.

    Raises:
        SpecError: ``--workers`` together with a ``--distribute`` other than
            ``multi_worker_mirrored`` (two flags that contradict each other).
    """
    overrides: list = list(getattr(args, "set", None) or [])
    for dest, flag, key in SIMPLE_FLAGS:
        text = getattr(args, dest, None)
        if text is not None:
            overrides.append(_flag(flag, text, key))
    strategy = getattr(args, "distribute", None)
    workers = getattr(args, "workers", None)
    if workers is not None and strategy not in (None, "multi_worker_mirrored"):
        label = f"--distribute {strategy}"
        raise SpecError([Problem(label, 1, len("--distribute") + 2, "distribute.strategy",
                                 f"--workers starts a multi-worker run, but --distribute is {strategy}",
                                 "leave out --distribute, or give --distribute multi_worker_mirrored")])
    if strategy is not None:
        overrides.append(_flag("--distribute", strategy, "distribute.strategy"))
        if strategy != "mirrored":
            overrides.append(_flag("--distribute", strategy, "distribute.devices", "null", pinned=True))
    if workers is not None:
        addresses = [part.strip() for part in workers.split(",") if part.strip()]
        overrides.append(_flag("--workers", workers, "distribute.workers", json.dumps(addresses), pinned=True))
        overrides.append(_flag("--workers", workers, "distribute.strategy", "multi_worker_mirrored", pinned=True))
        overrides.append(_flag("--workers", workers, "distribute.devices", "null", pinned=True))
    return overrides


def resume_argv(argv: list, out_dir, out_given: bool) -> list:
    """The command line that resumes an interrupted ``train``: ``argv`` (every ``--set``,
    ``--seed`` and other flag as given) plus ``--resume``, and ``--out DIR`` when the user
    gave no ``--out`` (so the run folder is found even if the default would differ)."""
    again = ["fmnist-spec", *argv]
    if not out_given:
        again += ["--out", str(out_dir)]
    if "--resume" not in argv:
        again.append("--resume")
    return again
