"""The pipeline's stages import one way: text -> language -> Keras -> running -> tools -> CLI,
and nothing before to_keras/ imports TensorFlow or Keras (so ``validate`` stays fast)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "fmnist_spec"

STAGES = ("source", "language", "to_keras", "running", "search", "tools", "cli")
"""The subpackages in pipeline order; a module may import only from its own stage or earlier ones."""

SHARED = {"fmnist_spec", "fmnist_spec.errors", "fmnist_spec.files", "fmnist_spec.__main__"}
"""Top-level modules every stage may use (the package's public API imports lazily from all)."""

WITHOUT_TENSORFLOW = sorted(
    [f"fmnist_spec.{p.parent.name}.{p.stem}" for stage in ("source", "language")
     for p in (PACKAGE / stage).glob("*.py") if p.stem != "__init__"]
    + ["fmnist_spec", "fmnist_spec.errors", "fmnist_spec.tools.codegen", "fmnist_spec.tools.render",
       "fmnist_spec.to_keras.compat", "fmnist_spec.to_keras.precision", "fmnist_spec.search"])
"""Modules that must import without TensorFlow or Keras (compat loads them only when called)."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every fmnist_spec import in ``path``, at any depth."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{alias.name}" for alias in node.names] if not node.module else [target]
            found += [(node.lineno, name) for name in names if name.startswith("fmnist_spec")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("fmnist_spec")]
    return found


def _stage(module: str) -> int | None:
    parts = module.split(".")
    return STAGES.index(parts[1]) if len(parts) > 1 and parts[1] in STAGES else None


def _backward_imports() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = _stage(_module_name(path))
        if own is None:
            continue
        for line, target in _imports(path):
            stage = _stage(target)
            if target not in SHARED and stage is not None and stage > own:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return bad


def test_no_stage_imports_a_later_stage():
    assert _backward_imports() == []


def test_import_direction_finder_sees_relative_and_late_imports(tmp_path):
    assert (26, "fmnist_spec.running.train") in _imports(PACKAGE / "__init__.py")
    imports = dict((name, line) for line, name in _imports(PACKAGE / "language" / "validation.py"))
    assert "fmnist_spec.source.compose" in imports  # language may read source
    assert _stage("fmnist_spec.to_keras.layers") > _stage("fmnist_spec.language.registry")


@pytest.mark.parametrize("module", WITHOUT_TENSORFLOW)
def test_module_imports_without_tensorflow_or_keras(module):
    code = (f"import importlib, json, sys; importlib.import_module({module!r}); "
            "print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == []


def test_validating_a_spec_never_imports_tensorflow():
    code = ("import sys; from fmnist_spec import validate, load_spec; "
            f"assert validate({str(ROOT / 'specs' / 'relu_adam.yaml')!r}) == []; "
            f"load_spec({str(ROOT / 'specs' / 'relu_adam.yaml')!r}, ['compile.optimizer.learning_rate=0.01']); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "False"]


def _module_of(name: str, modules: set) -> str | None:
    """The fmnist_spec module ``name`` (a module, or a name inside one) lives in."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict:
    """Module -> the fmnist_spec modules it imports, at any depth (late imports inside functions too)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for module, path in paths.items():
        targets = {_module_of(name, set(paths)) for _, name in _imports(path)}
        graph[module] = {t for t in targets if t and t != module and t != "fmnist_spec"}
    return graph


def import_cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others():
    assert import_cycles(import_graph()) == []


def test_cycle_finder_sees_a_late_import_cycle():
    graph = import_graph()
    assert "fmnist_spec.running.fit" in graph["fmnist_spec.running.distributed.fit_workers"]
    graph["fmnist_spec.running.fit"].add("fmnist_spec.running.distributed.fit_workers")  # the cycle that was
    assert ["fmnist_spec.running.distributed.fit_workers", "fmnist_spec.running.fit"] in import_cycles(graph)


@pytest.mark.parametrize("module", ["fmnist_spec.running.distributed.fit_workers", "fmnist_spec.running.fit",
                                    "fmnist_spec.running.train"])
def test_every_strategy_module_imports_first_in_a_fresh_interpreter(module):
    code = (f"import importlib; importlib.import_module({module!r}); "
            "from fmnist_spec.running.train import fitter; "
            "print(sorted(fitter.__globals__['FITTERS']))")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == "['default', 'mirrored', 'multi_worker_mirrored']"
