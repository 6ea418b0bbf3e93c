"""Adversarial training (CS231n chapter 8; Madry et al., 2018): fit the model to the worst input of each batch's ε-ball.

A classifier whose loss is nearly linear in its input can be fooled by a change of ε per pixel
(Goodfellow et al., 2015). Madry et al. cast robustness as a saddle point: minimise over the
weights the expected *maximum* of the loss over the L∞ ball ‖δ‖∞ ≤ ε around each input. The
inner maximum is approximated by an attack made afresh each step against the current weights:

- `fgsm`: x + ε·sign(∇ₓ loss), one gradient (Goodfellow et al.'s adversarial training);
- `pgd`: from a uniform random point of the ball, `steps` steps of `step_size` on the gradient's
  sign, each projected back into [x − ε, x + ε] ∩ value_range (Madry et al.; step_size defaults
  to their 2.5·ε/steps, enough to cross the ball).

`perturb` is that attack as TensorFlow ops: it runs eagerly, inside `tf.function` and under XLA
(a `tf.while_loop`, stateless random numbers), calls the model with `training=False`, and takes
the loss gradient in float32 with respect to a float32 input, so a mixed-precision model is
attacked like any other. `kerascv_suite.viz.adversarial` uses it to explain trained models.

`AdversarialModel` is the model the trainer trains when a spec sets `train.adversarial`: the
same layers as the spec's functional model, with a `train_step` that attacks each batch (on the
compiled loss) and then minimises clean_weight·loss(x) + (1 − clean_weight)·loss(x_adv).
Inference, `evaluate`, saving, resume and export are those of any functional model.

Example (YAML)::

    train:
      adversarial: {method: pgd, epsilon: 0.1, steps: 7}    # inputs in [0, 1] after rescale
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf


def _logits(model, x) -> tf.Tensor:
    outputs = model(x, training=False)
    outputs = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
    return tf.cast(outputs, tf.float32)


def cross_entropy(labels, logits) -> tf.Tensor:
    """Softmax cross-entropy of each example [B] from integer classes ([B] or [B, 1]) and logits [B, K].

    Example::

        cross_entropy([0], [[0.0, 0.0]])    # [log 2]
    """
    labels = tf.cast(tf.reshape(labels, [-1]), tf.int32)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def input_gradient(model, x, y, loss=None) -> tuple[tf.Tensor, tf.Tensor]:
    """∇ₓ loss(y, logits(x)) [B, ...] (of the summed or mean loss: the same sign) and the float32 logits [B, K].

    The model runs in inference mode, so each example's loss depends on its own input only and
    one backward pass gives every example's gradient. `loss(y, logits)` defaults to `cross_entropy`.

    Example::

        gradient, logits = input_gradient(model, images, labels)    # FGSM steps along tf.sign(gradient)
    """
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        logits = _logits(model, x)
        value = (loss or cross_entropy)(y, logits)
    return tape.gradient(value, x), logits


def pgd_step_size(epsilon, steps: int):
    """Madry et al.'s PGD step, 2.5·ε/steps: the iterates can cross the ball (and back) from any start."""
    return 2.5 * epsilon / steps


def perturb(model, x, y, epsilon, method: str = "pgd", steps: int = 7, step_size=None, random_start: bool = True,
            value_range=(0.0, 1.0), seed=(0, 0), start=None, targeted: bool = False, loss=None) -> tf.Tensor:
    """An FGSM or PGD adversarial batch in [x − ε, x + ε] ∩ value_range, float32 like x [B, ...].

    Args:
        model: maps a batch to logits (the first output, if several).
        x: the batch (float), inside `value_range`.
        y: what `loss` takes: by default the true class of each example (or, `targeted`, the class to reach).
        epsilon: the L∞ budget, in input units.
        method: "fgsm" (one step of ε) or "pgd" (`steps` projected steps of `step_size`).
        step_size: PGD's step (default 2.5·ε/steps).
        random_start: PGD starts from x + ε·u, u uniform in [−1, 1] (else from x).
        value_range: (low, high) the inputs can take, or None not to clip.
        seed: PGD's start, `tf.random.stateless_uniform`'s seed (two ints): the same seed, the same start.
        start: u itself [B, ...] in [−1, 1], instead of drawing it from `seed`.
        targeted: descend the loss of `y` instead of ascending it: the prediction moves towards `y`.
        loss: `loss(y, logits)`, per example or reduced (default `cross_entropy`).

    Example::

        x_adv = perturb(model, images, labels, epsilon=0.1, method="pgd", steps=10, step_size=0.025)
    """
    x = tf.convert_to_tensor(x, tf.float32)
    epsilon = tf.cast(epsilon, tf.float32)
    direction = -1.0 if targeted else 1.0
    low, high = x - epsilon, x + epsilon
    if value_range is not None:
        low, high = tf.maximum(low, value_range[0]), tf.minimum(high, value_range[1])

    def step(point, size):
        gradient, _ = input_gradient(model, point, y, loss)
        return tf.clip_by_value(point + size * tf.sign(gradient), low, high)

    if method == "fgsm":
        return step(x, direction * epsilon)
    size = direction * tf.cast(pgd_step_size(epsilon, steps) if step_size is None else step_size, tf.float32)
    if random_start:
        if start is None:
            start = tf.random.stateless_uniform(tf.shape(x), seed, -1.0, 1.0)
        x = tf.clip_by_value(x + epsilon * tf.cast(start, tf.float32), low, high)
    _, adversarial = tf.while_loop(lambda i, _: i < steps, lambda i, point: (i + 1, step(point, size)),
                                   (tf.constant(0), x), maximum_iterations=steps)
    return adversarial


@keras.saving.register_keras_serializable(package="kerascv_suite")
class AdversarialModel(keras.Model):
    """A functional classifier whose `train_step` trains on adversarial examples of each batch (Madry et al., 2018).

    Build it from another functional model's `input` and `output` (their structures, so a model of
    one input still takes a plain tensor); it shares their layers, so the weights it trains are that model's. Each step attacks the batch with `perturb` on the
    compiled loss, against the current weights (inference mode), then takes one optimizer step on
    clean_weight·loss(x) + (1 − clean_weight)·loss(x_adv), as Keras's own `train_step` does
    (loss scaling under mixed_float16 included). The loss `fit` logs is that mixture; the
    metrics it logs (accuracy...) are those of the *adversarial* batch (of the clean batch when
    clean_weight is 1, which trains plainly). `evaluate` and `predict` see clean inputs; call
    `adversarial_examples` to attack a batch as training does.

    PGD's random start of training step t is drawn from the stateless seed (seed, t + 1), t the
    optimizer's iteration count, so a resumed run draws what an uninterrupted one would. Every argument is
    in `get_config`: `model.save` / `keras.saving.load_model` give back the same attack.

    Args:
        method, epsilon, steps, step_size, random_start, value_range: the attack, as in `perturb`.
        clean_weight: the clean loss's share in [0, 1] (0: adversarial only; 0.5: Goodfellow et al.'s mixture).
        seed: the first half of every step's random-start seed.

    Example::

        model = AdversarialModel(base.input, base.output, name=base.name, method="pgd", epsilon=0.1)
        model.compile(optimizer="adam", loss=CrossEntropy(), metrics=["accuracy"])
        model.fit(images, labels, epochs=5)     # images in [0, 1]
    """

    def __init__(self, inputs, outputs, name=None, *, method: str = "pgd", epsilon: float = 0.1, steps: int = 7,
                 step_size: float | None = None, random_start: bool = True, clean_weight: float = 0.0,
                 value_range=(0.0, 1.0), seed: int = 0, **kwargs):
        super().__init__(inputs, outputs, name=name, **kwargs)
        self.method = method
        self.epsilon = float(epsilon)
        self.steps = 1 if method == "fgsm" else int(steps)
        self.step_size = self.epsilon if method == "fgsm" else float(step_size or pgd_step_size(self.epsilon, self.steps))
        self.random_start = bool(random_start) and method == "pgd"
        self.clean_weight = float(clean_weight)
        self.value_range = None if value_range is None else (float(value_range[0]), float(value_range[1]))
        self.seed = int(seed)

    def attack_settings(self) -> dict:
        """The attack as used (FGSM: one step of ε, no random start), for reports and `get_config`."""
        return {"method": self.method, "epsilon": self.epsilon, "steps": self.steps, "step_size": self.step_size,
                "random_start": self.random_start, "clean_weight": self.clean_weight,
                "value_range": None if self.value_range is None else list(self.value_range), "seed": self.seed}

    def adversarial_examples(self, x, y, seed, sample_weight=None) -> tf.Tensor:
        """`perturb` of a batch with this model's settings, raising the compiled loss (as `fit` does).

        `seed`: two ints, the stateless seed of PGD's random start (training step t uses (seed, t + 1)).
        """
        def loss(labels, logits):
            return self.compute_loss(y=labels, y_pred=logits, sample_weight=sample_weight, training=False)

        return tf.stop_gradient(perturb(self, x, y, self.epsilon, self.method, self.steps, self.step_size,
                                        self.random_start, self.value_range, seed=seed, loss=loss))

    def evaluate_attack(self, dataset) -> dict:
        """Clean and adversarial accuracy over a dataset of (x, y) batches, each attacked once as in training.

        Returns the attack's settings with `clean_accuracy`, `adversarial_accuracy` and `examples`;
        batch b's random start uses the seed (seed, −1 − b), apart from every training step's.

        Example::

            report = model.evaluate_attack(pipeline.dataset("test"))   # {"method": "pgd", ..., "adversarial_accuracy": 0.71}
        """
        @tf.function(reduce_retracing=True)
        def correct(x, y, seed):
            labels = tf.cast(tf.reshape(y, [-1]), tf.int64)
            right = lambda inputs: tf.reduce_sum(tf.cast(tf.argmax(_logits(self, inputs), axis=-1) == labels, tf.int64))
            return right(x), right(self.adversarial_examples(x, y, seed)), tf.size(labels, tf.int64)

        clean = adversarial = count = 0
        for index, batch in enumerate(dataset):
            x, y, _ = keras.utils.unpack_x_y_sample_weight(batch)
            right, right_adversarial, size = correct(x, y, tf.constant([self.seed, -1 - index], tf.int64))
            clean, adversarial, count = clean + int(right), adversarial + int(right_adversarial), count + int(size)
        return {**self.attack_settings(), "clean_accuracy": clean / max(count, 1),
                "adversarial_accuracy": adversarial / max(count, 1), "examples": count}

    def _forward_loss(self, x, y, sample_weight):
        y_pred = self(x, training=True)
        return y_pred, self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        adversarial = self.clean_weight < 1.0
        if adversarial:
            seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(self.optimizer.iterations, tf.int64) + 1])
            x_adv = self.adversarial_examples(x, y, seed, sample_weight)
        with tf.GradientTape() as tape:
            y_pred, loss = self._forward_loss(x_adv if adversarial else x, y, sample_weight)
            if 0.0 < self.clean_weight < 1.0:
                loss = self.clean_weight * self._forward_loss(x, y, sample_weight)[1] + (1.0 - self.clean_weight) * loss
            # as Keras's train_step: log the loss a single replica would see (the strategy divided it by the replicas)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            self._loss_tracker.update_state(loss * tf.cast(replicas, loss.dtype), sample_weight=tf.shape(x)[0])
            loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), **self.attack_settings()}


def check_adversarial(spec, model: keras.Model, optimizer) -> str | None:
    """Why `spec.train.adversarial` cannot train this model (None when it can).

    The attack needs a class label and logits (task classification), a model trained by
    gradient steps on its loss (not one with its own `train_step`, such as k-NN), an optimizer
    that takes gradients (not L-BFGS's line search over one fixed batch), and a `value_range`
    that is the range `data.preprocess` gives, so the projection does not clip real inputs.
    """
    from kerascv_suite.data.pipeline import input_value_range

    if spec.task.name != "classification":
        return f"the attack raises a class label's loss of the logits, so it needs task classification, not {spec.task.name}"
    if getattr(optimizer, "line_search", False):
        return (f"not with optimizer {spec.optimizer.name}, whose line search needs one fixed objective while the attack "
                f"changes the batch at every step; use a gradient optimizer (adam, sgd, ...)")
    if type(model).train_step is not keras.Model.train_step:
        return f"model {spec.model.name} trains with its own train_step, not by gradient steps on a loss, so it cannot train on attacks"
    value_range, known = spec.train.adversarial.value_range, input_value_range(spec.data.preprocess)
    if value_range is not None and (known is None or not all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(known, value_range))):
        given = "a range unknown from the spec" if known is None else f"[{known[0]:g}, {known[1]:g}]"
        return (f"value_range is [{value_range[0]:g}, {value_range[1]:g}], but data.preprocess gives inputs in {given}; "
                f"set value_range to that range, or null not to clip")
    return None
