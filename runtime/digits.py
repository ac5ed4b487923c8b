"""What every digit model takes and gives, in one place: the runtime, the exporters and the
training stages all read these names (no module imports them from anywhere else)."""

from __future__ import annotations

SIZE = 28  # MNIST's side, in pixels
INPUT_SHAPE = (SIZE, SIZE, 1)  # one image, NHWC without the batch
LABELS = tuple(str(digit) for digit in range(10))
NUM_LABELS = len(LABELS)
