"""The search stage (above ``running/``): the study of a spec's ``search`` section on Optuna.

One concept per module, as Optuna lays itself out: :mod:`.space` (Optuna's distributions of the
space), :mod:`.storage` (the journal file, or :mod:`.database`), :mod:`.study` (sampler, pruner, the
study and its bookkeeping), :mod:`.liveness` (which trials' workers died), :mod:`.trial` (one trial
through :func:`fmnist_spec.running.train.train`), :mod:`.loop` (a worker's ask-train-tell loop),
:mod:`.worker` (a worker process), :mod:`.report` (leaderboard, ``best.yaml``, ``study.json``,
pictures) and :mod:`.run` (:func:`run_search`). Importing it imports neither TensorFlow nor Optuna.
"""

from .run import SearchError, SearchFailed, SearchInterrupted, SearchResult, default_out_dir, run_search

__all__ = ["SearchError", "SearchFailed", "SearchInterrupted", "SearchResult", "default_out_dir", "run_search"]
