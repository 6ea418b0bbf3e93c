"""The serving graph: raw pixels in, the task's outputs out, the spec's preprocessing baked in.

A `ServingModule` holds an inference copy of the trained model (no optimizer state), the
preprocessing ops the data pipeline adapted (their statistics are saved with it), and three
signatures that TF Serving exposes:

- ``serving_default``: ``images``, a uint8 batch [N, H, W, C] of any H, W (resized in the graph
  to the source's image size, then preprocessed exactly as in training);
- ``serving_bytes``: ``image_bytes``, a batch of encoded PNG/JPEG strings (what TF Serving's REST
  API receives as ``{"b64": ...}``), decoded and resized in the graph;
- ``serving_examples``: ``examples``, serialized `tf.train.Example` records in the format the
  `tfrecord` source reads (an encoded ``image``; a ``label``, if present, is ignored).

Outputs are whatever the task declares through ``task.serving_outputs(outputs, class_names,
image_size)`` (classification: ``probabilities``, ``class_ids``, ``class_names``; `image_size` is
the request's [H, W], so boxes and class maps come back in the client's pixels), and the
fresh-process check allows the task's ``serving_tolerances``: a new task adds its outputs there,
not in the exporter.

A `GeneratorModule` serves a generative model's generator instead (a GAN's generator, a VAE's
decoder): ``serving_default`` maps latent vectors (and labels) to uint8 images. A task names
its module in ``task.serving_module(model, pipeline)``; each module gives the exporter its
signatures, the inputs its fresh-process check calls them with (`check_cases`) and how far the
export may differ from the Keras model (`tolerances`).

Example::

    serving = ServingModule(model, pipeline, task)
    serving.serve_images(tf.zeros([2, 8, 8, 1], tf.uint8))["class_names"]
    tf.saved_model.save(serving, path, signatures=serving.signatures())
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

INPUT_NAMES = {"serving_default": "images", "serving_bytes": "image_bytes", "serving_examples": "examples"}


def encode_png(images: np.ndarray) -> list[bytes]:
    return [tf.io.encode_png(image).numpy() for image in images]


def serialized_examples(images: np.ndarray) -> list[bytes]:
    """tf.train.Example records in the `tfrecord` source's format (PNG `image`)."""
    return [
        tf.train.Example(features=tf.train.Features(feature={
            "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])),
        })).SerializeToString()
        for png in encode_png(images)
    ]


def signature_inputs(images: np.ndarray) -> dict[str, dict]:
    """The same uint8 images as each signature takes them: pixels, PNG bytes, tf.Examples."""
    return {
        "serving_default": {"images": images},
        "serving_bytes": {"image_bytes": np.array(encode_png(images), dtype=object)},
        "serving_examples": {"examples": np.array(serialized_examples(images), dtype=object)},
    }


def resize_pixels(images, size):
    """uint8 image(s) resized to `size` (bilinear), rounded back to uint8 pixels."""
    return to_uint8(tf.image.resize(tf.cast(images, tf.float32), size))


def to_uint8(values):
    """Grey levels (float, 0…255) → uint8 pixels, rounded and clipped."""
    return tf.cast(tf.clip_by_value(tf.round(values), 0, 255), tf.uint8)


def unit_to_pixels(images):
    """Images in [0, 1] (what generative models draw) → uint8 pixels, rounded and clipped."""
    return to_uint8(tf.cast(images, tf.float32) * 255.0)


def inference_copy(model: keras.Model) -> keras.Model:
    """The model's architecture and weights without its optimizer (which would triple the export)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


class ServingModule(tf.Module):
    """Trained model + baked preprocessing + the three serving signatures (see module docstring).

    Args:
        model: the trained Keras model.
        pipeline: the spec's `DataPipeline` (its adapted preprocessing and the source image shape).
        task: the spec's task, which declares the serving outputs.
    """

    def __init__(self, model: keras.Model, pipeline, task):
        super().__init__(name="serving")
        self.model = inference_copy(model)
        self.preprocess_layers = [op for op in pipeline.preprocess if isinstance(op, tf.Module)]  # saved with the model
        self._pipeline = pipeline
        self._task = task
        self._class_names = list(pipeline.info.class_names)
        self.tolerances = dict(task.serving_tolerances)
        self.tflite_outputs = tuple(task.tflite_outputs)
        raw = pipeline.info.raw_shape or pipeline.info.input_shape
        self.image_size = tuple(int(v) for v in raw[:2])
        self.channels = int(raw[2])
        image_spec = tf.TensorSpec([None, None, None, self.channels], tf.uint8, name="images")
        self.serve_images = tf.function(self._serve_images, input_signature=[image_spec])
        self.serve_bytes = tf.function(self._serve_bytes, input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        self.serve_examples = tf.function(self._serve_examples, input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        self.class_list = tf.function(lambda: tf.constant(self._class_names), input_signature=[])  # names for top-k

    def _to_model_inputs(self, images):
        images = tf.image.resize(tf.cast(images, tf.float32), self.image_size)  # identity when already that size
        return self._pipeline.preprocess_images(images)

    def predict(self, images):
        """uint8 images [N, H, W, C] → the task's outputs (a dict of tensors)."""
        outputs = self.model(self._to_model_inputs(images), training=False)
        return self._task.serving_outputs(outputs, self._class_names, tf.shape(images)[1:3])

    def _serve_images(self, images):
        return self.predict(images)

    def decode(self, image_bytes):
        """Encoded PNG/JPEG strings [N] → uint8 images [N, H, W, C] at the source's image size."""

        def one(data):
            return resize_pixels(tf.io.decode_image(data, channels=self.channels, expand_animations=False), self.image_size)

        spec = tf.TensorSpec([*self.image_size, self.channels], tf.uint8)
        return tf.map_fn(one, image_bytes, fn_output_signature=spec)

    def _serve_bytes(self, image_bytes):
        return self.predict(self.decode(image_bytes))

    def _serve_examples(self, examples):
        parsed = tf.io.parse_example(examples, {"image": tf.io.FixedLenFeature([], tf.string)})
        return self.predict(self.decode(parsed["image"]))

    def check_cases(self, model: keras.Model, count: int) -> dict:
        """{signature: (inputs, expected outputs)}: `count` test images in each signature's form, the Keras model's answers."""
        images, _ = self._pipeline.raw_examples("test", count)
        logits = model.predict(self._pipeline.preprocess_images(images), verbose=0)
        outputs = self._task.serving_outputs(logits, self._class_names, tf.constant(images.shape[1:3]))
        expected = {k: v.numpy() for k, v in outputs.items()}
        return {name: (inputs, expected) for name, inputs in signature_inputs(images).items()}

    def signatures(self) -> dict:
        return {
            "serving_default": self.serve_images,
            "serving_bytes": self.serve_bytes,
            "serving_examples": self.serve_examples,
        }


class GeneratorModule(tf.Module):
    """A generative model's image generator for TF Serving: latents (and labels) in, uint8 images out.

    ``serving_default`` takes ``latents``, float32 [N, latent_dim] (draw them from N(0, I), the
    prior of a GAN and a VAE), and for a class-conditional generator ``labels``, int32 [N]; it
    returns ``images``, uint8 [N, H, W, C]. The module holds an inference copy of the network
    (`model.image_generator()`: a functional model from latents to images in [0, 1]), not the
    discriminator, the encoder or the optimizers.

    Example::

        serving = GeneratorModule(model)
        serving.generate(tf.random.normal([4, serving.latent_dim]))["images"]   # uint8 [4, 28, 28, 1]
    """

    # float rounding can move a pixel across a rounding boundary: one grey level
    tolerances = {"images": 1.0}

    def __init__(self, model: keras.Model):
        super().__init__(name="generator_serving")
        self.network = inference_copy(model.image_generator())
        self.latent_dim = int(self.network.inputs[0].shape[-1])
        self.conditional = len(self.network.inputs) == 2
        self.num_classes = int(getattr(model, "num_classes", 0))
        latents = tf.TensorSpec([None, self.latent_dim], tf.float32, name="latents")
        if self.conditional:
            labels = tf.TensorSpec([None], tf.int32, name="labels")
            self.generate = tf.function(lambda latents, labels: self._images([latents, labels]), input_signature=[latents, labels])
        else:
            self.generate = tf.function(lambda latents: self._images(latents), input_signature=[latents])

    def _images(self, inputs):
        return {"images": unit_to_pixels(self.network(inputs, training=False))}

    def check_cases(self, model: keras.Model, count: int) -> dict:
        """{"serving_default": (inputs, expected)}: `count` seeded latents (labels: the classes in turn), the model's images."""
        inputs = {"latents": np.random.default_rng(0).standard_normal((count, self.latent_dim)).astype(np.float32)}
        if self.conditional:
            inputs["labels"] = (np.arange(count) % self.num_classes).astype(np.int32)
        images = model.image_generator()([inputs["latents"], inputs["labels"]] if self.conditional else inputs["latents"])
        return {"serving_default": (inputs, {"images": unit_to_pixels(images).numpy()})}

    def signatures(self) -> dict:
        return {"serving_default": self.generate}

