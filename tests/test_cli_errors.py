"""`kcv` on bad specs: exit status 2, one `error: FILE:LINE: key.path: ...` line per problem,
every problem reported in one pass, and no run folder written (the spec is validated first)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kerascv_suite.cli import main
from kerascv_suite.registry import MODELS, load_components


@pytest.fixture(scope="module", autouse=True)
def _components():
    # Import TensorFlow and the components outside any test's captured output.
    load_components()


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def run_bad(tmp_path: Path, capsys, spec: Path, *extra: str) -> list[str]:
    """`kcv run SPEC --runs-dir tmp/runs ...`: assert status 2, only `error: ` lines, no runs/ folder."""
    runs = tmp_path / "runs"
    status = main(["run", str(spec), "--runs-dir", str(runs), *extra])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert status == 2, (out, err)
    assert lines, "no error printed"
    assert all(line.startswith("error: ") for line in lines), err
    assert "Traceback" not in err
    assert out == ""
    assert not runs.exists(), "a run folder was created for an invalid spec"
    return lines


def at(line: str, file: str, number: int) -> bool:
    """Whether an error line points at FILE:NUMBER (the file may be shown relative or absolute)."""
    return re.match(rf"error: (\S*/)?{re.escape(file)}:{number}: ", line) is not None


# --- one kind of problem per spec -------------------------------------------------------------


def test_unknown_model_name(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: lenet
    """)
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 2), line
    assert "model.name: unknown model 'lenet'" in line
    assert "(did you mean 'lenet5'?)" in line
    assert line.endswith("allowed: " + ", ".join(MODELS.names()))


def test_misspelled_key(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: lenet5
        data:
          batchsize: 8
    """)
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 4), line
    assert "data.batchsize: unknown key 'batchsize' (did you mean 'batch_size'?)" in line
    allowed = line.split("allowed: ")[1].split(", ")
    assert {"batch_size", "preprocess", "augment", "source", "splits"} <= set(allowed)


def test_misspelled_component_parameter_names_the_component(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: {name: lenet5, poolin: max}
    """)
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 2), line
    assert "model.poolin: unknown key 'poolin' of model 'lenet5' (did you mean 'pooling'?)" in line
    assert line.endswith("allowed: activation, fractional_ratio, name, pooling")


def test_wrong_type(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: lenet5
        train:
          epochs: ten
    """)
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 4), line
    assert "train.epochs: 'ten' is not allowed" in line
    assert "valid integer" in line


def test_negative_batch_size(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: lenet5
        data: {batch_size: -3}
    """)
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 3), line
    assert "data.batch_size: -3 is not allowed" in line
    assert "greater than 0" in line


def test_missing_data_folder(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    spec = write(tmp_path, f"""
        name: t
        model: lenet5
        data:
          source: {{name: image_folder, path: {missing}}}
    """)
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 4), line
    assert f"data.source.path: directory not found: {missing}" in line


def test_unreadable_yaml_names_the_line(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: {name: lenet5
        data: [
    """)
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 3), line
    assert "unreadable YAML" in line


def test_missing_spec_file(tmp_path, capsys):
    [line] = run_bad(tmp_path, capsys, tmp_path / "nope.yaml")
    assert line.endswith("nope.yaml: spec file not found")


def test_unknown_override_key(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: lenet5
    """)
    [line] = run_bad(tmp_path, capsys, spec, "--set", "model.dept=3")
    assert line.startswith("error: --set model.dept=3: model.dept: unknown key 'dept' of model 'lenet5'")
    assert line.endswith("allowed: activation, fractional_ratio, name, pooling")


@pytest.mark.parametrize("in_spec", [True, False], ids=["set-in-spec", "default"])
def test_override_below_a_value(tmp_path, capsys, in_spec):
    # data.batch_size holds a number, whether the spec wrote it or it is the default: no section below it.
    spec = write(tmp_path, "name: t\nmodel: lenet5\n" + ("data: {batch_size: 8}\n" if in_spec else ""))
    [line] = run_bad(tmp_path, capsys, spec, "--set", "data.batch_size.x=1")
    assert line.startswith("error: --set data.batch_size.x=1: ")
    assert "unknown override path: 'data.batch_size' is not a section" in line


def test_override_of_a_missing_list_item(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: lenet5
        data: {preprocess: [rescale]}
    """)
    lines = run_bad(tmp_path, capsys, spec, "--set", "data.preprocess.3.scale=2", "--set", "data.augment.0.size=[8,8]")
    assert lines == [
        "error: --set data.preprocess.3.scale=2: unknown override path: no item 3 in 'data.preprocess'",
        "error: --set data.augment.0.size=[8,8]: unknown override path: no item 0 in 'data.augment'",
    ]


def test_override_without_equals(tmp_path, capsys):
    spec = write(tmp_path, "name: t\nmodel: lenet5\n")
    [line] = run_bad(tmp_path, capsys, spec, "--set", "train.epochs")
    assert line == "error: --set train.epochs: expected KEY=VALUE, e.g. --set model.depth=56"


def test_bad_split_fractions(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: lenet5
        data:
          splits: {train: 0.5, val: 0.2, test: 0.2}
    """)
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 4), line
    assert "data.splits:" in line
    assert "sum to 1" in line
    assert "train=0.5, val=0.2, test=0.2 (sum 0.9)" in line


def test_value_that_fits_no_alternative_is_one_line(tmp_path, capsys):
    # jit_compile is "auto" or a bool: one problem, one line, named by the spec's own key path.
    spec = write(tmp_path, """
        name: t
        model: lenet5
        train: {jit_compile: maybe}
    """)
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 3), line
    assert "train.jit_compile: 'maybe' is not allowed: Input should be 'auto', or Input should be a valid boolean" in line


def test_unknown_schedule_in_a_number_or_schedule_slot(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: lenet5
        optimizer:
          name: sgd
          learning_rate: {name: cosine, decay_steps: 10}
    """)
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 5), line
    assert "optimizer.learning_rate.name: unknown schedule 'cosine' (did you mean 'cosine_decay'?)" in line


def test_missing_required_parameter_of_a_nested_component(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: lenet5
        optimizer: {name: sgd, learning_rate: {name: cosine_decay, decay_steps: 10}}
    """)
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 3), line
    assert "optimizer.learning_rate.initial_learning_rate: required key 'initial_learning_rate' of schedule 'cosine_decay' is missing" in line


def test_missing_name_and_model(tmp_path, capsys):
    spec = write(tmp_path, "train: {epochs: 2}\n")
    lines = run_bad(tmp_path, capsys, spec)
    assert len(lines) == 2
    assert at(lines[0], "spec.yaml", 1) and "name: required key 'name' is missing" in lines[0]
    assert at(lines[1], "spec.yaml", 1) and "model: required key 'model' is missing" in lines[1]


# --- several problems, one pass ---------------------------------------------------------------


def test_every_problem_is_reported_in_one_pass(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: lenet
        data:
          batchsize: 8
        train:
          epochs: ten
    """)
    lines = run_bad(tmp_path, capsys, spec)
    assert len(lines) == 3, lines
    joined = "\n".join(lines)
    assert "model.name: unknown model 'lenet' (did you mean 'lenet5'?)" in joined
    assert "data.batchsize: unknown key 'batchsize' (did you mean 'batch_size'?)" in joined
    assert "train.epochs: 'ten' is not allowed" in joined
    by_key = {line.split(": ")[2]: line for line in lines}
    assert at(by_key["model.name"], "spec.yaml", 2)
    assert at(by_key["data.batchsize"], "spec.yaml", 4)
    assert at(by_key["train.epochs"], "spec.yaml", 6)


def test_spec_and_override_problems_together(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: lenet5
        data: {batch_size: 0}
    """)
    lines = run_bad(tmp_path, capsys, spec, "--set", "train.epochs=-1")
    assert len(lines) == 2, lines
    assert any(at(line, "spec.yaml", 3) and "data.batch_size: 0 is not allowed" in line for line in lines)
    assert any(line.startswith("error: --set train.epochs=-1: train.epochs: -1 is not allowed") for line in lines)


# --- import paths -----------------------------------------------------------------------------


def test_import_path_needs_allow_imports(tmp_path, capsys):
    spec = write(tmp_path, """
        name: t
        model: {name: 'os.path:join'}
    """)
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 2), line
    assert "model.name: 'os.path:join' is an import path" in line
    assert "--allow-imports" in line


def test_import_path_with_allow_imports(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(MODELS, "_items", dict(MODELS._items))  # keep the import out of other tests
    spec = write(tmp_path, """
        name: t
        model: {name: 'os.path:join', a: x}
    """)
    assert main(["show", str(spec), "--allow-imports"]) == 0
    out = capsys.readouterr().out
    assert re.search(r'^  name: "os\.path:join" +# (\S*/)?spec\.yaml:2$', out, re.M), out
    assert "os.path:join" in MODELS


def test_unimportable_path_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(MODELS, "_items", dict(MODELS._items))
    spec = write(tmp_path, """
        name: t
        model: {name: 'os.path:no_such_function'}
    """)
    [line] = run_bad(tmp_path, capsys, spec, "--allow-imports")
    assert at(line, "spec.yaml", 2), line
    assert "cannot import models 'os.path:no_such_function'" in line


# --- list and schema --------------------------------------------------------------------------


def test_list_models(capsys):
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"models: {MODELS.description}"
    lenet = [line for line in lines if line.split()[0] == "lenet5"]
    assert lenet == [f"  {'lenet5':<22} {MODELS.summary('lenet5')}"]
    assert MODELS.summary("lenet5").startswith("LeNet-5:")
    assert "losses:" not in out  # only the kind asked for


def test_list_everything(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for header in ("datasets:", "ops:", "models:", "losses:", "optimizers:", "schedules:", "tasks:"):
        assert any(line.startswith(header) for line in out.splitlines()), header


def test_list_unknown_kind(capsys):
    assert main(["list", "nonsense"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("error: unknown kind 'nonsense'")
    assert "allowed: datasets, ops, models" in line


def test_list_misspelled_kind_suggests(capsys):
    assert main(["list", "model"]) == 2
    assert "(did you mean 'models'?)" in capsys.readouterr().err


def test_schema_is_json_with_component_parameters(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    definitions = schema["$defs"]
    lenet = next(d for d in definitions.values() if d.get("properties", {}).get("name", {}).get("const") == "lenet5")
    assert set(lenet["properties"]) == {"name", "activation", "pooling", "fractional_ratio"}
    assert lenet["properties"]["pooling"]["enum"] == ["average", "max", "fractional_max"]
    assert "input_shape" not in lenet["properties"]  # filled in from the data, not a spec key
    assert {"name", "model"} <= set(schema["required"])
    text = json.dumps(schema)
    assert "batch_size" in text and "cosine_decay" in text


# --- the console script -----------------------------------------------------------------------


def test_console_script_exits_2_without_traceback(tmp_path):
    spec = write(tmp_path, """
        name: t
        model: lenet
        train: {epochs: ten}
    """)
    script = Path(sys.executable).with_name("kcv")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "import sys; from kerascv_suite.cli import main; sys.exit(main())"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command + ["run", str(spec)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, result.stderr
    assert "unknown model 'lenet' (did you mean 'lenet5'?)" in result.stderr
    assert "train.epochs: 'ten' is not allowed" in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("value, reason", [("-1", "-1 is not allowed: Input should be greater than 0"),
                                           ("[1]", "[1] is not allowed: Input should be a valid number")])
def test_bad_number_in_a_number_or_schedule_slot_is_one_line(tmp_path, capsys, value, reason):
    # learning_rate is a number or a schedule; a scalar's problem is the number's, not "not a mapping".
    spec = write(tmp_path, f"name: t\nmodel: lenet5\noptimizer: {{name: adam, learning_rate: {value}}}\n")
    [line] = run_bad(tmp_path, capsys, spec)
    assert at(line, "spec.yaml", 3), line
    assert line.endswith(f"optimizer.learning_rate: {reason}")
