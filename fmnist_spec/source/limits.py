"""Limits on spec documents, checked before anything large is built.

Nesting depth and list lengths are checked while PyYAML streams parser events,
before its recursive composer runs (so ``[[[[...]]]]`` 100,000 levels deep is
an error at its position, not a RecursionError). Alias expansion ("billion
laughs") is measured on the composed node graph, where aliases are shared
nodes, before any value is built.
"""

from __future__ import annotations

import yaml

from ..errors import Problem, SpecError
from .yaml12 import Yaml12Loader

MAX_BYTES = 256 * 1024
"""Largest spec file accepted, in bytes (a 100-layer spec is about 6 KB)."""
MAX_DEPTH = 20
"""Deepest nesting of mappings and sequences accepted."""
MAX_ITEMS = 1_000
"""Longest list accepted (the schema's limit on ``layers``)."""
MAX_LAYERS = 100
"""Most layers accepted in ``layers``. Keras builds a ``Sequential`` through
``Function._build_map_helper`` (``keras/src/ops/function.py``), which recurses
once per layer: about 980 layers exhaust Python's default recursion limit of
1,000 in both styles. Far below that, time is the limit: ``Sequential.add``
rebuilds the whole model each time, and ``Sequential.from_config`` (every
load) adds one layer at a time, so building in the add style and loading
cost n(n+1)/2 layer calls: 20,100 for 200 layers (36 s to load on 2 busy
cores), 5,050 for 100 (see docs/limits.md)."""
MAX_NODES = 20_000
"""Most nodes a document may expand to, counting each use of an alias."""


def check_structure(text: str, file: str) -> None:
    """Refuse deep nesting and overlong lists while streaming parser events.

    Runs before PyYAML's (recursive) composer builds anything, so that
    ``[[[[...]]]]`` ten thousand levels deep or a list of 50,000 layers is an
    error at its position within a fraction of a second, not a RecursionError
    or a long wait: parsing stops at the first item past a limit.
    """
    loader = Yaml12Loader(text)
    stack: list = []  # [is_mapping, children seen, key of the value being read]
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
                continue
            if not isinstance(event, (yaml.NodeEvent, yaml.CollectionStartEvent)):
                continue
            if stack:
                _count_child(stack, event, file)
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append([isinstance(event, yaml.MappingStartEvent), 0, None])
                if len(stack) > MAX_DEPTH + 1:
                    raise SpecError(
                        [
                            _event_problem(
                                file,
                                event,
                                "",
                                f"nesting deeper than {MAX_DEPTH} levels",
                                "a spec nests a few levels at most: layers -> layer -> input_shape",
                            )
                        ]
                    )
    finally:
        loader.dispose()


def _count_child(stack: list, event, file: str) -> None:
    top = stack[-1]
    top[1] += 1
    if top[0]:
        if top[1] % 2 == 1:  # a key
            top[2] = event.value if isinstance(event, yaml.ScalarEvent) else None
        return
    is_layers = len(stack) == 2 and stack[0][0] and stack[0][2] == "layers"
    limit = MAX_LAYERS if is_layers else MAX_ITEMS
    if top[1] <= limit:
        return
    what = "layers" if is_layers else "items in one list"
    raise SpecError(
        [
            _event_problem(
                file,
                event,
                "layers" if is_layers else "",
                f"more than {limit:,} {what}; the limit is {limit:,}",
                LAYERS_HINT if is_layers else "a spec's lists are short",
            )
        ]
    )


LAYERS_HINT = "Keras builds, trains and saves deeper Sequential models only slowly (see docs/limits.md); remove layers"


def _event_problem(file: str, event, path: str, message: str, hint: str) -> Problem:
    mark = event.start_mark
    return Problem(file, mark.line + 1, mark.column + 1, path, message, hint)


def _expanded_sizes(root) -> dict:
    """id(node) -> number of nodes it expands to, each alias use counted (iterative, memoised)."""
    sizes: dict = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children = (
            []
            if isinstance(node, yaml.ScalarNode)
            else (node.value if isinstance(node, yaml.SequenceNode) else [v for _, v in node.value])
        )
        if done or not children:
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes


def check_size(root, file: str) -> None:
    """Refuse documents that expand beyond MAX_NODES ("billion laughs"), before expanding them.

    The error points at the smallest mapping or sequence that is too large on
    its own, which is where the aliases multiply.
    """
    sizes = _expanded_sizes(root)
    if sizes[id(root)] <= MAX_NODES:
        return
    node = root
    while True:
        children = (
            []
            if isinstance(node, yaml.ScalarNode)
            else (node.value if isinstance(node, yaml.SequenceNode) else [v for _, v in node.value])
        )
        big = [c for c in children if sizes[id(c)] > MAX_NODES]
        if not big:
            break
        node = big[0]
    mark = node.start_mark
    raise SpecError(
        [
            Problem(
                file,
                mark.line + 1,
                mark.column + 1,
                "",
                f"this value expands to {sizes[id(node)]:,} nodes, more than the limit of {MAX_NODES:,} "
                "(anchors and aliases multiply it)",
                "a spec is small; write the values out instead of nesting aliases",
            )
        ]
    )
