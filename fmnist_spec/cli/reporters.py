"""Reporters: a command's result as text for people or as JSON for programs.

Text goes to stdout; problems, warnings, notes and progress to stderr. Every
JSON reporter prints one object of the same shape (docs/cli.md)::

    {"command": "validate", "exit_status": 0, "problems": [...], "error": null, "result": ...}

``problems`` are :class:`fmnist_spec.errors.Problem` dicts (errors and
warnings), ``error`` is ``{"message", "hint"}`` when the command stopped on
something that is not a spec problem, and ``result`` is the command's own
part (null when it stopped). ``validate``, ``build``, ``compare`` and ``search``
have ``--format json``.
"""

from __future__ import annotations

import json
import sys

from ..errors import Problem


def print_problems(problems) -> None:
    """Each problem's text form (``file:line:col: path: message`` and hint) on stderr."""
    for problem in problems:
        print(problem.render(), file=sys.stderr)


def envelope(command: str, exit_status: int, problems=(), result=None, error=None) -> str:
    """The JSON object every ``--format json`` prints (see the module docstring)."""
    return json.dumps({"command": command, "exit_status": exit_status,
                       "problems": [p.to_dict() for p in problems if isinstance(p, Problem)],
                       "error": error, "result": result}, ensure_ascii=False, indent=2) + "\n"


# --- text --------------------------------------------------------------------------------------


def validate_text(result, args) -> None:
    from ..language.shapes import summary_table

    for checked in result.specs:
        print_problems(checked.problems)
        if not checked.valid:
            continue
        n_train, n_val, n_test = checked.split
        print(f"{checked.file}: valid ({len(checked.rows)} layers, "
              f"{sum(r.params for r in checked.rows):,} parameters; "
              f"data split {n_train:,} training / {n_val:,} validation / {n_test:,} test images)")
        if args.summary:
            print(summary_table(checked.rows, checked.name))


def build_text(result, args) -> None:
    print_problems(result.warnings)
    facts = result.facts
    if result.summary:
        print("\n".join(result.summary))
    else:
        print(f"built {facts['name']!r}: {len(facts['layers'])} layers, {facts['parameters']:,} parameters "
              f"({facts['style']} style)")
    if result.saved:
        print(f"saved {result.saved}")
    if result.plotted:
        print(f"drew {result.plotted} (keras.utils.plot_model)")


def text_text(result, args) -> None:
    print_problems(result.warnings)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.output:
        print(result.done)
    else:
        sys.stdout.write(result.text)


def train_text(outcome, args) -> None:
    from ..running.device import device_text

    print_problems(outcome.spec.warnings)
    result, m, name = outcome.result, outcome.metrics, outcome.spec.name
    if not result.is_chief:
        print(f"\n{name}: this worker finished {m.epochs} epochs; the chief writes the run folder "
              f"(validation accuracy {m.validation.get('accuracy', float('nan')):.4f})")
        print(f"log: {result.out_dir}")
        return
    if m.status == "nan_loss":
        print(f"error: {m.message}\n  hint: lower the learning rate, check data.scale, or use a bounded "
              f"activation; the run folder {result.out_dir} records status nan_loss", file=sys.stderr)
        return
    if m.status != "finished":
        print(f"error: the run ended with status {m.status}: {m.message}\n"
              f"  hint: the run folder {result.out_dir} keeps what was done", file=sys.stderr)
        return
    train_acc = m.train.get("accuracy", m.train.get("sparse_categorical_accuracy"))
    done = getattr(m, "epochs_finished", m.epochs)
    epochs = f"{done} epoch" + ("s" if done != 1 else "")
    policy = getattr(m, "dtype_policy", "float32")
    policy = f", dtype policy {policy}" if policy != "float32" else ""
    where = device_text(getattr(m, "device", None) or {})
    print(f"\n{name}: {epochs} in {m.fit_seconds:.1f} s on {m.samples['train']:,} images ({m.data_source})"
          + (f" on {where}" if where else "") + policy)
    print("\n".join(m.figure_lines()))
    if getattr(m, "stopped_epoch", None) is not None:
        print(f"  early stopping after epoch {m.stopped_epoch} of {m.epochs} (Keras's 0-based "
              f"stopped_epoch: {m.stopped_epoch - 1})")
    if getattr(m, "best_epoch", None) is not None:
        print(f"  best epoch {m.best_epoch}: {m.monitor} {m.best:.4f}")
    if train_acc is None:
        print("  (add 'metrics: [accuracy]' to compile to see accuracy)")
    print(f"run folder: {result.out_dir} (learning curves: {result.out_dir / 'learning_curves.png'}, "
          f"epoch log: {result.out_dir / 'log.csv'})")
    if outcome.tensorboard:
        print(f"TensorBoard logs: {outcome.tensorboard} "
              f"(view with: tensorboard --logdir {outcome.tensorboard})")


def compare_text(outcome, args) -> None:
    from ..tools.compare import to_text

    result = outcome.result
    print()
    sys.stdout.write(to_text(result.rows))
    out = result.out_dir
    print(f"tables: {out / 'comparison.csv'}, {out / 'comparison.md'}; curves: {out / 'learning_curves.png'}")


def search_text(outcome, args) -> None:
    from ..search.report import leaderboard_text

    print_problems(outcome.spec.warnings)
    r = outcome.result
    print()
    sys.stdout.write(leaderboard_text(r.rows, r.objective))
    print(r.status())
    if r.best_number is None:
        print("no trial completed: no best.yaml", file=sys.stderr)
    else:
        values = " ".join(f"{path}={text}" for path, text in r.best_values.items())
        print(f"best: trial {r.best_number}, {r.objective} {r.best_value:.4f}: {values}")
        print(f"best.yaml: {r.best_yaml} (train it again: fmnist-spec train {r.best_yaml})")
    print(f"study.json: {r.study_json}; trials: {r.out_dir / 'trials'}"
          + (f"; pictures: {', '.join(p.name for p in r.pictures)}" if r.pictures else ""))
    for note in r.notes:
        print(f"note: {note}", file=sys.stderr)


def evaluate_text(outcome, args) -> None:
    for note in outcome.notes:
        print(f"note: {note}", file=sys.stderr)
    sys.stdout.write(outcome.report)
    if outcome.confusion:
        print(f"confusion matrix: {outcome.confusion}")


def predict_text(outcome, args) -> None:
    for p in outcome.predictions:
        print(f"{p.path}: {p.name} ({p.probability:.3f})")


# --- JSON --------------------------------------------------------------------------------------


def summary_rows(rows) -> list[dict]:
    """``validate``'s per-layer rows: ``name``, ``type``, ``output_shape`` (null for the batch
    axis), ``parameters``, ``trainable_parameters``, ``non_trainable_parameters``."""
    return [{"name": r.name, "type": r.type, "output_shape": list(r.output_shape), "parameters": r.params,
             "trainable_parameters": r.trainable, "non_trainable_parameters": r.non_trainable}
            for r in rows]


def _checked_json(c) -> dict:
    if not c.valid:
        return {"file": c.file, "valid": False, "name": None, "layers": None, "parameters": None,
                "trainable_parameters": None, "non_trainable_parameters": None, "split": None,
                "summary": None}
    non_trainable = sum(r.non_trainable for r in c.rows)
    total = sum(r.params for r in c.rows)
    return {"file": c.file, "valid": True, "name": c.name, "layers": len(c.rows), "parameters": total,
            "trainable_parameters": total - non_trainable, "non_trainable_parameters": non_trainable,
            "split": dict(zip(("train", "validation", "test"), c.split)), "summary": summary_rows(c.rows)}


def validate_json(result, args) -> None:
    specs = [_checked_json(c) for c in result.specs]
    sys.stdout.write(envelope("validate", result.exit_status, result.problems, specs))


def build_json(result, args) -> None:
    facts = {**result.facts, "saved": result.saved, "plotted": result.plotted}
    sys.stdout.write(envelope("build", result.exit_status, result.warnings, facts))


def search_json(outcome, args) -> None:
    sys.stdout.write(envelope("search", outcome.exit_status, outcome.spec.warnings, outcome.result.to_dict()))


def compare_json(outcome, args) -> None:
    sys.stdout.write(envelope("compare", outcome.exit_status, (), outcome.result.rows))


TEXT = {"validate": validate_text, "schema": text_text, "build": build_text, "train": train_text,
        "codegen": text_text, "render": text_text, "export": text_text, "compare": compare_text,
        "evaluate": evaluate_text, "predict": predict_text, "inspect": text_text, "search": search_text}
"""Command -> text reporter."""

JSON = {"validate": validate_json, "build": build_json, "compare": compare_json, "search": search_json}
"""Command -> JSON reporter (the commands with ``--format json``)."""


def report(command: str, result, args) -> None:
    """Hand ``result`` to the reporter of ``command`` in ``args.format`` (text by default)."""
    as_json = getattr(args, "format", "text") == "json"
    (JSON if as_json else TEXT)[command](result, args)
