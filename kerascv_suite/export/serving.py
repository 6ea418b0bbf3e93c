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

Outputs are whatever the task declares through ``task.serving_outputs(outputs, class_names)``
(classification: ``probabilities``, ``class_ids``, ``class_names``), so a new task adds its
outputs there, not in the exporter.

Example::

    serving = ServingModule(model, pipeline, task)
    serving.serve_images(tf.zeros([2, 8, 8, 1], tf.uint8))["class_names"]
    tf.saved_model.save(serving, path, signatures=serving.signatures())
"""

from __future__ import annotations

import keras
import tensorflow as tf

INPUT_NAMES = {"serving_default": "images", "serving_bytes": "image_bytes", "serving_examples": "examples"}


def resize_pixels(images, size):
    """uint8 image(s) resized to `size` (bilinear), rounded back to uint8 pixels."""
    resized = tf.image.resize(tf.cast(images, tf.float32), size)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


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
        return self._task.serving_outputs(outputs, self._class_names)

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

    def signatures(self) -> dict:
        return {
            "serving_default": self.serve_images,
            "serving_bytes": self.serve_bytes,
            "serving_examples": self.serve_examples,
        }
