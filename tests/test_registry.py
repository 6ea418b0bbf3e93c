"""Registries: unique names, signature rules, suggestions, plugins and import paths."""

from __future__ import annotations

import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

import kerascv_suite.registry as registry
from kerascv_suite.cli import main
from kerascv_suite.registry import (
    MODELS,
    REGISTRIES,
    Component,
    Registry,
    UnknownComponentError,
    did_you_mean,
    is_import_path,
    load_components,
)
from kerascv_suite.spec import SpecError, build_component, load_spec


@pytest.fixture(scope="module", autouse=True)
def _components():
    load_components()


@pytest.fixture
def widgets():
    return Registry("widgets", "things for tests")


# --- registering ------------------------------------------------------------------------------


def test_register_under_a_name_and_by_own_name(widgets):
    @widgets.register("small")
    def make_small(size: int = 1):
        """A small widget.

        More text that is not the summary.
        """
        return size

    @widgets.register()
    def big(size: int = 10):
        return size

    assert widgets.names() == ["big", "small"]
    assert "small" in widgets and "make_small" not in widgets
    assert widgets.get("small") is make_small
    assert widgets.get("small")(3) == 3
    assert widgets.summary("small") == "A small widget."
    assert widgets.summary("big") == ""


def test_registering_a_name_twice_raises(widgets):
    @widgets.register("w")
    def first():
        return 1

    with pytest.raises(ValueError, match="widgets: 'w' is registered twice"):
        @widgets.register("w")
        def second():
            return 2

    assert widgets.get("w") is first  # the first one stays


def test_registering_the_same_component_again_is_harmless(widgets):
    def only():
        return 1

    widgets.register("w")(only)
    widgets.register("w")(only)  # e.g. a module imported twice under two names
    assert widgets.names() == ["w"]


def test_builtin_names_cannot_be_taken_twice():
    with pytest.raises(ValueError, match="registered twice"):
        MODELS.register("lenet5")(lambda input_shape, num_classes: None)
    assert MODELS.get("lenet5").__name__ == "lenet5"


def test_a_parameter_called_name_is_refused(widgets):
    with pytest.raises(ValueError, match="widgets: 'bad' has a parameter called 'name'"):
        @widgets.register("bad")
        def bad(name: str = "x"):
            return name

    with pytest.raises(ValueError, match="parameter called 'name'"):
        @widgets.register()
        class Named:
            def __init__(self, size: int, name: str = "n"):
                self.size = size

    assert widgets.names() == []


def test_a_class_is_registered_by_its_init_signature(widgets):
    @widgets.register()
    class Box:
        """A box."""

        def __init__(self, width: int = 2):
            self.width = width

    assert widgets.get("Box")(width=3).width == 3
    assert widgets.summary("Box") == "A box."


def test_component_marker_is_one_class_per_kind():
    assert Component["schedules"] is Component["schedules"]
    assert Component["schedules"].kind == "schedules"
    assert Component["models"] is not Component["schedules"]
    assert issubclass(Component["models"], Component)


# --- suggestions and unknown names ------------------------------------------------------------


def test_did_you_mean():
    assert did_you_mean("lenet", ["lenet5", "mlp", "linear"]) == " (did you mean 'lenet5'?)"
    assert did_you_mean("batchsize", ["batch_size", "seed"]) == " (did you mean 'batch_size'?)"
    assert did_you_mean("zzz", ["lenet5", "mlp"]) == ""
    assert did_you_mean("x", []) == ""


def test_unknown_name_lists_the_allowed_ones(widgets):
    for name in ("alpha", "beta", "gamma"):
        widgets.register(name)(lambda: None)
    with pytest.raises(UnknownComponentError) as caught:
        widgets.get("alpah")
    assert str(caught.value) == "unknown widget 'alpah' (did you mean 'alpha'?); allowed: alpha, beta, gamma"
    assert isinstance(caught.value, KeyError)
    with pytest.raises(UnknownComponentError, match=r"^unknown widget 'zzz'; allowed: alpha, beta, gamma$"):
        widgets.get("zzz")


def test_unknown_builtin_model():
    with pytest.raises(KeyError) as caught:
        MODELS.get("lenet")
    message = str(caught.value)
    assert message.startswith("unknown model 'lenet' (did you mean 'lenet5'?); allowed: ")
    assert message.split("allowed: ")[1].split(", ") == MODELS.names()


def test_registries_by_kind():
    assert set(REGISTRIES) == {"datasets", "ops", "models", "backbones", "losses", "metrics", "optimizers", "schedules",
                               "callbacks", "tasks", "reports"}
    assert all(REGISTRIES[kind].kind == kind for kind in REGISTRIES)
    assert {"lenet5", "mlp", "linear"} <= set(MODELS.names())
    assert "digits" in REGISTRIES["datasets"] and "cosine_decay" in REGISTRIES["schedules"]


# --- plugins ----------------------------------------------------------------------------------


PLUGIN = '''
from kerascv_suite.registry import MODELS

@MODELS.register("plugin_net")
def plugin_net(input_shape: tuple, num_classes: int, width: int = 4):
    """A model from an installed plugin."""
    return ("plugin_net", input_shape, num_classes, width)
'''


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """Simulate a package whose `kerascv_suite.plugins` entry point registers a model."""
    module = "kcv_test_plugin_models"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(MODELS, "_items", dict(MODELS._items))  # the plugin's model leaves with the test
    monkeypatch.setattr(registry, "_loaded", False)
    asked = []

    def fake_entry_points(group):
        asked.append(group)
        return [EntryPoint(name="test_models", value=module, group="kerascv_suite.plugins")] if group == "kerascv_suite.plugins" else []

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    yield asked
    sys.modules.pop(module, None)


def test_load_components_loads_plugins_once(installed_plugin):
    assert "plugin_net" not in MODELS
    load_components()
    assert installed_plugin == ["kerascv_suite.plugins"]
    assert "plugin_net" in MODELS
    assert MODELS.summary("plugin_net") == "A model from an installed plugin."
    load_components()  # already loaded: the entry points are not read again
    assert installed_plugin == ["kerascv_suite.plugins"]


def test_a_spec_can_use_a_plugin_model(installed_plugin, tmp_path, capsys):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text("name: t\nmodel: {name: plugin_net, width: 7}\n")
    spec = load_spec(spec_path)  # validation loads the components, plugins included
    assert spec.model.name == "plugin_net" and spec.model.width == 7
    built = build_component(spec.model, input_shape=(8, 8, 1), num_classes=10, seed=0)
    assert built == ("plugin_net", (8, 8, 1), 10, 7)

    spec_path.write_text("name: t\nmodel: {name: plugin_net, widht: 7}\n")
    with pytest.raises(SpecError) as caught:
        load_spec(spec_path)
    [problem] = caught.value.problems
    assert "model.widht: unknown key 'widht' of model 'plugin_net' (did you mean 'width'?); allowed: name, width" in problem

    assert main(["list", "models"]) == 0
    assert any(line.split()[0] == "plugin_net" and line.endswith("A model from an installed plugin.")
               for line in capsys.readouterr().out.splitlines()[1:])


def test_without_the_plugin_the_name_is_unknown(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text("name: t\nmodel: plugin_net\n")
    with pytest.raises(SpecError, match="unknown model 'plugin_net'"):
        load_spec(spec_path)


# --- import paths -----------------------------------------------------------------------------


def test_is_import_path():
    assert is_import_path("os.path:join")
    assert not is_import_path("lenet5")


def test_register_import_path(widgets):
    import textwrap as module

    component = widgets.register_import_path("textwrap:dedent")
    assert component is module.dedent
    assert widgets.get("textwrap:dedent") is module.dedent
    assert widgets.register_import_path("textwrap:dedent") is module.dedent  # again: the same one
    assert widgets.names() == ["textwrap:dedent"]
    assert widgets.summary("textwrap:dedent") == "Remove any common leading whitespace from every line in `text`."


@pytest.mark.parametrize("path, reason", [
    ("textwrap:no_such_function", "has no attribute 'no_such_function'"),
    ("kcv_no_such_module_xyz:f", "No module named 'kcv_no_such_module_xyz'"),
])
def test_register_import_path_that_does_not_import(widgets, path, reason):
    with pytest.raises(UnknownComponentError) as caught:
        widgets.register_import_path(path)
    assert str(caught.value).startswith(f"cannot import widgets '{path}': ")
    assert reason in str(caught.value)
    assert path not in widgets


def test_spec_with_an_import_path_model(tmp_path, monkeypatch):
    monkeypatch.setattr(MODELS, "_items", dict(MODELS._items))
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text("name: t\nmodel: {name: 'textwrap:indent', text: abc, prefix: '> '}\n")
    with pytest.raises(SpecError, match="--allow-imports"):
        load_spec(spec_path)
    assert "textwrap:indent" not in MODELS  # refused before anything was imported or registered
    spec = load_spec(spec_path, allow_imports=True)
    assert spec.model.name == "textwrap:indent" and spec.model.prefix == "> "
    assert MODELS.get("textwrap:indent") is textwrap.indent
