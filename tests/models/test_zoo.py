"""The CNN zoo against its papers, and every variant training on digits at 32×32.

`ZOO` holds one row per model variant: the configuration its reference figures are quoted at
(ImageNet's 224×224×3 and 1,000 classes, or CIFAR's 32×32×3 and 10 classes for the networks
defined for CIFAR), the reference parameter and multiply-accumulate counts, and where they come
from. Parameters must be within 1% of the reference and MACs (counted by the library's own
`kerascv_suite.models.arithmetic`) within 5%. Every registered convolutional network must have
at least one row, so a new family cannot join the registry without its figures.
"""

import gc
import math
from typing import NamedTuple

import keras
import numpy as np
import pytest

from kerascv_suite.data.pipeline import DataPipeline
from kerascv_suite.models.arithmetic import summary
from kerascv_suite.registry import MODELS, load_components
from kerascv_suite.spec import validate_spec

load_components()
IMAGENET, CIFAR = (224, 224, 3), (32, 32, 3)


class Variant(NamedTuple):
    name: str
    kwargs: dict
    input_shape: tuple
    classes: int
    params: int
    macs: int
    source: str
    counted: str = "all"       # "trainable" where the reference is PyTorch's, which keeps BatchNorm statistics as buffers
    exact: bool = False        # the reference is an exact count of an implementation, so ours must equal it
    macs_rel: float = 0.05     # 0.005 where the reference rounds to 3 digits (torchvision's GFLOPS)
    smoke: bool = True         # also train a step at 32×32; False for the larger members of a scaled series

    def id(self) -> str:
        return self.name + "".join(f"-{k}={v}" for k, v in self.kwargs.items())


TV = "torchvision's documented num_params (trainable) and GFLOPS (MACs)"
ZOO = [
    Variant("lenet5", {}, (32, 32, 1), 10, 61_706, 416_520,
            "d2l.ai LeNet (full C3 connections; 60 k in the paper with its partial table); MACs by the closed forms: "
            "117,600 + 240,000 + 48,000 + 10,080 + 840", exact=True),
    Variant("alexnet", {}, IMAGENET, 1000, 61_100_840, 710_000_000, TV, exact=True),
    Variant("alexnet", {"filters": (96, 256, 384, 384, 256), "groups": 2, "local_response_norm": True}, IMAGENET, 1000,
            60_965_224, 724_406_816, "the 2012 paper's two-GPU network (Caffe bvlc_alexnet's count); MACs from its layer table",
            exact=True),
    Variant("zfnet", {}, IMAGENET, 1000, 62_357_608, 1_168_032_896, "Zeiler & Fergus (2014) Fig. 3, counted from its layer table",
            exact=True),
    *[Variant("vgg", {"depth": d}, IMAGENET, 1000, p, m, TV + "; keras.applications VGG16/19 equal", exact=True, macs_rel=0.005, smoke=i == 0)
      for i, (d, p, m) in enumerate([(11, 132_863_336, 7.61e9), (13, 133_047_848, 11.31e9), (16, 138_357_544, 15.47e9), (19, 143_667_240, 19.63e9)])],
    *[Variant("vgg", {"depth": d, "batch_norm": True}, IMAGENET, 1000, p, m,
              TV + " (vgg*_bn keeps a bias in each convolution before BatchNorm; ours drops it, see test_vgg.py)", macs_rel=0.005, smoke=i == 0)
      for i, (d, p, m) in enumerate([(11, 132_868_840, 7.61e9), (13, 133_053_736, 11.31e9), (16, 138_365_992, 15.47e9), (19, 143_678_248, 19.63e9)])],
    Variant("googlenet", {}, IMAGENET, 1000, 6_998_552, 1_582_671_872,
            "Szegedy et al. (2014) Table 1's configuration, counted exactly (its column sums carry slips: 6,797.7 K, 1.5 G)", exact=True),
    Variant("googlenet", {"batch_norm": True}, IMAGENET, 1000, 7_005_832, 1_584_000_000,
            "torchvision googlenet (6,624,904 trainable, 1.50 GFLOPS) plus the real 5×5 kernels torchvision replaced by 3×3 "
            "(380,928 weights, 84 M MACs)", counted="trainable", exact=True, macs_rel=0.005),
    *[Variant("resnet", {"depth": d}, IMAGENET, 1000, p, m, TV, counted="trainable", exact=True, macs_rel=0.005, smoke=i == 0)
      for i, (d, p, m) in enumerate([(18, 11_689_512, 1.81e9), (34, 21_797_672, 3.66e9), (50, 25_557_032, 4.09e9),
                      (101, 44_549_160, 7.80e9), (152, 60_192_808, 11.51e9)])],
    Variant("resnet", {"depth": 50, "preactivation": True}, IMAGENET, 1000, 25_500_000, 4_100_000_000,
            "timm resnetv2_50 (25.5 M, 4.1 GMACs)", counted="trainable"),
    Variant("resnet", {"depth": 50, "width_per_group": 128}, IMAGENET, 1000, 68_883_240, 11.40e9, TV + " (wide_resnet50_2)",
            counted="trainable", exact=True, macs_rel=0.005),
    Variant("resnext", {}, IMAGENET, 1000, 25_028_904, 4.23e9, TV + " (resnext50_32x4d)", counted="trainable", exact=True,
            macs_rel=0.005),
    Variant("se_resnet", {}, IMAGENET, 1000, 28_090_000, 3.87e9, "Hu et al. (2018) Table 2: 28.09 M, 3.87 GFLOPs",
            counted="trainable", macs_rel=0.005),
    *[Variant("cifar_resnet", {"depth": d}, CIFAR, 10, p, m,
              "akamaster/pytorch_resnet_cifar10's count; MACs: chenyaofo/CIFAR-pretrained-models", counted="trainable", exact=True, smoke=i == 0)
      for i, (d, p, m) in enumerate([(20, 269_722, 40.81e6), (32, 464_154, 69.12e6), (44, 658_586, 97.44e6), (56, 853_018, 125.75e6)])],
    Variant("cifar_resnet", {"depth": 110}, CIFAR, 10, 1_727_962, 253_000_000,
            "akamaster/pytorch_resnet_cifar10 (He et al. Table 6: 1.7 M); MACs: the closed form of test_resnet.py, 253 M",
            counted="trainable", exact=True, smoke=False),
    Variant("cifar_resnet", {"depth": 164, "preactivation": True, "bottleneck": True}, CIFAR, 10, 1_700_000, 247_646_720,
            "He et al. (2016) Table 2: 1.7 M; MACs: the closed form of its bottleneck stages", counted="trainable"),
    *[Variant("wide_resnet", {"depth": d, "widen_factor": k}, CIFAR, 10, p, m,
              "Zagoruyko & Komodakis (2016) Table 1; MACs: the closed form of the 3×3 and 1×1 convolutions", counted="trainable", smoke=i == 0)
      for i, (d, k, p, m) in enumerate([(28, 10, 36_500_000, 5_243_328_768), (16, 8, 11_000_000, 1_548_145_664), (40, 4, 8_900_000, 1_298_582_016)])],
    *[Variant("densenet", {"depth": d}, IMAGENET, 1000, p, m,
              "keras.applications.DenseNet (count_params); MACs: torchvision's GFLOPS", exact=True, macs_rel=0.005, smoke=i == 0)
      for i, (d, p, m) in enumerate([(121, 8_062_504, 2.83e9), (169, 14_307_880, 3.36e9), (201, 20_242_984, 4.29e9)])],
    Variant("mobilenet_v1", {}, IMAGENET, 1000, 4_253_864, 569_000_000, "keras.applications.MobileNet; paper Table 8: 569 M",
            exact=True),
    Variant("mobilenet_v2", {}, IMAGENET, 1000, 3_538_984, 300_000_000, "keras.applications.MobileNetV2; paper Table 3: 300 M",
            exact=True),
    Variant("mobilenet_v3_small", {}, IMAGENET, 1000, 2_554_968, 56_000_000, "keras.applications.MobileNetV3Small; paper Table 3: 56 M",
            exact=True),
    Variant("mobilenet_v3_large", {}, IMAGENET, 1000, 5_507_432, 219_000_000, "keras.applications.MobileNetV3Large; paper Table 3: 219 M",
            exact=True),
    *[Variant("shufflenet_v2", {"width_multiplier": w}, IMAGENET, 1000, p, m,
              "torchvision shufflenet_v2 num_params; MACs: Ma et al. (2018) Table 5", counted="trainable", exact=True, smoke=i == 0)
      for i, (w, p, m) in enumerate([(0.5, 1_366_792, 41e6), (1.0, 2_278_604, 146e6), (1.5, 3_503_624, 299e6), (2.0, 7_393_996, 591e6)])],
    *[Variant("efficientnet", {"variant": v}, (r, r, 3), 1000, p, m,
              "torchvision efficientnet num_params (keras.applications' count_params is ours + 7, its input "
              "Normalization's statistics: test_efficientnet.py); MACs: Tan & Le (2019) Table 2", counted="trainable", exact=True, smoke=i == 0)
      for i, (v, r, p, m) in enumerate([("b0", 224, 5_288_548, 0.39e9), ("b1", 240, 7_794_184, 0.70e9), ("b2", 260, 9_109_994, 1.0e9),
                         ("b3", 300, 12_233_232, 1.8e9), ("b4", 380, 19_341_616, 4.2e9), ("b5", 456, 30_389_784, 9.9e9),
                         ("b6", 528, 43_040_704, 19e9), ("b7", 600, 66_347_960, 37e9)])],
]
# The classification chapter's non-convolutional models, transfer, which wraps a saved model of any family,
# and the generative models.
NOT_CNNS = {"knn", "linear", "mlp", "transfer", "autoencoder", "vae", "gan",
            "localizer", "fcn",  # heads on a zoo backbone (tests/models/test_backbones.py)
            "style_network"}     # an image-to-image network (tests/models/test_style_network.py)


def test_every_registered_cnn_has_reference_figures():
    assert set(MODELS.names()) - NOT_CNNS <= {v.name for v in ZOO}


@pytest.mark.parametrize("variant", ZOO, ids=Variant.id)
def test_parameters_and_macs_match_the_reference(variant):
    model = MODELS.get(variant.name)(variant.input_shape, variant.classes, **variant.kwargs)
    total = summary(model)[-1]
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert total.params == model.count_params()
    counted = trainable if variant.counted == "trainable" else total.params
    assert counted == pytest.approx(variant.params, rel=0.01), variant.source
    if variant.exact:
        assert counted == variant.params, variant.source
    assert total.macs == pytest.approx(variant.macs, rel=variant.macs_rel), variant.source
    del model
    keras.backend.clear_session()
    gc.collect()


@pytest.fixture(scope="module")
def digits32():
    """Eight training digits as the zoo's pipelines see them: resized to 32×32, scaled to [0, 1]."""
    spec = validate_spec({"name": "zoo", "model": "lenet5", "data": {"batch_size": 8, "preprocess": [{"name": "resize", "size": [32, 32]}, "rescale"]}})
    images, labels = next(iter(DataPipeline(spec, smoke=True).dataset("train", training=False)))
    return images.numpy(), labels.numpy()


@pytest.mark.parametrize("variant", [v for v in ZOO if v.smoke], ids=Variant.id)
def test_trains_a_step_on_digits_at_32x32(variant, digits32):
    images, labels = digits32
    keras.utils.set_random_seed(0)
    model = MODELS.get(variant.name)((32, 32, 1), 10, **variant.kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)
    before = [w.numpy().copy() for w in model.trainable_weights]
    loss = model.fit(images, labels, batch_size=len(images), epochs=1, verbose=0).history["loss"][0]
    assert math.isfinite(loss)
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))
    assert model.predict(images[:2], verbose=0).shape == (2, 10)
