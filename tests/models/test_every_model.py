"""Every registered model trains under XLA and under mixed precision.

The model list comes from the registry, so a newly registered model is tested here without
editing this file. XLA compiles on CPU the same graph a GPU would run: a model whose training
step does not compile here would not compile on a user's GPU either.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.layers import FusedBatchNormalization
from kerascv_suite.registry import MODELS, load_components
from kerascv_suite.spec import validate_spec
from kerascv_suite.training.trainer import compile_model

load_components()
# style_network maps images to images and trains against a loss network (FastStyleTrainer), not on a task's
# labels; tests/models/test_style_network.py takes its XLA and mixed-precision steps.
NAMES = [name for name in MODELS.names() if name != "style_network"]
# Smaller members of the families whose defaults take minutes to compile under XLA on 2 CPU cores;
# each keeps what is particular to its family (grouped convolutions, SE, dense connections,
# auxiliary classifiers, compound scaling). Any other registered model is tested as it is by default.
SMALL = {
    "alexnet": {"hidden_units": 128},
    "zfnet": {"hidden_units": 128},
    "vgg": {"depth": 11, "batch_norm": True, "hidden_units": 128},
    "googlenet": {"aux_classifiers": True, "batch_norm": True},
    "resnet": {"depth": 18},
    "resnext": {"groups": 4},
    "cifar_resnet": {"depth": 8},
    "wide_resnet": {"depth": 10, "widen_factor": 2},
    "densenet": {"growth_rate": 8, "bn_size": 2},
    "efficientnet": {"width_coefficient": 0.5, "depth_coefficient": 0.5},
    "mobilenet_v1": {"width_multiplier": 0.25},
    "shufflenet_v2": {"width_multiplier": 0.5},
}


# Models of tasks beyond classification, each trained on 32×32 shapes scenes by its task.
STRUCTURED = {
    "localizer": ("localization", {"backbone": {"name": "cifar_resnet", "depth": 8}, "hidden_units": 32}),
    "fcn": ("segmentation", {"backbone": {"name": "cifar_resnet", "depth": 8}}),
}


def small_spec(name: str, source=None, **train):
    """A spec for one training step of `name` at 32×32. Plain SGD: Adam's first step is ±lr on every weight
    whatever the gradient's size, so it would turn XLA's last-bit rounding differences into visible ones.
    `source` is the saved model that `transfer` (which wraps a trained model) builds on."""
    arguments = {"source": str(source)} if name == "transfer" else SMALL.get(name, {})
    spec = {
        "name": f"every_{name}",
        "model": {"name": name, **arguments},
        "data": {"batch_size": 16, "preprocess": [{"name": "resize", "size": [32, 32]}, "rescale"]},
        "optimizer": {"name": "sgd", "learning_rate": 0.01},
        "train": {"seed": 0, **train},
    }
    if name in STRUCTURED:
        task, arguments = STRUCTURED[name]
        spec.update(task=task, model={"name": name, **arguments})
        spec["data"] = {"batch_size": 16, "preprocess": ["rescale"],
                        "source": {"name": "shapes", "num_images": 64, "image_size": [32, 32]}}
    return validate_spec(spec)


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    """Per model: the data info, one batch of 32×32 digits (or shapes scenes, for the STRUCTURED models' tasks),
    and a saved LeNet-5 for `transfer` to build on."""
    source = tmp_path_factory.mktemp("source") / "lenet5.keras"
    found = {}

    def batch(name):
        key = name if name in STRUCTURED else "digits"
        if key not in found:
            pipeline = DataPipeline(small_spec(name if name in STRUCTURED else "linear"), smoke=True)
            images, targets, *_ = next(iter(pipeline.dataset("train", training=False)))
            found[key] = pipeline.info, images, targets, source
            if key == "digits":
                MODELS.get("lenet5")(pipeline.info.input_shape, pipeline.info.num_classes).save(source)
        return found[key]

    return batch


def one_step(spec, info, images, labels, jit_compile):
    keras.utils.set_random_seed(0)
    model, _ = compile_model(spec, info, jit_compile=jit_compile)
    fit = model.fit(images, labels, batch_size=len(images), epochs=1, shuffle=False, verbose=0).history["loss"][0]
    evaluated = model.evaluate(images, labels, batch_size=len(images), verbose=0, return_dict=True)["loss"]
    return model, fit, evaluated


def xla_failures(model, images) -> list[str]:
    """Names of the layers whose forward pass does not compile under XLA on their own."""
    failures = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            inputs = keras.ops.zeros((2, *layer.input.shape[1:]), layer.input.dtype)
            tf.function(lambda x, layer=layer: layer(x), jit_compile=True)(inputs)
        except Exception as error:  # any compilation failure is what we report
            failures.append(f"{layer.name} ({type(layer).__name__}): {str(error).splitlines()[0]}")
    return failures


@pytest.mark.parametrize("name", NAMES)
def test_train_and_test_steps_compile_under_xla_and_match(name, batches):
    info, images, labels, source = batches(name)
    spec = small_spec(name, source)
    _, plain_fit, plain_eval = one_step(spec, info, images, labels, jit_compile=False)
    try:
        model, xla_fit, xla_eval = one_step(spec, info, images, labels, jit_compile=True)
    except Exception as error:
        model, _ = compile_model(spec, info, jit_compile=False)
        pytest.fail(f"{name} does not compile under XLA: {str(error).splitlines()[0]}; "
                    f"layers that fail alone: {xla_failures(model, images) or 'none (the train step itself)'}")
    assert model.jit_compile is True
    assert math.isfinite(xla_fit) and math.isfinite(xla_eval)
    rel = 1e-4
    if getattr(model, "draws_noise", False):
        # Its objective draws noise (the VAE's z ~ q(z|x)) from TensorFlow's stateless generators, which XLA
        # implements with another algorithm: the same seed gives other numbers. The XLA step must repeat itself
        # exactly and match the plain one within the spread of one Monte-Carlo draw.
        _, again_fit, again_eval = one_step(spec, info, images, labels, jit_compile=True)
        assert (again_fit, again_eval) == (xla_fit, xla_eval)
        rel = 1e-2
    assert xla_fit == pytest.approx(plain_fit, rel=rel, abs=1e-5)
    # Evaluation after the step normalises with the moving variance the step updated. Under XLA a fused BatchNorm's
    # batch variance is E[x²] − E[x]² (kerascv_suite/layers/fused_batch_norm.py), off by up to ~1e-3 relative where
    # a channel's mean dwarfs its spread, and deep stacks of BatchNorm carry that into the loss (3.7e-4 for ResNeXt).
    fused = any(isinstance(layer, FusedBatchNormalization) for layer in getattr(model, "layers", []))
    assert xla_eval == pytest.approx(plain_eval, rel=max(rel, 1e-3) if fused else rel, abs=1e-5)


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("name", NAMES)
def test_trains_under_mixed_precision_with_float32_outputs(name, precision, batches):
    info, images, labels, source = batches(name)
    if precision == "mixed_float16":
        # float16 is the GPU policy; this CPU computes its training steps up to 35× slower than
        # bfloat16's (SE-ResNet-50: 208 s on 16 images against 6 s), so its step runs on 4 images (48 s).
        images, labels = images[:4], keras.tree.map_structure(lambda target: target[:4], labels)
    model, fit_loss, eval_loss = one_step(small_spec(name, source, precision=precision), info, images, labels, jit_compile=False)
    assert math.isfinite(fit_loss) and math.isfinite(eval_loss)
    assert all(keras.backend.standardize_dtype(output.dtype) == "float32" for output in keras.tree.flatten(model(images[:2])))
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored after building
    if precision == "mixed_float16" and model.trainable_weights:
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    half = precision.split("_")[1]
    assert all(layer.dtype_policy.compute_dtype == half for layer in model.layers if layer.weights)


def test_mixed_precision_layers_compute_in_half_precision(batches):
    info, images, labels, _ = batches("lenet5")
    model, _, _ = one_step(small_spec("lenet5", precision="mixed_bfloat16"), info, images, labels, jit_compile=False)
    assert model.get_layer("c1").dtype_policy.compute_dtype == "bfloat16"
    assert model.get_layer("c1").kernel.dtype == "float32"  # variables stay float32
    assert np.all(np.isfinite(model.predict(images, verbose=0)))


def test_small_configurations_name_registered_models():
    assert set(SMALL) <= set(NAMES)
    assert set(STRUCTURED) <= set(NAMES)
