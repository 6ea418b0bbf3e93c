"""The canary for private Keras/TensorFlow APIs: an upgrade that removes one fails here, by name."""

import keras
import pytest

from kerascv_suite.core import compat


def test_every_private_api_the_library_uses_is_in_the_installed_versions():
    assert compat.check() == []


def test_the_installed_keras_and_tensorflow_are_the_verified_ones():
    # Fails on an upgrade: re-check compat.py's list against the new release, then bump VERIFIED.
    assert compat.unverified_versions() == []


def test_graph_walking_names_each_tensors_producer_and_its_inputs():
    inputs = keras.Input((8, 8, 3))
    hidden = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    outputs = keras.layers.Add(name="add")([hidden, hidden])
    assert compat.producer(outputs)[0].name == "add"
    assert compat.input_tensors(outputs) == [hidden, hidden]
    assert compat.input_tensors(hidden) == [inputs]
    assert compat.input_tensors(inputs) == []  # a model input: nothing made it
    assert compat.producer(keras.ops.ones((2,))) is None


def test_a_missing_private_api_is_one_line_naming_it_and_the_versions():
    class Converter:  # a TFLite converter of a release that dropped the attribute
        pass

    with pytest.raises(compat.CompatError) as raised:
        compat.disable_tflite_per_channel(Converter(), True)
    message = str(raised.value)
    assert "\n" not in message and "_experimental_disable_per_channel" in message
    assert f"verified on tensorflow {compat.VERIFIED['tensorflow']}" in message


def test_loading_is_made_lazy_once_and_only_for_a_plain_dict():
    from kerascv_suite.core.keras_loading import LazyCustomObjects

    class Registration:
        GLOBAL_CUSTOM_OBJECTS = {"Custom>x": 1}

    compat.make_custom_objects_lazy(Registration)
    lazy = Registration.GLOBAL_CUSTOM_OBJECTS
    assert type(lazy) is LazyCustomObjects and lazy["Custom>x"] == 1
    compat.make_custom_objects_lazy(Registration)
    assert Registration.GLOBAL_CUSTOM_OBJECTS is lazy  # already lazy: left alone


def test_custom_gradients_traced_inside_are_forgotten_and_their_graphs_freed():
    import gc
    import weakref

    import numpy as np
    import tensorflow as tf
    from tensorflow.python.framework.func_graph import FuncGraph

    def train_graphs():
        gc.collect()
        return [o for o in gc.get_objects() if isinstance(o, FuncGraph) and o.name == "one_step_on_data"]

    registry = compat._gradient_registry()
    kept = set(registry)
    held = len(train_graphs())
    with compat.forgetting_custom_gradients():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)
        assert any(name not in kept for name in registry)  # the train step registered its all-reduce's gradient
        alive = weakref.ref(model)
        del model
        keras.backend.clear_session()
    assert set(registry) == kept
    gc.collect()
    assert alive() is None and len(train_graphs()) == held  # nothing holds the traced step any more
