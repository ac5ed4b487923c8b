"""The one architecture definition, built with Keras 3 (training) or tf_keras (QAT, export).

Both libraries expose the same layers API, so the same function builds the same graph in
either; `set_weights(get_weights())` then moves trained weights across exactly.
Every block is Conv2D -> BatchNormalization -> ReLU so that BN folds into the convolution
when the model is converted to int8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.params import Variant
from runtime.digits import INPUT_SHAPE, NUM_LABELS


@dataclass(frozen=True)
class Architecture:
    """Conv widths per stage; a 2x2 max-pool closes every stage but the last."""

    stages: tuple[tuple[int, ...], ...]


ARCHITECTURES: dict[Variant, Architecture] = {
    Variant.STANDARD: Architecture(stages=((16,), (32, 32), (64, 64))),
    # Shaped for 16 KiB of flash and 8 KiB of RAM in the plain-C build, whose fused convolution and
    # pooling keep the 28x28 block's output out of RAM (docs/variants.md).
    Variant.TINY: Architecture(stages=((12,), (16, 16), (20, 24))),
    # The shape the open-set settings were chosen on, before the fusion left room for 12 channels.
    Variant.TINY_OPEN: Architecture(stages=((8,), (16, 16), (20, 24))),
}


def build_model(keras_module, variant: Variant | str = Variant.STANDARD, name: str = "digits",
                outputs: int = NUM_LABELS):
    """Build the classifier with `keras_module` (the `keras` or the `tf_keras` package).

    Returns a functional model that maps float32 images in [0, 1] of shape (N, *INPUT_SHAPE)
    to softmax probabilities (N, outputs): the ten digits, and with outputs=11 "not a digit"
    (the qat stage's open-set step). The output layer is float32 even under mixed precision.
    """
    arch = ARCHITECTURES[Variant(variant)]
    layers = keras_module.layers
    inputs = keras_module.Input(shape=INPUT_SHAPE, name="image")
    x = inputs
    for stage_index, widths in enumerate(arch.stages):
        for conv_index, width in enumerate(widths):
            tag = f"s{stage_index}c{conv_index}"
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv_{tag}")(x)
            x = layers.BatchNormalization(name=f"bn_{tag}")(x)
            x = layers.ReLU(name=f"relu_{tag}")(x)
        if stage_index < len(arch.stages) - 1:
            x = layers.MaxPooling2D(2, name=f"pool_s{stage_index}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(outputs, name="logits", dtype="float32")(x)
    outputs = layers.Softmax(name="probabilities", dtype="float32")(x)
    return keras_module.Model(inputs, outputs, name=name)


class ModelFileError(OSError):
    """A saved model cannot be used: missing, unreadable, or not the architecture params.yaml names."""


def weight_shapes(model) -> list[tuple[str, tuple[int, ...]]]:
    return [(layer.name, tuple(int(d) for d in w.shape)) for layer in model.layers for w in layer.weights]


def output_size(model) -> int:
    return int(model.output_shape[-1])


def check_architecture(model, keras_module, variant: Variant, path, outputs: tuple[int, ...] = (NUM_LABELS,)) -> None:
    """Raise ModelFileError unless `model` has exactly `variant`'s layers and weight shapes, with
    one of `outputs` outputs."""
    size = output_size(model) if output_size(model) in outputs else outputs[0]
    expected = weight_shapes(build_model(keras_module, variant, outputs=size))
    actual = weight_shapes(model)
    if actual != expected:
        counts = sum(int(np.prod(s)) for _, s in actual), sum(int(np.prod(s)) for _, s in expected)
        raise ModelFileError(
            f"{path}: is not the {Variant(variant).value} variant ({counts[0]:,} weights, expected {counts[1]:,}); "
            "re-run the train and qat stages for this model.variant"
        )
