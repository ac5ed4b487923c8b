"""What every digit model takes and gives, in one place: the runtime, the exporters and the
training stages all read these names (no module imports them from anywhere else)."""

from __future__ import annotations

SIZE = 28  # MNIST's side, in pixels
INPUT_SHAPE = (SIZE, SIZE, 1)  # one image, NHWC without the batch
LABELS = tuple(str(digit) for digit in range(10))
NUM_LABELS = len(LABELS)
# A model trained on non-digits too (qat.open_set.route: class) has an 11th output, labelled so:
NOT_A_DIGIT = "not a digit"
OPEN_SET_LABELS = (*LABELS, NOT_A_DIGIT)
OUTPUT_SIZES = (NUM_LABELS, len(OPEN_SET_LABELS))  # what a digit model may answer per image


def labels_for(outputs: int) -> tuple[str, ...]:
    """The label of each output of a model with `outputs` outputs (10 or 11)."""
    return LABELS if outputs == NUM_LABELS else OPEN_SET_LABELS
