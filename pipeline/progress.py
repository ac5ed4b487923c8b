"""One per-epoch progress callback for the train and QAT stages (Keras 3 or tf_keras).

It prints each epoch's time and metrics to stderr, keeps the epoch times for the stage's
summary, and logs curves to dvclive when a folder is given (the train stage's).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pipeline.stage import deferred_signals, raise_pending


def epoch_logger(keras_module, stage: str, total_epochs: int, live_dir: Path | None = None):
    """A Callback instance for `keras_module` (the `keras` or the `tf_keras` package)."""
    live_class = None
    if live_dir is not None:
        try:
            from dvclive import Live as live_class
        except ImportError:  # the GPU box carries only keras; curves still go to stderr
            live_class = None

    class EpochLogger(keras_module.callbacks.Callback):
        # Keras 3 runs the batch hooks on a worker thread, without waiting on the batch's logs, when every
        # callback says it may; what such a hook raises comes back to the training loop a batch or two on.
        async_safe = True

        def __init__(self) -> None:
            super().__init__()
            self.live = live_class(dir=str(live_dir), save_dvc_exp=False, dvcyaml=False) if live_class else None
            self.epoch_times: list[float] = []
            self.history: list[dict[str, float]] = []

        def on_train_begin(self, logs=None):
            self._signals = deferred_signals()  # Ctrl-C and SIGTERM stop the loop at a batch's end
            self._signals.__enter__()

        def on_train_batch_end(self, batch, logs=None):
            raise_pending()

        def on_test_batch_end(self, batch, logs=None):
            raise_pending()

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self._start
            self.epoch_times.append(seconds)
            logs = {k: float(v) for k, v in (logs or {}).items()}
            self.history.append(logs)
            shown = "  ".join(f"{k} {v:.4f}" for k, v in sorted(logs.items()) if k != "learning_rate")
            print(f"{stage}: epoch {epoch + 1}/{total_epochs}  {seconds:.1f}s  {shown}", file=sys.stderr, flush=True)
            if self.live:
                for name, value in logs.items():
                    self.live.log_metric(name, value, plot=True)
                self.live.log_metric("epoch_seconds", seconds, plot=True)
                self.live.next_step()

        def on_train_end(self, logs=None):
            self._signals.__exit__(None, None, None)
            if self.live:
                self.live.end()

    return EpochLogger()
