"""The runtime inside a long-running app: interrupts, other threads' output, forks, memory."""

from __future__ import annotations

import gc
import os
import threading
import weakref

import numpy as np
import pytest

from runtime import Classifier
from runtime.engines import litert, quiet_stderr


@pytest.fixture
def digits(mnist_sample):
    return mnist_sample["x_test"][:40]


def _same_file(a: int, b: int) -> bool:
    first, second = os.fstat(a), os.fstat(b)
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def test_litert_leaves_fd_2_alone_after_its_first_allocation(digits, monkeypatch):
    """LiteRT's INFO line comes once per process; after it, new batch sizes and new threads never
    swap the process's stderr (other threads' logs went to /dev/null meanwhile)."""
    classifier = Classifier.load(engine="litert")
    classifier.predict_batch(digits[:3])
    assert litert._announced.is_set()

    def no_swap(*args, **kwargs):
        raise AssertionError("fd 2 swapped after the first allocation")

    monkeypatch.setattr(litert, "quiet_stderr", no_swap)
    for size in (1, 5, 9, 17):
        classifier.predict_batch(digits[:size])
    worker = threading.Thread(target=lambda: classifier.predict(digits[0]))
    worker.start()
    worker.join()


def test_an_interrupt_inside_quiet_stderr_gives_fd_2_back():
    before = os.dup(2)
    try:
        with pytest.raises(KeyboardInterrupt):
            with quiet_stderr():
                raise KeyboardInterrupt
        assert _same_file(2, before)
    finally:
        os.close(before)


def test_a_bind_cut_short_by_an_interrupt_is_done_again(digits, monkeypatch):
    """Ctrl-C in a notebook while LiteRT resized for a batch: the next call of that size works."""
    classifier = Classifier.load(engine="litert")
    x = (digits[:7] / np.float32(255))[..., None]
    expected = classifier.probabilities(x)
    bound = classifier.engine._local.bound
    real = bound.interpreter.tensor
    calls = iter([KeyboardInterrupt])

    def interrupted(index):
        error = next(calls, None)
        if error is not None:
            raise error
        return real(index)

    bound.interpreter.tensor = interrupted  # an instance attribute: this interpreter only
    with pytest.raises(KeyboardInterrupt):
        classifier.engine.run(np.zeros((9, 28, 28, 1), np.float32))
    got = classifier.engine.run(np.zeros((9, 28, 28, 1), np.float32))
    assert got.shape[0] == 9
    assert np.array_equal(classifier.probabilities(x), expected)


@pytest.mark.parametrize("engine", ["litert", "onnx"])
def test_a_dropped_classifier_is_freed_at_once(digits, engine):
    gc.disable()
    try:
        classifier = Classifier.load(engine=engine)
        classifier.predict_batch(digits[:8])
        gone = weakref.ref(classifier.engine)
        del classifier
        assert gone() is None  # no reference cycle: no wait for the garbage collector
    finally:
        gc.enable()


def test_a_child_forked_while_a_thread_holds_fd_2_can_still_silence_it(fork_while_held):
    def child() -> bool:
        with quiet_stderr():
            return True

    assert fork_while_held(quiet_stderr, child) == 0


@pytest.mark.parametrize("engine", ["litert", "onnx"])
def test_a_large_batch_runs_in_slices_and_answers_as_small_ones(digits, engine, monkeypatch):
    """10,000 arrays in one predict_batch: the engine never sees more than ENGINE_BATCH at once (an
    engine sized for the whole batch kept hundreds of MB), and the answers are the small batches'."""
    from runtime import model

    classifier = Classifier.load(engine=engine)
    sizes = []
    real = classifier.engine.run
    monkeypatch.setattr(classifier.engine, "run", lambda x: sizes.append(len(x)) or real(x))
    many = np.tile(digits[:8], (80, 1, 1))  # 640 images
    results = classifier.predict_batch(many)
    assert max(sizes) <= model.ENGINE_BATCH and sum(sizes) == len(many)
    one = [classifier.predict(image) for image in digits[:8]]
    assert all(r.prediction == one[i % 8] for i, r in enumerate(results) if r.ok)
    assert sum(r.ok for r in results) == 80 * sum(1 for _ in one)


@pytest.mark.parametrize("engine", ["litert", "onnx"])
def test_a_classifier_says_how_to_share_it_instead_of_being_pickled(engine):
    import copy
    import pickle

    classifier = Classifier.load(engine=engine)
    for attempt in (pickle.dumps, copy.deepcopy, copy.copy):
        with pytest.raises(TypeError, match=rf"^a Classifier holds an open {engine} engine and cannot be pickled "
                                            r"or copied; pass its path \(.*\) and call Classifier.load"):
            attempt(classifier)
