"""Loading specs: `base:` inheritance, `--set` overrides, shorthands, provenance and round trips."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from kerascv_suite.cli import main
from kerascv_suite.registry import load_components
from kerascv_suite.spec import (
    DEFAULT_SPEC,
    SpecError,
    dump_spec,
    load_resolved,
    load_spec,
    origin_of,
    resolved,
    show_spec,
    spec_hash,
)


@pytest.fixture(scope="module", autouse=True)
def _components():
    load_components()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def points_at(origin: str, file: str, line: int) -> bool:
    """Whether an origin is FILE:LINE (the file may be given relative or absolute)."""
    return re.fullmatch(rf"(\S*/)?{re.escape(file)}:{line}", origin) is not None


def show_lines(spec) -> dict[str, str]:
    """`show_spec` as {'  batch_size: 16': 'origin'} for the lines that carry an origin."""
    out = {}
    for line in show_spec(spec).splitlines():
        if "#" in line:
            text, _, origin = line.partition("# ")
            out[text.rstrip()] = origin
    return out


# --- base inheritance -------------------------------------------------------------------------


BASE = """
    name: base_name
    model: {name: lenet5, activation: relu, pooling: max}
    data:
      batch_size: 16
      seed: 3
      preprocess:
        - {name: resize, size: [32, 32]}
        - rescale
    train:
      epochs: 5
      metrics: [accuracy]
"""


def test_base_merges_mappings_and_replaces_lists_and_scalars(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    spec = load_spec(write(tmp_path, "spec.yaml", """
        base: base.yaml
        name: child
        model: {name: lenet5, pooling: average}
        data:
          batch_size: 8
          preprocess: [rescale]
        train:
          epochs: 7
    """))
    assert spec.name == "child"                                  # scalar replaced
    assert (spec.model.activation, spec.model.pooling) == ("relu", "average")  # same component: merged key by key
    assert (spec.data.batch_size, spec.data.seed) == (8, 3)      # mapping merged key by key
    assert [op.name for op in spec.data.preprocess] == ["rescale"]  # list replaced, not appended or merged
    assert spec.data.preprocess[0].scale == pytest.approx(1 / 255)
    assert [m.name for m in spec.train.metrics] == ["accuracy"]  # untouched keys of the base stay
    assert spec.train.epochs == 7


def test_list_of_bases_merge_in_order_then_the_spec(tmp_path):
    write(tmp_path, "a.yaml", """
        name: from_a
        model: lenet5
        data: {batch_size: 16, seed: 1}
        train: {epochs: 2}
    """)
    write(tmp_path, "sub/b.yaml", """
        data:
          batch_size: 32
        train:
          seed: 9
    """)
    spec = load_spec(write(tmp_path, "spec.yaml", """
        base: [a.yaml, sub/b.yaml]
        train:
          epochs: 4
    """))
    assert spec.name == "from_a"
    assert spec.data.batch_size == 32       # b over a
    assert spec.data.seed == 1              # only a sets it
    assert spec.train.seed == 9             # only b sets it
    assert spec.train.epochs == 4           # the spec over both
    assert points_at(origin_of(spec, ("data", "batch_size")), "b.yaml", 2)
    assert points_at(origin_of(spec, ("data", "seed")), "a.yaml", 3)
    assert points_at(origin_of(spec, ("train", "epochs")), "spec.yaml", 3)


def test_base_relative_to_the_spec_that_names_it(tmp_path):
    write(tmp_path, "shared/root.yaml", "model: lenet5\ndata: {batch_size: 5}\n")
    write(tmp_path, "shared/middle.yaml", "base: root.yaml\nname: middle\n")
    spec = load_spec(write(tmp_path, "pipelines/spec.yaml", "base: ../shared/middle.yaml\n"))
    assert (spec.name, spec.model.name, spec.data.batch_size) == ("middle", "lenet5", 5)


def test_renamed_component_replaces_the_base_component_whole(tmp_path):
    write(tmp_path, "base.yaml", """
        name: t
        model: {name: mlp, hidden: [64, 32], dropout: 0.5}
        optimizer: {name: sgd, momentum: 0.9, nesterov: true}
    """)
    spec = load_spec(write(tmp_path, "spec.yaml", """
        base: base.yaml
        model: {name: lenet5, pooling: max}
        optimizer: adam
    """))
    # mlp's hidden/dropout would be unknown keys of lenet5: nothing of the base's model leaks.
    assert spec.model.model_dump() == {"name": "lenet5", "activation": "tanh", "pooling": "max", "fractional_ratio": 1.414}
    assert spec.optimizer.name == "adam" and not hasattr(spec.optimizer, "momentum")
    assert origin_of(spec, ("model", "activation")) == "default"
    assert points_at(origin_of(spec, ("model", "pooling")), "spec.yaml", 2)
    assert points_at(origin_of(spec, ("optimizer", "name")), "spec.yaml", 3)


def test_same_component_in_base_and_spec_merges(tmp_path):
    write(tmp_path, "base.yaml", "name: t\nmodel: {name: mlp, hidden: [64, 32], dropout: 0.5}\n")
    spec = load_spec(write(tmp_path, "spec.yaml", "base: base.yaml\nmodel: {name: mlp, dropout: 0.1}\n"))
    assert spec.model.hidden == [64, 32]
    assert spec.model.dropout == 0.1


def test_spec_name_differing_from_the_base_name_is_not_a_component_rename(tmp_path):
    # The spec's own `name` is not a component's: the base's sections must still be inherited.
    write(tmp_path, "base.yaml", "name: base_run\nmodel: lenet5\ndata: {batch_size: 12}\n")
    spec = load_spec(write(tmp_path, "spec.yaml", "base: base.yaml\nname: child_run\n"))
    assert (spec.name, spec.model.name, spec.data.batch_size) == ("child_run", "lenet5", 12)


def test_base_cycle_is_a_clear_error(tmp_path):
    write(tmp_path, "a.yaml", "base: b.yaml\nname: a\nmodel: lenet5\n")
    write(tmp_path, "b.yaml", "base: a.yaml\n")
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / "a.yaml")
    [problem] = caught.value.problems
    assert "base specs form a cycle" in problem
    assert re.search(r"a\.yaml -> \S*b\.yaml -> \S*a\.yaml$", problem), problem


def test_spec_that_is_its_own_base(tmp_path):
    with pytest.raises(SpecError, match="base specs form a cycle"):
        load_spec(write(tmp_path, "self.yaml", "base: self.yaml\nname: s\n"))


def test_missing_base_names_the_line(tmp_path):
    spec = write(tmp_path, "spec.yaml", "name: t\nmodel: lenet5\nbase: nowhere.yaml\n")
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    [problem] = caught.value.problems
    assert re.match(r"(\S*/)?spec\.yaml:3: base spec not found: nowhere\.yaml", problem), problem


def test_base_must_be_paths(tmp_path):
    with pytest.raises(SpecError, match=r"spec\.yaml:1: base: must be a path or a list of paths"):
        load_spec(write(tmp_path, "spec.yaml", "base: {a: 1}\nname: t\nmodel: lenet5\n"))


def test_package_base(tmp_path):
    spec = load_spec(write(tmp_path, "spec.yaml", """
        base: package:lenet5_digits.yaml
        name: mine
        model: {pooling: max}
    """))
    packaged = load_spec(DEFAULT_SPEC)
    assert spec.name == "mine"
    assert spec.model == packaged.model.model_copy(update={"pooling": "max"})
    assert spec.data == packaged.data
    assert spec.data.batch_size == 32  # from digits.yaml, the packaged spec's own base
    assert points_at(origin_of(spec, ("data", "batch_size")), "specs/digits.yaml", 8)
    assert points_at(origin_of(spec, ("data", "preprocess")), "specs/lenet5_digits.yaml", 5)
    assert points_at(origin_of(spec, ("model", "pooling")), "spec.yaml", 3)


def test_unknown_package_base(tmp_path):
    with pytest.raises(SpecError, match="base spec not found: package:nope.yaml"):
        load_spec(write(tmp_path, "spec.yaml", "base: package:nope.yaml\n"))


def test_problem_with_the_whole_spec_names_the_spec_file_not_spec(tmp_path):
    write(tmp_path, "base.yaml", "data: {batch_size: 16}\n")
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, "child.yaml", "base: base.yaml\ntrain: {epochs: 2}\n"))
    assert len(caught.value.problems) == 2
    for problem, key in zip(caught.value.problems, ("name", "model")):
        assert re.match(rf"(\S*/)?child\.yaml:1: {key}: required key '{key}' is missing$", problem), problem


def test_error_in_a_base_points_at_the_base(tmp_path):
    write(tmp_path, "base.yaml", "name: t\nmodel: lenet5\ntrain:\n  epochs: 0\n")
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, "spec.yaml", "base: base.yaml\n"))
    [problem] = caught.value.problems
    assert re.match(r"(\S*/)?base\.yaml:4: train\.epochs: 0 is not allowed", problem), problem


# --- provenance -------------------------------------------------------------------------------


def test_show_names_base_spec_set_and_default_origins(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    spec_path = write(tmp_path, "spec.yaml", """
        base: base.yaml
        name: child
        data:
          batch_size: 8
    """)
    spec = load_spec(spec_path, overrides=["train.epochs=3"])
    lines = show_lines(spec)
    assert points_at(lines["  seed: 3"], "base.yaml", 5)
    assert points_at(lines["  batch_size: 8"], "spec.yaml", 4)
    assert points_at(lines['name: "child"'], "spec.yaml", 2)
    assert points_at(lines['  pooling: "max"'], "base.yaml", 2)
    assert lines["  epochs: 3"] == "--set train.epochs=3"
    assert lines["  shuffle_buffer: 10000"] == "default"
    assert lines["  seed: 0"] == "default"  # train.seed: untouched, although train.epochs was --set
    assert lines['  name: "adam"'] == "default"
    # the list item values carry the lines of the base, where the list was written
    assert points_at(lines["      size: [32, 32]"], "base.yaml", 7)
    assert lines['      interpolation: "bilinear"'] == "default"


def test_kcv_show_prints_origins(tmp_path, capsys):
    write(tmp_path, "base.yaml", BASE)
    spec_path = write(tmp_path, "spec.yaml", "base: base.yaml\nname: child\n")
    assert main(["show", str(spec_path), "--set", "data.batch_size=4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  batch_size: 4 +# --set data\.batch_size=4$", out, re.M), out
    assert re.search(r"^  seed: 3 +# (\S*/)?base\.yaml:5$", out, re.M), out
    assert re.search(r'^name: "child" +# (\S*/)?spec\.yaml:2$', out, re.M), out
    assert re.search(r"^  cache: true +# default$", out, re.M), out


def test_set_below_a_missing_section_leaves_sibling_defaults_default(tmp_path):
    spec = load_spec(write(tmp_path, "spec.yaml", "name: t\nmodel: lenet5\n"),
                     overrides=["train.metrics=[accuracy]", "optimizer={name: sgd, momentum: 0.5}"])
    assert origin_of(spec, ("train", "metrics", 0, "name")) == "--set train.metrics=[accuracy]"
    assert origin_of(spec, ("train", "epochs")) == "default"
    assert origin_of(spec, ("optimizer", "momentum")) == "--set optimizer={name: sgd, momentum: 0.5}"
    assert origin_of(spec, ("optimizer", "nesterov")) == "default"


# --- round trip -------------------------------------------------------------------------------


def test_dump_and_load_resolved_round_trip(tmp_path):
    spec = load_spec(DEFAULT_SPEC, overrides=["train.epochs=3"])
    text = dump_spec(spec)
    again = load_resolved(text, str(tmp_path / "spec.yaml"))
    assert again == spec
    assert spec_hash(again) == spec_hash(spec)
    assert dump_spec(again) == text
    assert load_resolved(text, "x.yaml") == load_spec(DEFAULT_SPEC, overrides=["train.epochs=3"])


def test_round_trip_with_nested_components_and_paths(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    spec = load_spec(write(tmp_path, "spec.yaml", f"""
        name: t
        model: {{name: mlp, hidden: [8]}}
        data:
          source: {{name: image_folder, path: {folder}, channels: 1}}
          preprocess: [{{name: resize, size: [16, 16]}}, rescale]
          augment: [random_flip]
        optimizer:
          name: sgd
          learning_rate: {{name: cosine_decay, initial_learning_rate: 0.1, decay_steps: 100}}
        train:
          metrics: [accuracy, {{name: top_k_accuracy, k: 3}}]
    """))
    again = load_resolved(dump_spec(spec), "spec.yaml")
    assert again == spec
    assert spec_hash(again) == spec_hash(spec)
    assert again.optimizer.learning_rate.decay_steps == 100


def test_equal_specs_are_equal_and_different_ones_are_not(tmp_path):
    path = write(tmp_path, "spec.yaml", "name: t\nmodel: lenet5\n")
    first, second = load_spec(path), load_spec(path)
    assert first == second and spec_hash(first) == spec_hash(second)
    other = load_spec(path, overrides=["train.epochs=3"])
    assert other != first
    assert spec_hash(other) != spec_hash(first)


def test_resolved_spec_serialises_without_warnings(tmp_path):
    spec = load_spec(write(tmp_path, "spec.yaml", "name: t\nmodel: lenet5\n"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydantic warns when a default is not of its field's class
        data = resolved(spec)
    assert data["data"]["source"] == {"name": "digits", "classes": None}
    assert data["optimizer"]["name"] == "adam"


# --- overrides and shorthands -----------------------------------------------------------------


def test_overrides_parse_yaml_values():
    spec = load_spec(DEFAULT_SPEC, overrides=[
        "data.preprocess.0.size=[16,16]", "train.epochs=3", "train.jit_compile=false", "name=run_2",
        "data.preprocess.-1.scale=0.5",
    ])
    assert spec.data.preprocess[0].size == (16, 16)
    assert spec.train.epochs == 3 and isinstance(spec.train.epochs, int)
    assert spec.train.jit_compile is False
    assert spec.name == "run_2"
    assert spec.data.preprocess[1].scale == 0.5
    assert origin_of(spec, ("data", "preprocess", 0, "size")) == "--set data.preprocess.0.size=[16,16]"
    assert origin_of(spec, ("data", "preprocess", 1, "scale")) == "--set data.preprocess.-1.scale=0.5"
    assert points_at(origin_of(spec, ("data", "preprocess", 0, "name")), "specs/lenet5_digits.yaml", 6)


def test_override_with_a_component_shorthand():
    spec = load_spec(DEFAULT_SPEC, overrides=["model=mlp", "data.preprocess.1=normalize"])
    assert spec.model.name == "mlp" and spec.model.hidden == [100]
    assert spec.data.preprocess[1].name == "normalize"
    assert origin_of(spec, ("model", "name")) == "--set model=mlp"


def test_later_override_wins():
    spec = load_spec(DEFAULT_SPEC, overrides=["train.epochs=3", "train.epochs=4"])
    assert spec.train.epochs == 4
    assert origin_of(spec, ("train", "epochs")) == "--set train.epochs=4"


def test_component_string_shorthand_equals_mapping(tmp_path):
    short = load_spec(write(tmp_path, "a.yaml", """
        name: t
        model: lenet5
        data: {source: digits, preprocess: [rescale]}
        optimizer: {name: sgd, learning_rate: {name: exponential_decay, initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5}}
        train: {metrics: [accuracy]}
    """))
    long = load_spec(write(tmp_path, "b.yaml", """
        name: t
        model: {name: lenet5}
        data: {source: {name: digits}, preprocess: [{name: rescale}]}
        optimizer: {name: sgd, learning_rate: {name: exponential_decay, initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5}}
        train: {metrics: [{name: accuracy}]}
    """))
    assert short == long
    assert points_at(origin_of(short, ("model", "name")), "a.yaml", 2)


def test_shorthand_in_a_spec_merges_with_the_base_component(tmp_path):
    write(tmp_path, "base.yaml", "name: t\nmodel: {name: lenet5, pooling: max}\n")
    spec = load_spec(write(tmp_path, "spec.yaml", "base: base.yaml\nmodel: lenet5\n"))
    assert spec.model.pooling == "max"


# --- YAML problems ----------------------------------------------------------------------------


def test_duplicate_key_is_an_error_with_its_line(tmp_path):
    path = write(tmp_path, "spec.yaml", """
        name: t
        model: lenet5
        train:
          epochs: 3
          seed: 1
          epochs: 4
    """)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    [problem] = caught.value.problems
    assert re.match(r"(\S*/)?spec\.yaml:6: train\.epochs: duplicate key$", problem), problem


def test_duplicate_keys_in_a_base_are_reported(tmp_path):
    write(tmp_path, "base.yaml", "name: a\nname: b\nmodel: lenet5\nmodel: mlp\n")
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, "spec.yaml", "base: base.yaml\n"))
    assert [p.split(": ", 1)[1] for p in caught.value.problems] == ["name: duplicate key", "model: duplicate key"]
    assert points_at(caught.value.problems[1].split(": ")[0], "base.yaml", 4)


def test_spec_must_be_a_mapping(tmp_path):
    with pytest.raises(SpecError, match=r"spec\.yaml:1: a spec must be a YAML mapping of sections, got list"):
        load_spec(write(tmp_path, "spec.yaml", "- name: t\n"))


def test_python_tags_are_refused(tmp_path):
    with pytest.raises(SpecError, match=r"spec\.yaml:\d+: unreadable YAML"):
        load_spec(write(tmp_path, "spec.yaml", "name: !!python/object/apply:os.system [echo hi]\nmodel: lenet5\n"))


def test_empty_spec_reports_the_required_keys(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, "spec.yaml", ""))
    assert [p.split(": ", 2)[2] for p in caught.value.problems] == ["required key 'name' is missing", "required key 'model' is missing"]


def _billion_laughs(folder: Path) -> Path:
    """Ten aliases of ten aliases, nine levels deep: a billion strings once expanded, in 11 lines."""
    lines = ["name: lol", "model: linear", "a: &a [" + ", ".join(['"lol"'] * 10) + "]"]
    for previous, level in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 10) + "]")
    return write(folder, "laughs.yaml", "\n".join(lines) + "\n")


def test_billion_laughs_is_refused_at_its_alias_within_seconds(tmp_path):
    path = _billion_laughs(tmp_path)
    # in a fresh process with a deadline: before the refusal existed, this load ran for minutes
    done = subprocess.run(
        [sys.executable, "-c", f"from kerascv_suite.spec import load_spec\nload_spec({str(path)!r})"],
        capture_output=True, text=True, timeout=20,
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    # the third alias level (*c, 1,111 nodes each) is the one that crosses 10,000, on line 6
    assert re.search(r"SpecError: \S*laughs\.yaml:6: refused YAML: alias \*c \(1,111 nodes expanded\) takes the "
                     r"document's aliases past 10,000 expanded nodes", last), last


def test_kcv_validate_refuses_billion_laughs_in_one_line(tmp_path, capsys):
    path = _billion_laughs(tmp_path)
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert re.match(r"error: \S*laughs\.yaml:6: refused YAML: .*10,000", line), line
    assert captured.out == ""


def test_recursive_alias_is_refused_in_one_line(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, "spec.yaml", "name: t\nmodel: &m {name: linear, l2: *m}\n"))
    [problem] = caught.value.problems
    assert re.match(r"(\S*/)?spec\.yaml:2: refused YAML: alias \*m is inside the node it names", problem), problem


def test_a_few_legitimate_aliases_still_load(tmp_path):
    spec = load_spec(write(tmp_path, "spec.yaml", """
        base: package:digits.yaml
        name: aliased
        model: {name: linear, l2: &decay 0.0001}
        optimizer: {name: adamw, learning_rate: 0.01, weight_decay: *decay}
        data:
          seed: &seed 3
          splits: &splits {train: 0.6, val: 0.2, test: 0.2}
        train: {seed: *seed, epochs: 2}
    """))
    assert spec.model.l2 == spec.optimizer.weight_decay == 0.0001
    assert spec.data.seed == spec.train.seed == 3
    assert (spec.data.splits.train, spec.data.splits.val, spec.data.splits.test) == (0.6, 0.2, 0.2)
