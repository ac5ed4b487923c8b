"""Does augmentation keep up with training? Images/s of the recipe and of the train step, one run.

    KERAS_BACKEND=jax python -m tools.augment_bench            # on the GPU when JAX sees one

Measures, side by side on whatever device Keras uses: the host recipe (numpy, one core, the
QAT stage's path), the device recipe alone (compiled, pipeline/augment_device.py), and a
compiled train step at the GPU batch size with and without the device recipe in it. The
number that decides whether a GPU would stall is the last ratio: what the recipe adds to a
step. No TensorFlow needed under JAX.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tools.figures import count, figures_path, seconds, tool_parser

BATCH = 512


def images_per_second(fn, batch: int, seconds: float) -> float:
    fn()  # compile / warm up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        done += batch
    return done / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m tools.augment_bench", __doc__)
    parser.add_argument("--seconds", type=seconds, default=5.0, help="time per measurement (default 5)")
    parser.add_argument("--batch", type=count(1, 65536), default=BATCH)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures_path(parser, args.json, "--json")  # refused before the timing, not after it

    import keras
    from pipeline.augment import augment
    from pipeline.augment_device import DeviceAugmentation
    from pipeline.architecture import build_model
    from pipeline.params import read_params, train_params
    from runtime.digits import INPUT_SHAPE, NUM_LABELS, SIZE

    params = train_params(read_params())
    settings, variant = params.train, params.model.variant
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.batch, SIZE, SIZE), dtype=np.uint8)
    labels = np.eye(NUM_LABELS, dtype=np.float32)[rng.integers(0, NUM_LABELS, args.batch)]
    x = images[..., None].astype(np.float32) / 255

    host = images_per_second(lambda: augment(images, rng, settings.augment), args.batch, args.seconds)

    def step_rate(head, with_recipe: bool) -> float:
        recipe = [DeviceAugmentation(settings.augment, settings.max_shift, 0)] if with_recipe else []
        trainer = keras.Sequential([keras.Input(INPUT_SHAPE), *recipe, *head])
        trainer.compile(optimizer="adam", loss="categorical_crossentropy", jit_compile=True)
        return images_per_second(lambda: trainer.train_on_batch(x, labels), args.batch, args.seconds)

    # The recipe alone: in a compiled train step whose model is one small dense layer.
    def probe():
        return [keras.layers.Flatten(), keras.layers.Dense(NUM_LABELS, activation="softmax")]

    device = 1 / (1 / step_rate(probe(), True) - 1 / step_rate(probe(), False))
    plain = step_rate([build_model(keras, variant)], False)
    augmented = step_rate([build_model(keras, variant)], True)
    devices = ", ".join(str(d) for d in keras.distribution.list_devices())
    print(f"backend {keras.backend.backend()}, devices {devices}, batch {args.batch}")
    print(f"{'host recipe (numpy, 1 core)':<38} {host:>12,.0f} images/s")
    print(f"{'device recipe alone (in a compiled step)':<38} {device:>12,.0f} images/s")
    print(f"{'train step, no augmentation':<38} {plain:>12,.0f} images/s")
    print(f"{'train step with the device recipe':<38} {augmented:>12,.0f} images/s")
    print(f"the recipe costs {plain / augmented - 1:+.1%} of a train step here; "
          f"the host recipe is {host / plain:.2f}x the plain step's rate")
    if args.json:
        args.json.write_text(json.dumps({
            "backend": keras.backend.backend(), "devices": devices, "batch": args.batch,
            "host_recipe_images_per_s": host, "device_recipe_images_per_s": device,
            "train_step_images_per_s": plain, "train_step_with_recipe_images_per_s": augmented,
            "recipe_cost_of_train_step": plain / augmented - 1}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
