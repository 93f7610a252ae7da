
import pytest

from fmnist_spec.errors import SpecError
from fmnist_spec.source.yaml_source import MAX_BYTES, parse_text, read_source


def test_yaml_12_scalars_are_read_as_a_user_means_them():
    data = parse_text("a: 1e-3\nb: yes\nc: 010\nd: 0o10\ne: ~\nf: '.inf'\ng: None\nh: true\n").data
    assert data == {"a": 0.001, "b": "yes", "c": 10, "d": 8, "e": None, "f": ".inf", "g": "None", "h": True}


def test_positions_are_one_based_for_values_and_keys():
    source = parse_text("spec_version: 1\nlayers:\n  - {units: 10}\n")
    assert source.positions[("layers", 0, "units")] == (3, 13)
    assert source.key_positions[("layers", 0, "units")] == (3, 6)
    assert source.locate(("layers", 0, "missing")) == (3, 5)


def test_duplicate_key_is_rejected_at_its_line():
    with pytest.raises(SpecError) as err:
        parse_text("a: 1\nb: 2\na: 3\n", "x.yaml")
    assert (err.value.line, err.value.column, err.value.path) == (3, 1, "a")
    assert "first given at line 1" in err.value.message


def test_every_duplicate_is_reported_in_one_run():
    with pytest.raises(SpecError) as err:
        parse_text("a: 1\na: 2\nb: {c: 1, c: 2}\n")
    assert [(p.line, p.column) for p in err.value.problems] == [(2, 1), (3, 11)]


@pytest.mark.parametrize("text", ["a: !!python/object/apply:os.system ['true']",
                                  "a: !!binary aGVsbG8=", "a: !custom 1", "!!set {a, b}"])
def test_non_core_tags_are_rejected(text):
    with pytest.raises(SpecError) as err:
        parse_text(text)
    assert "not allowed" in err.value.message


def test_alias_bomb_is_refused_quickly():
    rows = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        rows.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(SpecError) as err:
        parse_text("\n".join(rows))
    assert "nodes" in err.value.message


def test_deep_nesting_is_refused():
    with pytest.raises(SpecError) as err:
        parse_text("a: " + "[" * 200 + "]" * 200)
    assert "nesting" in err.value.message


def test_merge_keys_are_refused():
    with pytest.raises(SpecError) as err:
        parse_text("base: &b {units: 10}\nlayer: {<<: *b}\n")
    assert "merge" in err.value.message


def test_missing_file_and_directory_are_spec_errors(tmp_path):
    with pytest.raises(SpecError) as err:
        read_source(tmp_path / "nope.yaml")
    assert err.value.message == "no such file" and err.value.line is None
    with pytest.raises(SpecError) as err:
        read_source(tmp_path)
    assert "directory" in err.value.message


def test_oversized_file_is_refused_before_parsing(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * (MAX_BYTES + 10))
    with pytest.raises(SpecError) as err:
        read_source(big)
    assert "larger than" in err.value.message


def test_non_utf8_bytes_are_located(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"spec_version: 1\nname: caf\xe9\n")
    with pytest.raises(SpecError) as err:
        read_source(path)
    assert (err.value.line, err.value.column) == (2, 10)
