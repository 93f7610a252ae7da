"""The fitter registry: ``distribute.strategy`` name -> the function that trains a :class:`~fmnist_spec.running.fit.Job`.

Each strategy's module registers its fitter when it is imported, as Keras registers
its layers (``keras.saving.register_keras_serializable``): ``default`` and ``mirrored``
in :mod:`fmnist_spec.running.fit`, ``multi_worker_mirrored`` in
:mod:`fmnist_spec.running.distributed.fit_workers`. :mod:`fmnist_spec.running.train`
imports both and looks the fitter up here, so the strategy modules import the shared
fitting parts of ``fit.py`` and nothing imports back: no import cycle (tests/test_stages.py).
"""

from __future__ import annotations

FITTERS: dict = {}
"""Strategy name -> fitter ``(Job) -> Fitted``, filled by :func:`register_fitter`."""


def register_fitter(strategy: str):
    """A decorator that registers a fitter under ``strategy`` (a ``distribute.strategy`` value).

    Raises:
        ValueError: another fitter is registered under that name already.
    """

    def register(function):
        if FITTERS.get(strategy, function) is not function:
            raise ValueError(f"a fitter is registered for strategy {strategy!r} already: {FITTERS[strategy]!r}")
        FITTERS[strategy] = function
        return function

    return register


def fitter(strategy: str):
    """The fitter registered for ``strategy``.

    Raises:
        KeyError: none is registered (the message lists the known strategies).
    """
    try:
        return FITTERS[strategy]
    except KeyError:
        raise KeyError(f"no fitter is registered for strategy {strategy!r}; known: {', '.join(sorted(FITTERS))}"
                       " (import the module that registers it)") from None
