"""The fitter of ``multi_worker_mirrored``: this process is one worker of a cluster.

Build in ``MultiWorkerMirroredStrategy.scope()``, train with the strategy's own
step (:class:`fmnist_spec.running.distributed.strategy_loop.StrategyLoop`), guarded by a
:class:`fmnist_spec.running.distributed.strategy.Watchdog`. The callbacks are those
of every fitter (``log.csv``, NaN stop, the spec's ``fit.callbacks``) except
``BackupAndRestore``: this loop is not ``model.fit``, so such a run cannot be resumed
(refused before training). The other workers run the spec's ``EarlyStopping`` and
``ReduceLROnPlateau`` too (their validation figures are the same all-reduced ones, so
every worker stops in the same epoch), without ``ModelCheckpoint`` (they write no files). Every
worker writes ``<target>/worker-<i>.log``; only the chief writes the run folder.
"""

from __future__ import annotations

import sys
import time

from ..fit import Fitted, Job, _build, _stop_on_nan, callbacks, last_validation, seed_everything
from ..fitters import register_fitter
from ..monitored import restores_best_weights, spec_callbacks
from .cluster import Cluster, DistributeError, cluster_from_env, rendezvous, timeout_message


def job_cluster(spec) -> Cluster:
    """The cluster of a spec: ``distribute.workers``/``worker_index``, else ``TF_CONFIG``,
    else one worker on this machine."""
    settings = spec.distribute
    if settings.workers is not None:
        return Cluster(tuple(settings.workers), settings.worker_index or 0)
    return cluster_from_env() or Cluster(("localhost:0",), 0)


@register_fitter("multi_worker_mirrored")
def fit_multi_worker(job: Job) -> Fitted:
    """Train ``job.spec`` as one worker of ``job.cluster``.

    Raises:
        DistributeError: the cluster did not form, or a collective step failed (a
            worker that waits longer than ``distribute.timeout_seconds`` exits with status 1).
    """
    from .strategy import Watchdog, WorkerLog, global_batch_size, guarded, make_dataset, make_strategy

    spec, splits, cluster = job.spec, job.splits, job.cluster
    log = WorkerLog(job.logs.worker_log(cluster.name), cluster.name)
    timeout = spec.distribute.timeout_seconds

    def expire(phase, waited):
        message = timeout_message(cluster, phase, timeout)
        log(message)
        print(message, file=sys.stderr, flush=True)

    log(f"starting: {cluster.name} of {len(cluster.workers)} worker(s) {', '.join(cluster.workers)}"
        f"{' (chief)' if cluster.is_chief else ''}, timeout {timeout:g} s")
    import tensorflow as tf

    from .strategy_loop import StrategyLoop

    try:
        waited = rendezvous(cluster, timeout, log)
    except DistributeError as exc:
        log(str(exc))
        log.close()
        raise
    log(f"every worker answered after {waited:.1f} s; forming the TensorFlow cluster "
        f"(a worker still stuck after {timeout:g} s exits with status 1)")
    watchdog = Watchdog(timeout, expire, "building the model")
    try:
        try:
            with guarded(timeout, log.file):
                strategy = make_strategy(spec.distribute, cluster if spec.distribute.workers is not None else None)
            watchdog.start()
            replicas = strategy.num_replicas_in_sync
            log(f"cluster formed: {replicas} replica(s) in sync")
            seed_everything(spec.seed)
            model = _build(spec, strategy)
            loop = StrategyLoop(model, strategy, spec, watchdog.beat)
            batch = global_batch_size(spec.distribute, spec.batch_size, replicas)
            seed = spec.seed if spec.seed is not None else (spec.random_state or 0)
            train_ds = make_dataset(splits.x_train, splits.y_train, batch, shuffle=True, seed=seed)
            val_ds = make_dataset(splits.x_val, splits.y_val, batch)
            test_ds = make_dataset(splits.x_test, splits.y_test, batch)
            echo = (lambda line: (log(line), print(line, flush=True))) if job.verbose != 0 else log
            nan_watch = _stop_on_nan()
            import keras

            if job.work is not None:
                listed = callbacks(job, nan_watch, backup=False)
            else:  # another worker: no files, but the same EarlyStopping/ReduceLROnPlateau decisions
                listed = [nan_watch] + spec_callbacks(spec, None, lambda epochs: {}, None)  # never resumed
            start = time.perf_counter()
            history = loop.fit(train_ds, val_ds, spec.epochs, log=echo,
                               callbacks=keras.callbacks.CallbackList(listed, model=model))
            seconds = time.perf_counter() - start
            setup = {"strategy": "multi_worker_mirrored", "replicas": replicas,
                     "workers": len(cluster.workers) + (1 if cluster.chief else 0), "global_batch_size": batch}
            if nan_watch.where is not None:
                log(f"stopped: the loss became NaN in epoch {nan_watch.where[0] + 1}")
                return Fitted(model, history, {}, {}, seconds, setup, cluster.is_chief, nan_watch.where)
            validation = None  # StrategyLoop validates every epoch; after a restore of the best weights, again
            if not restores_best_weights(spec):
                validation = last_validation(history, spec.epochs)
            validation = validation or loop.evaluate(val_ds, "evaluating the validation set")
            test = loop.evaluate(test_ds, "evaluating the test set")
        except tf.errors.OpError as exc:
            from ...to_keras.compat import tensorflow_error_cause

            first = tensorflow_error_cause(exc.message or str(exc))
            log(f"failed while {watchdog.phase}: {type(exc).__name__}: {first}")
            raise DistributeError(f"{cluster.name} failed while {watchdog.phase}: {type(exc).__name__}: {first}\n"
                                  "  hint: another worker probably stopped; see its log") from None
        log(f"trained: validation {validation}, test {test}")
        return Fitted(model, history, validation, test, seconds, setup, cluster.is_chief)
    finally:
        watchdog.stop()
        log.close()
