"""fmnist-spec: declarative model specs for Keras, compiled to ``keras.Sequential``.

The pipeline, one module per step:
text (:mod:`.yaml_source`) -> schema (:mod:`.schema`) -> checks (:mod:`.checks`)
-> :class:`Spec` (:mod:`.spec`) -> Keras model (:mod:`.builder`) -> trained
run (:mod:`.training`). Importing this package does not import TensorFlow;
:func:`build_model` and :func:`train` do, when called.
"""

from .errors import Problem, SpecError
from .language.spec import Spec
from .language.validation import load_spec, parse_spec, validate

__version__ = "0.1.0"


def build_model(spec, style=None):
    """Build the ``keras.Sequential`` of ``spec``; see :func:`fmnist_spec.to_keras.builder.build_model`."""
    from .to_keras.builder import build_model as _build

    return _build(spec, style)


def train(spec, **kwargs):
    """Train ``spec`` on Fashion-MNIST; see :func:`fmnist_spec.running.train.train`."""
    from .running.train import train as _train

    return _train(spec, **kwargs)


def search_spec(spec, **kwargs):
    """Run the study of ``spec``'s ``search`` section on Optuna; see :func:`fmnist_spec.search.run_search`."""
    from .search.run import run_search

    return run_search(spec, **kwargs)


def load_model(path):
    """Load a saved model safely; see :func:`fmnist_spec.to_keras.builder.load_model`."""
    from .to_keras.builder import load_model as _load

    return _load(path)


__all__ = ["Problem", "Spec", "SpecError", "__version__", "build_model", "load_model", "load_spec",
           "parse_spec", "search_spec", "train", "validate"]
