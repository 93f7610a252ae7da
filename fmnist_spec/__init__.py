"""fmnist-spec: declarative model specs for Keras, compiled to ``keras.Sequential``.

The pipeline, one module per step:
text (:mod:`.yaml_source`) -> schema (:mod:`.schema`) -> checks (:mod:`.checks`)
-> :class:`Spec` (:mod:`.spec`) -> Keras model (:mod:`.builder`) -> trained
run (:mod:`.training`). Importing this package does not import TensorFlow;
:func:`build_model` and :func:`train` do, when called.
"""

from .errors import Problem, Problems, SpecError
from .language.spec import Spec
from .language.validation import load_spec, parse_spec, validate

__version__ = "0.1.0"


def build_model(spec, style=None):
    """Build the ``keras.Sequential`` of ``spec``; see :func:`fmnist_spec.to_keras.builder.build_model`."""
    from .to_keras.builder import build_model as _build

    return _build(spec, style)


def train(spec, **kwargs):
    """Train ``spec`` (:func:`fmnist_spec.running.train.train`); in a kernel, with one live progress display."""
    from .running.train import train as _train

    # In an IPython kernel (Jupyter, Colab), unless verbose or progress is given, the fit's progress
    # is one display updated in place (fmnist_spec.notebook.progress) instead of Keras's terminal bar,
    # and TensorFlow's C++ noise on descriptor 2 is left out (fmnist_spec.to_keras.compat.filtered_stderr).
    if not _in_kernel():
        return _train(spec, **kwargs)
    if "verbose" not in kwargs and "progress" not in kwargs:
        from .notebook.progress import notebook_progress

        kwargs["progress"] = notebook_progress(spec, kwargs.get("out"))
    from .to_keras.compat import filtered_stderr

    with filtered_stderr():
        return _train(spec, **kwargs)


def search_spec(spec, **kwargs):
    """Run the study of ``spec``'s ``search`` section on Optuna; see :func:`fmnist_spec.search.run_search`.

    In an IPython kernel, unless ``echo`` or ``progress`` is given, the study's progress is one display
    updated in place (:class:`fmnist_spec.notebook.progress.SearchProgress`) instead of a line per trial,
    and TensorFlow's C++ noise on descriptor 2 is left out (:func:`fmnist_spec.to_keras.compat.filtered_stderr`).
    """
    from .search.run import run_search

    if not _in_kernel():
        return run_search(spec, **kwargs)
    if "echo" not in kwargs and "progress" not in kwargs:
        from .notebook.progress import search_progress

        progress = search_progress(spec, kwargs.get("out"))
        kwargs.update(progress=progress, echo=progress.echo)
    from .to_keras.compat import filtered_stderr

    with filtered_stderr():
        return run_search(spec, **kwargs)


def _in_kernel() -> bool:
    """True inside an IPython kernel (:func:`fmnist_spec.notebook.progress.in_kernel`)."""
    from .notebook.progress import in_kernel

    return in_kernel()


def load_model(path):
    """Load a saved model safely; see :func:`fmnist_spec.to_keras.builder.load_model`."""
    from .to_keras.builder import load_model as _load

    return _load(path)


def load_ipython_extension(ipython) -> None:
    """``%load_ext fmnist_spec``: register the ``%%fmnist_spec`` and ``%fmnist_spec`` magics
    (:mod:`fmnist_spec.notebook.magic`; IPython is needed only then)."""
    from .notebook.magic import load_ipython_extension as _load

    _load(ipython)


__all__ = ["Problem", "Problems", "Spec", "SpecError", "__version__", "build_model", "load_model", "load_spec",
           "parse_spec", "search_spec", "train", "validate"]
