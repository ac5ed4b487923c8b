"""What an app sees, measured side by side in one run: python -m tools.bench_app [--runs N] [--figures PATH]

- `Classifier.predict(path)` against the naive Pillow baseline `open -> convert("L") ->
  resize((28, 28))` of the same file, for 20 photo-like pictures: clean and noisy PNG, JPEG
  from 0.3 to 12 MP, both polarities; the median and the worst ratio;
- `predict(28x28 uint8 array)` against the raw engine call (`set_tensor`/`invoke`/`get_tensor`
  or `session.run`) on the same model, over 64 arrays in turn: arrays already in MNIST's form
  (only re-centred) and drawn canvases (a clean canvas: the finder reads it without its search);
- throughput of 1 and 2 threads sharing one Classifier, for both kinds of array and for the pictures.

`python -m tools.bench --app` adds the same table to the runtime benchmark. `--figures PATH` also
writes what is printed as a Markdown page (docs/figures/bench_app.md), naming the command that made it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from runtime.digits import INPUT_SHAPE, SIZE
from runtime.engines.onnx import X64_QUANT_PRECISION


def photo_like(width: int, height: int, seed: int = 0, noise: float = 6.0, light_ink: bool = False) -> Image.Image:
    """A digit written on uneven, noisy paper (or chalk on a board), the size of a camera frame."""
    from tools.synthetic import draw_digit

    rng = np.random.default_rng(seed)
    side = min(width, height)
    digit = draw_digit(7, side, side // 2, (side // 4, side // 4), width_frac=0.06)
    page = np.full((height, width), 255, np.float32)
    top, left = (height - side) // 2, (width - side) // 2
    page[top : top + side, left : left + side] = np.asarray(digit, np.float32)
    shade = np.linspace(0.85, 1.0, width, dtype=np.float32)[None, :]
    page = page * shade + (rng.normal(0, noise, page.shape).astype(np.float32) if noise else 0)
    if light_ink:
        page = 255 - page
    rgb = np.stack([page * 0.98, page * 0.95, page * 0.9], axis=-1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").filter(ImageFilter.GaussianBlur(1))


def side_by_side_ms(case, baseline, runs: int) -> tuple[float, float]:
    """Median ms of `case` and of `baseline`, their calls alternated in one loop (after a few
    untimed calls of each), so that both see the same machine: the same clock speed, the same
    neighbours, the same state of the caches and of the libraries' worker threads."""
    for _ in range(max(2, runs // 10)):
        case()
        baseline()
    times = np.empty((runs, 2))
    for i in range(runs):
        for j, run in enumerate((case, baseline)):
            start = time.perf_counter()
            run()
            times[i, j] = time.perf_counter() - start
    return float(np.median(times[:, 0]) * 1e3), float(np.median(times[:, 1]) * 1e3)


# (width, height, format, noise, light ink): clean and noisy PNG, JPEG from 0.3 to 12 MP, both polarities.
PICTURES = ([(640, 480, "png", 0, False), (640, 480, "png", 0, True), (640, 480, "png", 6, False),
             (640, 480, "png", 6, True), (320, 240, "png", 0, False), (1024, 768, "png", 0, False),
             (1024, 768, "png", 6, True), (1600, 1200, "jpg", 10, False)]
            + [(w, h, "jpg", 4, light) for w, h in ((640, 480), (1280, 960), (1920, 1080), (2592, 1944),
                                                    (3264, 2448), (4000, 3000)) for light in (False, True)])


def picture_set(folder: Path) -> list[Path]:
    paths = []
    for seed, (width, height, kind, noise, light) in enumerate(PICTURES):
        path = folder / f"{seed:02d}_{width}x{height}{'_noisy' if noise else ''}{'_light' if light else ''}.{kind}"
        photo_like(width, height, seed, noise, light).save(path, **({"quality": 90} if kind == "jpg" else {}))
        paths.append(path)
    return paths


def _pillow_baseline(path: Path) -> None:
    with Image.open(path) as image:
        image.convert("L").resize((SIZE, SIZE))


def _raw_call(classifier):
    """The engine's own call on a prepared int8/float input, without the runtime's preprocessing."""
    engine = classifier.engine
    x = np.zeros((1, *INPUT_SHAPE), np.float32)
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
    import onnxruntime as ort

    options = ort.SessionOptions()  # as the runtime's session for one image: one thread, no spinning
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry(X64_QUANT_PRECISION, "1")
    session = ort.InferenceSession(str(classifier.path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: quant.quantize(x) if quant else x}
    return lambda: session.run(None, feed)


def answer(classifier, image) -> None:
    """`classifier.predict(image)` as an app calls it: "no digit found" is an answer too (the model's
    "not a digit" for an odd drawing), not the end of the benchmark."""
    from runtime.errors import NoDigitError

    try:
        classifier.predict(image)
    except NoDigitError:
        pass


def rotation(classifier, images):
    """A call that answers the next of `images` each time: a case timed over a set, not one picture."""
    turn = iter(range(1 << 62))
    return lambda: answer(classifier, images[next(turn) % len(images)])


def threaded_throughput(classifier, threads: int, images: np.ndarray, seconds: float = 1.0) -> float:
    """Images per second classified by `threads` threads sharing `classifier`, batch 1."""
    return calls_per_second([lambda i: answer(classifier, images[i % len(images)])] * threads, seconds)


def calls_per_second(calls: list, seconds: float = 1.0) -> float:
    """Calls per second made by one thread per item of `calls` (each called with its count so far),
    all started together and stopped after `seconds`."""
    threads = len(calls)
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def work(slot: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            calls[slot](i)
            i += 1
        done[slot] = i

    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - start)


def _ignore_count(call):
    return lambda _count: call()


RAW_CALLS = ("litert", "onnx")  # the engines `_raw_call` can call directly


def bundled_engines() -> list[str]:
    """The installed engines, of those with a raw call to compare against, that have a bundled int8
    model. (TFLite Micro runs LiteRT's bundled file through a microcontroller's interpreter; its
    figures are the evaluate stage's, docs/figures/evaluate.md.)"""
    from runtime.engines import ENGINES
    from runtime.errors import ModelLoadError
    from runtime.model import default_model

    names = []
    for name, spec in ENGINES.items():
        if name in RAW_CALLS and spec.installed():
            try:
                default_model(name)
            except ModelLoadError:
                continue
            names.append(name)
    return names


def json_rows(rows: list[dict]) -> list[dict]:
    """The rows for JSON: a summary row's empty columns are null, not NaN (which is no JSON)."""
    return [{key: (None if isinstance(value, float) and value != value else value) for key, value in row.items()}
            for row in rows]


def app_rows(runs: int) -> list[dict]:
    """`runs` timed calls per case, held to 20-200: `python -m tools.bench --app` passes its own
    --runs (2000 by default, sized for one model call each), ten times what these cases need. A row's
    `unit` says what its `ms` and `baseline_ms` hold: ms, or calls/s and img/s in the thread rows."""
    from runtime.model import Classifier

    rows = []
    runs = max(20, min(runs, 200))
    with tempfile.TemporaryDirectory() as tmp:
        pictures = picture_set(Path(tmp))
        from tools.synthetic import draw_digit

        from runtime.preprocess import prepare_image

        # Drawn 28x28 canvases, light ink on black (the digit's box about 23 px: a clean canvas), and
        # the same digits in MNIST's form, as the recipe makes them (only re-centred: as_mnist).
        drawn = np.stack([np.asarray(draw_digit(d % 10, 28, 20, (5, 4), ink=255, paper=0)) for d in range(64)])
        mnist_form = np.stack([np.rint(prepare_image(d).tensor[..., 0] * 255).astype(np.uint8) for d in drawn])
        for engine in bundled_engines():
            classifier = Classifier.load(engine=engine)
            ratios = []
            for path in pictures:
                with Image.open(path) as opened:
                    megapixels = opened.width * opened.height / 1e6
                repeats = max(5, int(runs / max(1.0, megapixels)))
                predict, baseline = side_by_side_ms(lambda: classifier.predict(path),
                                                    lambda: _pillow_baseline(path), repeats)
                ratios.append(predict / baseline)
                rows.append({"engine": engine, "case": f"predict({path.name})", "unit": "ms", "ms": predict,
                             "baseline": "Pillow open+L+resize", "baseline_ms": baseline, "ratio": predict / baseline})
            rows.append({"engine": engine, "case": f"predict(path), {len(pictures)} pictures: median ratio",
                         "unit": None, "ms": float("nan"), "baseline": "", "baseline_ms": float("nan"), "ratio": float(np.median(ratios))})
            rows.append({"engine": engine, "case": f"predict(path), {len(pictures)} pictures: worst ratio",
                         "unit": None, "ms": float("nan"), "baseline": "", "baseline_ms": float("nan"), "ratio": max(ratios)})
            raw_call = _raw_call(classifier)
            for name, arrays in (("MNIST form", mnist_form), ("drawn", drawn)):
                predict, raw = side_by_side_ms(rotation(classifier, arrays), raw_call, runs * 5)
                rows.append({"engine": engine, "case": f"predict(28x28 uint8, {name})", "unit": "ms", "ms": predict,
                             "baseline": "raw engine call", "baseline_ms": raw, "ratio": predict / raw})
            # The engine alone, each thread its own raw call: what two threads could gain, were the
            # runtime's own steps free.
            one, two = (calls_per_second([_ignore_count(_raw_call(classifier)) for _ in range(n)]) for n in (1, 2))
            rows.append({"engine": engine, "case": "2 threads, raw engine call each (calls/s)", "unit": "calls/s", "ms": two,
                         "baseline": "1 thread (calls/s)", "baseline_ms": one, "ratio": two / one})
            # The pictures too: their decoding (Pillow) and finding (OpenCV) release the GIL.
            for name, arrays, seconds in (("MNIST form", mnist_form, 1.0), ("drawn", drawn, 1.0),
                                          ("the photos", pictures, 3.0)):
                one = threaded_throughput(classifier, 1, arrays, seconds)
                two = threaded_throughput(classifier, 2, arrays, seconds)
                rows.append({"engine": engine, "case": f"2 threads, one Classifier, {name} (img/s)", "unit": "img/s", "ms": two,
                             "baseline": "1 thread (img/s)", "baseline_ms": one, "ratio": two / one})
    return rows


def app_lines(rows: list[dict]) -> list[str]:
    header = f"{'engine':<7} {'case':<42} {'value':>9} {'baseline':<22} {'value':>9} {'ratio':>6}"
    lines = ["what an app sees (medians; ratio = case / baseline, measured side by side)", header, "-" * len(header)]
    for r in rows:
        ms, baseline_ms = (f"{v:>9.3f}" if v == v else " " * 9 for v in (r["ms"], r["baseline_ms"]))  # nan: a summary
        lines.append(f"{r['engine']:<7} {r['case']:<42} {ms} {r['baseline']:<22} {baseline_ms} {r['ratio']:>6.2f}")
    return lines


def print_app(rows: list[dict]) -> None:
    print("\n" + "\n".join(app_lines(rows)))


def main(argv: list[str] | None = None) -> int:
    from tools.figures import command_line, count, figures_path, tool_parser, write_figures
    from tools.machine import machine_facts

    parser = tool_parser("python -m tools.bench_app", __doc__)
    parser.add_argument("--runs", type=count(20, 200), default=200,
                        help="timed calls per case, 20 to 200 (the 28x28 array cases: 5 times as many)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of the table")
    parser.add_argument("--figures", type=Path, metavar="PATH",
                        help="also write what is printed as a Markdown page at PATH (e.g. docs/figures/bench_app.md)")
    args = parser.parse_args(argv)
    figures = figures_path(parser, args.figures)
    rows = app_rows(args.runs)
    if not rows:
        from runtime.engines import ENGINES

        hint = " or ".join(spec.install for spec in ENGINES.values())
        print(f"no engine installed: {hint}", file=sys.stderr)
        return 1
    runs = max(20, min(args.runs, 200))
    facts = (f"{machine_facts()} The bundled int8 models. Times in ms are medians over {runs} calls per case ({runs * 5} for the "
             f"28x28 arrays, 64 in turn; for a picture over 1 MP, {runs} divided by its megapixels, at least 5), each case's "
             "calls alternated with its baseline's in one loop; the thread rows "
             f"count images classified per second (over 1 s for the arrays, 3 s for the photos). The {len(PICTURES)} photos are generated: a digit on uneven "
             "paper (or chalk on a board), clean or noisy, as PNG up to 1024x768 and as JPEG quality 90 from 640x480 "
             "to 4000x3000; the ratio rows are the median and the worst of their ratios.")
    if figures:
        write_figures(figures, "What an app sees", command_line(parser.prog, argv), facts, app_lines(rows))
    if args.json:
        print(json.dumps({"cpu_count": os.cpu_count(), "app": json_rows(rows)}, indent=2, allow_nan=False))
        return 0
    print(f"runtime benchmark, {os.cpu_count()} CPUs")
    print("\n".join(app_lines(rows)))
    return 0


if __name__ == "__main__":
    from tools.figures import run_tool

    run_tool(main)
