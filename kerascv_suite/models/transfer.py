"""Transfer learning: a new head on the features of a model trained earlier, fine-tuned or frozen.

The syllabus's recipe for a small dataset: take a network trained on a big one, keep its
layers up to a feature layer, put a new classifier on top, and either

- freeze the whole backbone and train only the new linear head — a linear classifier on
  extracted features (`freeze_until: all`), best with very few labels; or
- freeze the early, generic layers (`freeze_until: <layer>`) and fine-tune the rest with a
  learning rate well below the original one (the spec's optimizer says how low).

Which layer to read: the later a layer, the more its features are specific to the source's
classes (Yosinski et al., 2014). When the new classes differ from the source's, a linear
classifier on earlier features transfers better. On the digits, LeNet-5 was pre-trained on 0–4
and then given 5 labels per class of 5–9: `flatten` reached 0.944, `c5_act` 0.902 and `f6_act` 0.871
mean test accuracy (README, "Quality runs").

The backbone comes from a finished run (its model.keras), from a runs/<name> folder (its newest
finished run), or from a saved `.keras` model file; its weights come with it. For an autoencoder
or a VAE, the backbone is its encoder, and by default the head reads the code. Frozen
BatchNorm layers run in inference mode (Keras 3), so their statistics stay those of the
pre-training data.

Example (YAML)::

    model: {name: transfer, source: runs/transfer_pretrain_digits, features: flatten, freeze_until: all}
    optimizer: {name: adam, learning_rate: 0.0001}
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import keras
from pydantic import NonNegativeInt

from kerascv_suite.models.arguments import Fraction
from kerascv_suite.layers.classifier import classifier_features
from kerascv_suite.registry import MODELS
from kerascv_suite.core.runs import FINISHED_MARKER


def resolve_source(source: str | Path) -> Path:
    """The model file `source` names: a `.keras` file, a run folder, or a runs/<name> folder (newest finished run)."""
    path = Path(source)
    if path.is_file():
        if path.suffix != ".keras":
            raise ValueError(f"source {path} is not a .keras model file")
        return path
    if (path / "model.keras").is_file():
        return path / "model.keras"
    if path.is_dir():
        finished = sorted(p for p in path.iterdir() if (p / FINISHED_MARKER).is_file() and (p / "model.keras").is_file())
        if finished:
            return finished[-1] / "model.keras"
        raise ValueError(f"source {path} holds no finished run with a model.keras")
    raise ValueError(f"source {path} not found (a .keras file, a run folder, or a runs/<name> folder)")


def in_current_policy(model: keras.Model) -> keras.Model:
    """A copy of the loaded `model`, with its weights, whose layers compute under the dtype policy in force.

    A saved model's layers keep the policy they were saved with, so a backbone pre-trained in
    float32 would stay float32 inside a mixed-precision fine-tune (and the reverse).
    """
    policy = keras.config.dtype_policy()
    if all(layer.dtype_policy.name == policy.name for layer in model.layers if layer.weights):
        return model

    def rebuild(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": policy.name})

    copy = keras.models.clone_model(model, clone_function=rebuild)
    copy.set_weights(model.get_weights())
    return copy


def pretrained_features(input_shape: tuple, source: str, features: str | None = None) -> tuple[keras.Model, str]:
    """The trained model `source` (an autoencoder's encoder) and the name of its layer `features`, checked.

    What `transfer` puts a new head on and `knn` measures distances in. `source` is a `.keras`
    file, a run folder, or runs/<name> (the newest finished run of that name); `features`
    defaults to the input of the model's classifier (`classifier_features`), or an encoder's code.
    Raises ValueError (one line) when the input shapes differ or the layer does not exist.

    Example::

        model, layer = pretrained_features((32, 32, 1), "runs/lenet5_digits")     # (…, "f6_act")
    """
    loaded = keras.saving.load_model(resolve_source(source), compile=False)
    encoder = getattr(loaded, "encoder", None)  # an autoencoder's (or VAE's) backbone is its encoder
    pretrained = in_current_policy(encoder if isinstance(encoder, keras.Model) else loaded)
    expected = tuple(pretrained.inputs[0].shape[1:])
    if expected != tuple(input_shape):
        raise ValueError(f"source model takes inputs of shape {list(expected)}, the data gives {list(input_shape)}")
    names = [layer.name for layer in pretrained.layers]
    if features is not None and features not in names:
        raise ValueError(f"features: no layer '{features}' in the source model; its layers: {', '.join(names)}")
    if features is None and pretrained is not loaded:
        features = names[-1]  # an encoder's output: the code
    elif features is None:
        try:
            features = next(layer.name for layer in pretrained.layers if layer.output is classifier_features(pretrained))
        except ValueError as error:
            raise ValueError(f"features: {error} ({', '.join(names)})") from None
    return pretrained, features


@MODELS.register("transfer")
def transfer(
    input_shape: tuple,
    num_classes: int,
    source: str,
    features: Optional[str] = None,
    freeze_until: Optional[str] = None,
    hidden: NonNegativeInt = 0,
    dropout: Fraction = 0.0,
) -> keras.Model:
    """A pre-trained model's layers up to `features`, then a new classifier; layers up to `freeze_until` frozen.

    Args:
        source: where the pre-trained model is: a `.keras` file, a run folder, or runs/<name>
            (the newest finished run of that name).
        features: the layer whose output the new head reads (default: the input of the source
            model's `logits` layer, i.e. everything but its classifier; for an autoencoder, its
            encoder's code; a model from outside the library must name it).
        freeze_until: freeze every layer up to and including this one; "all" freezes the whole
            backbone (a linear classifier on fixed features when `hidden` is 0); None fine-tunes all.
        hidden: width of a new hidden layer (ReLU) before the new classifier; 0 for a linear head.
        dropout: dropout rate before the new classifier.

    Example::

        model = transfer((32, 32, 1), 5, source="runs/transfer_pretrain_digits", features="f6_act", freeze_until="c3")
    """
    pretrained, features = pretrained_features(input_shape, source, features)
    names = [layer.name for layer in pretrained.layers]
    if freeze_until is not None and freeze_until != "all" and freeze_until not in names:
        raise ValueError(f"freeze_until: no layer '{freeze_until}' in the source model; its layers: {', '.join(names)}")
    feature_output = pretrained.get_layer(features).output
    backbone = names[: names.index(features) + 1]
    frozen = set() if freeze_until is None else set(backbone if freeze_until == "all" else names[: names.index(freeze_until) + 1])
    for name in backbone:  # a source saved with frozen layers is unfrozen where this model trains them
        pretrained.get_layer(name).trainable = name not in frozen
    x = feature_output
    if hidden:
        x = keras.layers.Dense(hidden, activation="relu", name="transfer_hidden")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="transfer_dropout")(x)
    logits = keras.layers.Dense(num_classes, name="transfer_logits")(x)
    inputs = pretrained.inputs[0] if len(pretrained.inputs) == 1 else pretrained.inputs
    return keras.Model(inputs, logits, name=f"{pretrained.name}_transfer")
