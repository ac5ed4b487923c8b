"""What an app sees, measured side by side in one run (`python -m tools.bench --app`):

- `Classifier.predict(path)` against the naive Pillow baseline `open -> convert("L") ->
  resize((28, 28))` of the same file, for a photo-like 640x480 PNG and a 1920x1080 JPEG;
- `predict(28x28 uint8 array)` against the raw engine call (`set_tensor`/`invoke`/`get_tensor`
  or `session.run`) on the same model;
- throughput of 1 and 2 threads sharing one Classifier.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from runtime.timing import latencies_ms


def photo_like(width: int, height: int, seed: int = 0) -> Image.Image:
    """A digit written on uneven, noisy paper, the size of a camera frame."""
    from tools.synthetic import draw_digit

    rng = np.random.default_rng(seed)
    side = min(width, height)
    digit = draw_digit(7, side, side // 2, (side // 4, side // 4), width_frac=0.06)
    page = np.full((height, width), 255, np.float32)
    top, left = (height - side) // 2, (width - side) // 2
    page[top : top + side, left : left + side] = np.asarray(digit, np.float32)
    shade = np.linspace(0.85, 1.0, width, dtype=np.float32)[None, :]
    page = page * shade + rng.normal(0, 6, page.shape).astype(np.float32)
    rgb = np.stack([page * 0.98, page * 0.95, page * 0.9], axis=-1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").filter(ImageFilter.GaussianBlur(1))


def _median_ms(run, runs: int) -> float:
    return float(np.median(latencies_ms(run, runs, max(2, runs // 10))))


def _pillow_baseline(path: Path) -> None:
    with Image.open(path) as image:
        image.convert("L").resize((28, 28))


def _raw_call(classifier):
    """The engine's own call on a prepared int8/float input, without the runtime's preprocessing."""
    engine = classifier.engine
    x = np.zeros((1, 28, 28, 1), np.float32)
    quant = engine.input_quantization
    if engine.name == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(classifier.path), num_threads=1)  # as the runtime for one image
        interpreter.allocate_tensors()
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        feed = quant.quantize(x) if quant else x

        def call():
            interpreter.set_tensor(inp["index"], feed)
            interpreter.invoke()
            return interpreter.get_tensor(out["index"])

        return call
    session = engine._small  # the session the runtime uses for one image
    feed = {session.get_inputs()[0].name: quant.quantize(x) if quant else x}
    return lambda: session.run(None, feed)


def threaded_throughput(classifier, threads: int, images: np.ndarray, seconds: float = 1.0) -> float:
    """Images per second classified by `threads` threads sharing `classifier`, batch 1."""
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def work(slot: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            classifier.predict(images[i % len(images)])
            i += 1
        done[slot] = i

    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - start)


def app_rows(runs: int) -> list[dict]:
    from runtime.engines import ENGINES
    from runtime.model import Classifier

    rows = []
    runs = max(20, min(runs, 200))
    with tempfile.TemporaryDirectory() as tmp:
        png, jpeg = Path(tmp) / "photo_640x480.png", Path(tmp) / "photo_1920x1080.jpg"
        photo_like(640, 480).save(png)
        photo_like(1920, 1080, seed=1).save(jpeg, quality=90)
        from tools.synthetic import draw_digit

        # MNIST-like arrays: light ink on black, the digit in a 20 px box
        digits = np.stack([np.asarray(draw_digit(d % 10, 28, 20, (5, 4), ink=255, paper=0)) for d in range(64)])
        for engine in (name for name, spec in ENGINES.items() if spec.installed()):
            classifier = Classifier.load(engine=engine)
            for path in (png, jpeg):
                predict = _median_ms(lambda: classifier.predict(path), runs)
                baseline = _median_ms(lambda: _pillow_baseline(path), runs)
                rows.append({"engine": engine, "case": f"predict({path.name})", "ms": predict,
                             "baseline": "Pillow open+L+resize", "baseline_ms": baseline, "ratio": predict / baseline})
            array = digits[0]
            predict = _median_ms(lambda: classifier.predict(array), runs * 5)
            raw = _median_ms(_raw_call(classifier), runs * 5)
            rows.append({"engine": engine, "case": "predict(28x28 uint8)", "ms": predict,
                         "baseline": "raw engine call", "baseline_ms": raw, "ratio": predict / raw})
            one, two = threaded_throughput(classifier, 1, digits), threaded_throughput(classifier, 2, digits)
            rows.append({"engine": engine, "case": "2 threads sharing one Classifier (img/s)", "ms": two,
                         "baseline": "1 thread (img/s)", "baseline_ms": one, "ratio": two / one})
    return rows


def print_app(rows: list[dict]) -> None:
    print("\nwhat an app sees (medians; ratio = case / baseline, measured side by side)")
    header = f"{'engine':<7} {'case':<42} {'value':>9} {'baseline':<22} {'value':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['engine']:<7} {r['case']:<42} {r['ms']:>9.3f} {r['baseline']:<22} {r['baseline_ms']:>9.3f} "
              f"{r['ratio']:>6.2f}")
