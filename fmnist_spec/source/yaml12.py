"""PyYAML's safe loader with YAML 1.2 core-schema scalars.

``1e-3`` is a float, ``yes``/``no``/``on``/``off`` stay strings, ``010`` is
the decimal 10 (YAML 1.1 reads it as octal 8; :mod:`fmnist_spec.language.spec_warnings`
warns about it). Source: YAML 1.2.2, section 10.3 "Core Schema"
(yaml.org/spec/1.2.2/#103-core-schema).
"""

from __future__ import annotations

import math
import re

import yaml

TAG = "tag:yaml.org,2002:"


class Yaml12Loader(yaml.SafeLoader):
    """SafeLoader whose implicit scalar types follow the YAML 1.2 core schema."""


Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in [
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
]:
    Yaml12Loader.add_implicit_resolver(TAG + _tag, re.compile(_regexp), _first)


LEADING_ZERO = re.compile(r"^[-+]?0[0-9]+$")
"""An integer written with a leading zero, such as 010 (octal 8 in YAML 1.1)."""


def scalar_value(node: yaml.ScalarNode):
    """The Python value of a resolved core-schema scalar node."""
    text, kind = node.value, node.tag[len(TAG) :]
    if kind == "str":
        return text
    if kind == "null":
        return None
    if kind == "bool":
        return text.lower() == "true"
    if kind == "int":
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text, 10)
    if kind == "float":
        low = text.lower().lstrip("+")
        if low in (".inf", "-.inf"):
            return -math.inf if low.startswith("-") else math.inf
        if low == ".nan":
            return math.nan
        return float(text)
    raise AssertionError(kind)  # unreachable: tags are checked before
