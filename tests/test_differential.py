"""Differential test: the static checks against plain ``keras.Sequential`` on random layer stacks.

Each seed is one random spec (``tests/differential.py``): the tool's static checker
(in-process; the CLI for a few) and plain Keras 3 must agree on output shapes,
parameters (total, trainable, non-trainable), layer names, whether the model
builds, and the layer a refusal is located at; where the tool refuses on purpose
what Keras builds, the policy is named in ``differential.expected_error_layers``
and stated in docs/checks.md.

``FMNIST_DIFFERENTIAL_SPECS=5000`` (or ``scripts/differential.py --count 5000``)
runs thousands by hand; the default keeps this file near 60 s on 2 quiet cores.
"""

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from conftest import ROOT
from differential import KINDS, compare, keras_facts, random_layers, spec_text

from fmnist_spec.errors import ERROR
from fmnist_spec.language.validation import check_source
from fmnist_spec.source.yaml_source import parse_text

COUNT = int(os.environ.get("FMNIST_DIFFERENTIAL_SPECS", "240"))
"""Specs compared; the seeds are 0..COUNT-1, so a failure names the seed that reproduces it."""


@pytest.mark.parametrize("seed", range(COUNT))
def test_static_checks_agree_with_plain_keras(seed):
    outcome = compare(seed)
    assert not outcome.disagreements, (f"seed {seed}:\n{outcome.text}\n" + "\n".join(outcome.disagreements))


def _valid(seed):
    return not [p for p in check_source(parse_text(spec_text(random_layers(seed))))[1] if p.severity == ERROR]


@pytest.mark.skipif(COUNT < 240, reason="the coverage figures are for 240 specs or more")
def test_the_seeds_cover_every_layer_kind_and_option_valid_and_faulty():
    layers = [layer for seed in range(COUNT) for layer in random_layers(seed)]
    kinds = Counter(layer.get("type", "Dense") for layer in layers)
    assert set(kinds) == set(KINDS) | {"Input"}, kinds
    options = {(layer.get("type", "Dense"), key, json.dumps(value)) for layer in layers for key, value in layer.items()}
    for kind, key, value in [("Conv2D", "padding", '"same"'), ("Conv2D", "padding", '"valid"'),
                             ("MaxPooling2D", "padding", '"same"'), ("AveragePooling2D", "strides", "null"),
                             ("BatchNormalization", "center", "false"), ("BatchNormalization", "scale", "false"),
                             ("Dense", "use_bias", "false"), ("Conv2D", "use_bias", "false"),
                             ("Dense", "activation", "null"), ("Conv2D", "activation", '"glu"'),
                             ("Reshape", "target_shape", "[-1, -1]")]:
        assert (kind, key, value) in options, (kind, key, value)
    assert any(isinstance(layer.get("kernel_size"), list) for layer in layers)
    assert any("input_shape" in layer for seed in range(COUNT) for layer in random_layers(seed)[1:])
    valid = sum(_valid(seed) for seed in range(COUNT))
    assert COUNT * 0.15 < valid < COUNT * 0.7, valid


def _valid_seeds(count):
    seeds = [seed for seed in range(COUNT) if _valid(seed)
             and any(layer.get("type") == "BatchNormalization" for layer in random_layers(seed))]
    return seeds[:count]


@pytest.mark.parametrize("seed", _valid_seeds(3))
def test_validate_summary_and_json_rows_equal_plain_keras(seed, tmp_path):
    layers = random_layers(seed)
    path = tmp_path / f"seed-{seed}.yaml"
    path.write_text(spec_text(layers))
    done = subprocess.run([sys.executable, "-m", "fmnist_spec", "validate", "--format", "json", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["result"]
    facts = keras_facts(layers)
    rows = [(r["name"], tuple(r["output_shape"]), r["parameters"], r["trainable_parameters"],
             r["non_trainable_parameters"]) for r in result["summary"]]
    assert rows == [(facts.names[i], shape, params, trainable, non_trainable)
                    for i, shape, params, trainable, non_trainable in facts.rows]
    assert result["trainable_parameters"] == sum(r[3] for r in facts.rows)
    assert result["non_trainable_parameters"] == sum(r[4] for r in facts.rows) > 0
    text = subprocess.run([sys.executable, "-m", "fmnist_spec", "validate", "--summary", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False).stdout
    assert f"Trainable params: {result['trainable_parameters']:,} (" in text
    assert f"Non-trainable params: {result['non_trainable_parameters']:,} (" in text
