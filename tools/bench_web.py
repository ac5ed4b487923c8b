"""The browser page's preprocessing against its inference, side by side in one run, over a set of
pictures: python -m tools.bench_web [--runs N] [--figures PATH]

Serves web/dist (built by `make web-build`; `make test-web` installs Chromium, chromedriver and
selenium) to headless Chromium and, for each picture, decodes it once in the page, then times the
page's own two steps alone, `preprocessRgba` (decode.js, find.js, preprocess.js) and
`classifyTensor` (onnxruntime-web on the bundled int8 ONNX), each `--runs` times after one warm-up
call; it prints their medians, the ratio of the two, and the median and the worst ratio over the
set (and over the pad drawings alone), and the first (cold) call of each on the first picture,
which is what a user's first drawing pays. The pictures: drawings the size of the page's pad (280x280) in both polarities,
typeset digits, camera-like scenes (tools/make_scenes.py) and photos up to 1280x960 (the photos of
tools/bench_app.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from tools.figures import figures_path, run_tool, tool_parser
from tools.machine import machine_facts

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "web" / "dist"

TIME_SCRIPT = """
const [url, runs, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
(async () => {
  const api = window.edgeDigits;
  try {
    const pixels = await api.decode(url);
    const time = async (step) => {
      const t0 = performance.now();
      await step();
      const first = performance.now() - t0, times = [];
      for (let i = 0; i < runs; i++) {
        const start = performance.now();
        await step();
        times.push(performance.now() - start);
      }
      return {first, times};
    };
    let tensor = null;
    const pre = await time(() => { tensor = api.preprocessRgba(pixels.data, pixels.width, pixels.height); });
    const inference = await time(() => api.classifyTensor(tensor));
    done(JSON.stringify({width: pixels.width, height: pixels.height, pre, inference}));
  } catch (error) {
    done(JSON.stringify({error: String(error && error.message || error)}));
  }
})();
"""


def pictures(folder: Path) -> list[str]:
    """Drawn pads, typeset digits, camera-like scenes and photos, written to `folder`; their names."""
    from PIL import Image

    from tools.bench_app import photo_like
    from tools.make_scenes import SCENES, render
    from tools.synthetic import draw_digit, render_digit

    names = []

    def save(image, name: str, **options) -> None:
        image.save(folder / name, **options)
        names.append(name)

    for digit in range(4):
        pad = draw_digit(digit + 3, 280, 180, (50, 40), width_frac=0.07)  # dark ink on white, as the pad
        save(pad.convert("RGBA"), f"pad_{digit}.png")
        save(Image.eval(pad, lambda v: 255 - v).convert("RGB"), f"pad_{digit}_light.png")
    for digit in (2, 5):
        save(render_digit(digit, 160, 96, (40, 20)), f"typeset_{digit}.png")
    rng = np.random.default_rng(11)
    mnist = np.load(ROOT / "tests" / "fixtures" / "mnist_sample.npz")["x_test"]
    for index, scene in enumerate(SCENES):
        picture, _box = render(scene, mnist[index].astype(np.float32) / 255, rng, (480, 360))
        save(picture, f"scene_{scene}.png")
    for width, height, suffix in ((640, 480, "png"), (640, 480, "jpg"), (1280, 960, "jpg")):
        save(photo_like(width, height, seed=width), f"photo_{width}x{height}.{suffix}",
             **({"quality": 90} if suffix == "jpg" else {}))
    return names


def browser():
    from tools.web_server import chromium

    chromium_path, chromedriver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium_path and chromedriver_path):
        raise SystemExit("bench_web: chromium and chromedriver are not installed (make test-web installs them)")
    return chromium(chromium_path, chromedriver_path, script_timeout=600)


def run(runs: int) -> tuple[list[dict], str]:
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise SystemExit("bench_web: selenium is not installed (make test-web installs it)") from None
    if not (DIST / "index.html").is_file():
        raise SystemExit("bench_web: web/dist is not built; run make web-build (or make test-web) first")
    from selenium.webdriver.support.ui import WebDriverWait

    from tools.web_server import serve

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        shutil.copytree(DIST, site)
        (site / "images").mkdir()
        names = pictures(site / "images")
        server, url = serve(site)
        driver = browser()
        try:
            driver.get(url)
            WebDriverWait(driver, 120).until(lambda d: d.execute_script("return document.body.dataset.ready"))
            agent = driver.execute_script("return navigator.userAgent")
            for name in names:
                result = json.loads(driver.execute_async_script(TIME_SCRIPT, f"images/{name}", runs))
                if "error" in result:
                    rows.append({"picture": name, "error": result["error"]})
                    continue
                pre, inference = statistics.median(result["pre"]["times"]), statistics.median(result["inference"]["times"])
                rows.append({"picture": name, "size": f"{result['width']}x{result['height']}", "pre_ms": pre,
                             "inference_ms": inference, "ratio": pre / inference,
                             "pre_first_ms": result["pre"]["first"], "inference_first_ms": result["inference"]["first"]})
        finally:
            driver.quit()
            server.shutdown()
    return rows, agent


def lines(rows: list[dict], runs: int) -> list[str]:
    timed = [r for r in rows if "error" not in r]
    out = [f"the page's preprocessing against its inference (medians of {runs} calls each, side by side)",
           f"{'picture':<28} {'size':>9} {'preprocess ms':>14} {'inference ms':>13} {'ratio':>6}"]
    for r in rows:
        if "error" in r:
            out.append(f"{r['picture']:<28} {'':>9} {'refused: ' + r['error'][:60]}")
        else:
            out.append(f"{r['picture']:<28} {r['size']:>9} {r['pre_ms']:>14.2f} {r['inference_ms']:>13.2f} {r['ratio']:>6.2f}")
    if timed:
        ratios = [r["ratio"] for r in timed]
        out.append(f"preprocessing / inference over {len(timed)} pictures: median {statistics.median(ratios):.2f}, "
                   f"worst {max(ratios):.2f}")
        # What the pad gives the page: drawings on a clean canvas, which the finder reads without its search.
        pads = [r["ratio"] for r in timed if r["picture"].startswith("pad_")]
        if pads:
            out.append(f"  of which the {len(pads)} pad drawings: median {statistics.median(pads):.2f}, worst {max(pads):.2f}")
        first = timed[0]
        out.append(f"first call on a fresh page ({first['picture']}): preprocessing {first['pre_first_ms']:.1f} ms, "
                   f"inference {first['inference_first_ms']:.1f} ms")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = tool_parser("python -m tools.bench_web", __doc__)
    parser.add_argument("--runs", type=int, default=20, help="timed calls per step and picture (default 20)")
    parser.add_argument("--figures", type=Path, help="also write what is printed as a Markdown page")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    figures_path(parser, args.figures)  # refused before the browser runs, not after
    rows, agent = run(args.runs)
    printed = lines(rows, args.runs)
    print("\n".join(printed))
    if args.figures:
        from export.atomic import write_bytes

        page = ["# The page's preprocessing and inference", "",
                f"Written by `python -m tools.bench_web --runs {args.runs} --figures {args.figures}`; do not edit.",
                f"Headless Chromium (`{agent}`), onnxruntime-web's WebAssembly backend, OpenCV.js. "
                f"{machine_facts(engines=False)}", "",
                "```", *printed, "```", ""]
        write_bytes(args.figures, "\n".join(page).encode())
    return 0


if __name__ == "__main__":
    run_tool(main)
