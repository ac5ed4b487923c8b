"""The browser page in headless Chromium: preprocessing and answers match the Python runtime,
drawing a 7 gives 7, and a tampered model is refused. Run by `make test-web`, which installs
Chromium, chromedriver, selenium and onnxruntime-web first; skipped (with the reason) otherwise."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from tools.web_server import chromium, serve

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "web" / "dist"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
try:
    import selenium  # noqa: F401
except ImportError:
    selenium = None

pytestmark = [
    pytest.mark.skipif(selenium is None, reason="selenium is not installed (make test-web installs it)"),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium/chromedriver not installed (make test-web)"),
    pytest.mark.skipif(not (DIST / "vendor" / "ort.wasm.min.mjs").is_file(),
                       reason="web/dist is not built (make test-web builds it)"),
    # a page built before the bundled models changed runs the old model: make test-web rebuilds it
    pytest.mark.skipif((DIST / "models" / "manifest.json").is_file() and
                       (DIST / "models" / "manifest.json").read_bytes() !=
                       (ROOT / "runtime" / "models" / "manifest.json").read_bytes(),
                       reason="web/dist holds older models than runtime/models (make test-web rebuilds it)"),
]
MIN_AGREEMENT = 0.99
# Largest allowed |browser - Python| per pixel of the 28x28 input (values in [0, 1]). Both sides
# run the same algorithm in float32 on the same decoded pixels, so what remains is rounding:
# numpy rounds some intermediates to float32 where JS keeps float64 a moment longer, about one
# float32 ulp (6e-8 measured). 1e-3 (a quarter of a grey level) leaves room for a browser whose
# decoder or canvas rounds a colour differently, while a real divergence in the algorithm (a crop
# or centring one pixel off) moves some pixel by far more. The measured figure is printed.
TENSOR_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def browser():
    driver = chromium(CHROMIUM, CHROMEDRIVER, script_timeout=300)
    yield driver
    driver.quit()


def parity_images(folder: Path, mnist: dict) -> list[str]:
    """MNIST test digits as PNG, and drawn and typeset digits in many sizes, colours, polarities."""
    from tools.synthetic import render_digit, variants

    names = []
    for index, image in enumerate(mnist["x_test"][:150]):
        name = f"mnist_{index:03d}.png"
        Image.fromarray(image).save(folder / name)
        names.append(name)
    for index, peak in enumerate((20, 21)):  # in MNIST's form, its ink's peak just under and at MIN_CONTRAST
        name = f"mnist_faint_{peak}.png"
        faint = mnist["x_test"][index].astype(np.float32) * (peak / 255.0)
        Image.fromarray(np.round(faint).astype(np.uint8)).save(folder / name)
        names.append(name)
    for index, (_label, _description, picture) in enumerate(variants(seed=3)):
        name = f"drawn_{index:03d}.png"
        picture.save(folder / name)
        names.append(name)
    for digit in range(10):
        for size in (48, 160):
            name = f"typeset_{digit}_{size}.png"
            render_digit(digit, size, int(size * 0.6), (size // 4, size // 8)).save(folder / name)
            names.append(name)
            jpeg = f"typeset_{digit}_{size}.jpg"
            render_digit(digit, size, int(size * 0.6), (size // 4, size // 8), ink=30, paper=230).convert(
                "RGB").save(folder / jpeg, quality=95)
            names.append(jpeg)
    # Stroke normalisation (runtime/strokes.py, web/src/strokes.js): outline glyphs, a hair line,
    # and a spread of the committed real-world set.
    realworld = sorted((ROOT / "realworld" / "digits").glob("*/*"))
    outlines = [ROOT / name for name in ("realworld/digits/4/084_font-DejaVuSansMono-Bold.png",
                                         "realworld/digits/7/086_font-DejaVuSerif-Bold.png",
                                         "realworld/digits/3/046_font-LiberationSans-BoldItalic.png")]
    for source in outlines + realworld[::25]:
        name = f"realworld_{source.parent.name}_{source.name}"
        shutil.copyfile(source, folder / name)
        names.append(name)
    # Non-digits: letters, shapes, and noise and walls, which both sides must refuse alike.
    for source in sorted((ROOT / "realworld" / "nondigits").iterdir())[::10]:
        name = f"nondigit_{source.name}"
        shutil.copyfile(source, folder / name)
        names.append(name)
    # Camera-like scenes (tools/make_scenes.py): paper, light, lines, desk, glare, boards, displays.
    from tools.make_scenes import SCENES, render

    rng = np.random.default_rng(5)
    for index, scene in enumerate(SCENES):
        for image in mnist["x_test"][150 + 2 * index : 152 + 2 * index]:
            picture, _box = render(scene, image.astype(np.float32) / 255, rng, (480, 360))
            name = f"scene_{scene}_{len(names)}.png"
            picture.save(folder / name)
            names.append(name)
    # Pictures over the working size (640 px), which both sides search at 640 px.
    for scene, size in (("ruled", (800, 600)), ("small_in_frame", (1024, 768)), ("gradient_shadow", (960, 720)),
                        ("board_dark", (1200, 900))):
        picture, _box = render(scene, mnist["x_test"][170 + len(names) % 7].astype(np.float32) / 255, rng, size)
        name = f"scene_{scene}_{size[0]}x{size[1]}.png"
        picture.save(folder / name)
        names.append(name)
    # A light digit on a dark label on the page: the finder looks inside a solid box (find.py `_solid`).
    from tools.synthetic import draw_digit

    panel = Image.new("L", (360, 280), 225)
    ImageDraw.Draw(panel).rectangle((110, 50, 250, 230), fill=40)
    panel.paste(draw_digit(4, 120, 100, (20, 10), ink=235, paper=40), (120, 80))
    panel.save(folder / "panel_4.png")
    names.append("panel_4.png")
    # A card askew on a dark desk, and one whose light falls off across it (find.py `_panel`), and a
    # slanted seven-segment 0 lit all round, whose dark middle is not the digit (find.py `_blob`).
    for name, angle, light in (("card_askew_3.png", 11, 0.0), ("card_shaded_7.png", 0, 0.3)):
        card = Image.new("L", (480, 360), 45)
        sheet = Image.new("L", (220, 160), 230)
        if light:
            sheet = Image.fromarray(np.linspace(230 * (1 - light), 230, 220)[None].repeat(160, 0).astype(np.uint8))
        sheet.paste(draw_digit(int(name[-5]), 100, 80, (10, 10), ink=30, paper=0),
                    (60, 30), draw_digit(int(name[-5]), 100, 80, (10, 10), ink=255, paper=0))
        turned = sheet.convert("RGBA").rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
        card.paste(turned.convert("L"), (120, 70), turned.getchannel("A"))
        card.save(folder / name)
        names.append(name)
    # A display on a desk: a dark bezel askew round a light glass, a dark digit on the glass (find.py NESTING).
    for name, angle in (("display_2.png", 7), ("display_5.png", -9)):
        bezel = Image.new("L", (180, 220), 75)
        ImageDraw.Draw(bezel).rectangle((12, 12, 167, 207), fill=205)
        bezel.paste(draw_digit(int(name[-5]), 140, 110, (15, 15), ink=60, paper=0), (20, 40),
                    draw_digit(int(name[-5]), 140, 110, (15, 15), ink=255, paper=0))
        turned = bezel.convert("RGBA").rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
        desk = Image.new("L", (480, 360), 140)
        desk.paste(turned.convert("L"), (150, 50), turned.getchannel("A"))
        desk.save(folder / name)
        names.append(name)
    ring = Image.new("L", (480, 360), 20)
    ImageDraw.Draw(ring).polygon([(215, 60), (295, 60), (265, 300), (185, 300)], fill=240)
    ImageDraw.Draw(ring).polygon([(235, 86), (275, 86), (249, 274), (209, 274)], fill=20)
    ring.filter(ImageFilter.GaussianBlur(3)).save(folder / "ring_0.png")
    names.append("ring_0.png")
    # A soft shadow as dark as the ink that the strokes run into, beside them and across them (find.py `_shadow`).
    for digit, (x, y) in ((4, (330, 200)), (7, (200, 290)), (0, (240, 180))):
        blob = Image.new("L", (480, 360), 0)
        ImageDraw.Draw(blob).ellipse((x - 90, y - 55, x + 90, y + 55), fill=255)
        shade = np.asarray(blob.filter(ImageFilter.GaussianBlur(14)), np.float32) / 255
        strokes = np.asarray(draw_digit(digit, 360, 200, (40, 80), ink=255, paper=0), np.float32)[:, :360] / 255
        ink = np.pad(strokes, ((0, 0), (120, 0)))
        picture = 255 * (0.92 * (1 - 0.6 * shade) * (1 - ink) + 0.1 * ink)
        Image.fromarray(np.rint(picture).astype(np.uint8)).save(folder / f"shadow_{digit}.png")
        names.append(f"shadow_{digit}.png")
    # A small digit on a large page: under a thousandth of it (find.py `_top`), on even and on uneven paper.
    from tools.synthetic import render_digit

    for digit, (x, y), light in ((2, (300, 200), 0), (5, (40, 380), 40), (8, (560, 30), 0)):
        page = Image.new("L", (640, 480), 245)
        page.paste(render_digit(digit, 40, 28, (8, 2), paper=245), (x, y))
        if light:
            page = Image.fromarray(np.clip(np.asarray(page, np.int16) - np.linspace(0, light, 640, dtype=np.int16)[None, :],
                                           0, 255).astype(np.uint8))
        page.save(folder / f"small_{digit}.png")
        names.append(f"small_{digit}.png")
    # Ten digits typed close together: one group with too many pieces for one digit (find.py `split`).
    from PIL import ImageFont

    number = Image.new("L", (1280, 175), 255)  # halved to the working size: exactly, on both sides
    ImageDraw.Draw(number).text((23, 23), "1234567890", fill=0,
                                font=ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 116))
    number.save(folder / "number_10.png")
    names.append("number_10.png")
    # The page's own pad: #111 ink, anti-aliased, on exact white (find.py `_clean`: no search).
    for digit in range(10):
        name = f"pad_{digit}.png"
        draw_digit(digit, 4 * 280, 4 * 180, (4 * 50, 4 * 40), width_frac=0.1, ink=17).reduce(4).save(folder / name)
        names.append(name)
    hair = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(hair).line([(60, 30), (140, 30), (90, 170)], fill=0, width=1)
    hair.save(folder / "hairline_7.png")
    names.append("hairline_7.png")
    # White canvases that are not one tone (find.py `_clean` leaves them to the search): a digit on
    # a grey disc, on a grey guide line, and two digits joined by a faint hairline.
    badge = Image.new("L", (300, 200), 255)
    ImageDraw.Draw(badge).ellipse((70, 20, 230, 180), fill=200)
    badge.paste(draw_digit(4, 120, 100, (20, 10), paper=200), (90, 50), Image.new("L", (120, 120), 255))
    guide = Image.new("L", (300, 200), 255)
    ImageDraw.Draw(guide).line([(40, 160), (200, 160)], fill=180, width=3)
    guide.paste(draw_digit(7, 120, 100, (20, 10)), (60, 50))
    joined = Image.new("L", (300, 200), 255)
    joined.paste(draw_digit(4, 120, 100, (20, 10)), (20, 50))
    joined.paste(draw_digit(7, 120, 100, (20, 10)), (160, 50))
    ImageDraw.Draw(joined).line([(60, 130), (200, 130)], fill=190, width=1)
    for name, picture in (("badge_4.png", badge), ("guide_7.png", guide), ("joined_47.png", joined)):
        picture.save(folder / name)
        names.append(name)
    # Numbers typed on one line, and MNIST's digits side by side: one group of strokes, whose digits
    # come as its parts (find.py `split`), which the page reads as the runtime does (model.py `_choose`).
    from PIL import ImageFont

    face = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 90)
    for text in ("2026", "73", "31415"):
        typed = Image.new("L", (int(face.getlength(text)) + 40, 130), 255)
        ImageDraw.Draw(typed).text((20, 10), text, font=face, fill=0)
        typed.save(folder / f"number_{text}.png")
        names.append(f"number_{text}.png")
    # ...and ten of them, whose aligned tops and bottoms are no ruled lines (find.py `_remove_lines`).
    line = Image.new("L", (612, 144), 255)
    ImageDraw.Draw(line).text((20, 18), "1234567890", font=face, fill=0)
    line.save(folder / "number_line.png")
    names.append("number_line.png")
    for index, start in enumerate((10, 40, 70)):
        strip = np.hstack([np.pad(image, ((0, 0), (0, 4))) for image in mnist["x_test"][start : start + 3]])
        Image.fromarray(np.pad(strip, 10)).save(folder / f"mnist_row_{index}.png")
        names.append(f"mnist_row_{index}.png")
    return names


@pytest.fixture(scope="module")
def site(tmp_path_factory, mnist_sample):
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(DIST, root / "good")
    (root / "good" / "images").mkdir()
    names = parity_images(root / "good" / "images", mnist_sample)
    shutil.copytree(DIST, root / "tampered")
    model = root / "tampered" / "models" / "model_int8.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    good, good_url = serve(root / "good")
    bad, bad_url = serve(root / "tampered")
    yield {"root": root, "url": good_url, "tampered_url": bad_url, "images": names}
    good.shutdown()
    bad.shutdown()


def open_page(browser, url: str) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, 60).until(lambda d: d.execute_script("return document.body.dataset.ready"))
    return browser.execute_script("return document.body.dataset.ready")


BATCH_SCRIPT = """
const [urls, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const out = [];
  for (const url of urls) {
    try {
      const pixels = await window.edgeDigits.decode(url);
      const {tensor, parts} = window.edgeDigits.prepareRgba(pixels.data, pixels.width, pixels.height);
      const rows = [];
      for (const t of [tensor, ...(parts ?? [])]) rows.push(await window.edgeDigits.classifyTensor(t));
      out.push({url, tensor: Array.from(tensor), probabilities: rows[0], parts: (parts ?? []).map((t) => Array.from(t)),
                chosen: window.edgeDigits.choose(rows)});
    } catch (error) {
      out.push({url, error: String(error && error.message || error)});
    }
  }
  done(JSON.stringify(out));
})();
"""


def test_browser_matches_the_python_runtime(browser, site):
    from runtime import Classifier
    from runtime.errors import InputError
    from runtime.model import _choose, _inputs
    from runtime.preprocess import prepare_image

    assert open_page(browser, site["url"]) == "true"
    names = site["images"]
    results = []
    for start in range(0, len(names), 40):
        urls = [f"images/{name}" for name in names[start : start + 40]]
        results += json.loads(browser.execute_async_script(BATCH_SCRIPT, urls))
    classifier = Classifier.load(engine="onnx")  # the same bundled int8 ONNX the page runs
    agree, compared, worst, worst_name, both_refused, numbers = 0, 0, 0.0, "", 0, 0
    diffs = {}
    for name, result in zip(names, results, strict=True):
        path = site["root"] / "good" / "images" / name
        try:
            prepared = prepare_image(path)
            expected = prepared.tensor[..., 0]
        except InputError:
            assert "error" in result, f"{name}: Python finds no digit, the browser does"
            both_refused += 1
            continue
        assert "error" not in result, f"{name}: {result.get('error')}"
        tensor = np.asarray(result["tensor"], np.float32).reshape(28, 28)
        diff = float(np.abs(tensor - expected).max())
        diffs[name] = diff
        if diff > worst:
            worst, worst_name = diff, name
        python_label = int(classifier.probabilities(expected[None, ..., None])[0].argmax())
        agree += int(np.argmax(result["probabilities"]) == python_label)
        compared += 1
        # the digits a group may instead be: the same inputs, and the same choice between them
        parts = np.zeros((0, 28, 28)) if prepared.parts is None else prepared.parts[..., 0]
        assert len(result["parts"]) == len(parts), name
        for part, expected_part in zip(result["parts"], parts, strict=True):
            assert np.abs(np.asarray(part, np.float32).reshape(28, 28) - expected_part).max() <= TENSOR_TOLERANCE, name
        rows = classifier.probabilities(_inputs(prepared))
        assert result["chosen"] == int(_choose(rows, rows, prepared)[1] != prepared.digits), name
        numbers += int(result["chosen"] == 1)
    agreement = agree / compared
    print(f"\nbrowser parity: {compared} images, agreement {agreement:.4f}; 28x28 tensors max abs diff "
          f"{worst:.2e} ({worst_name}); {both_refused} refused by both; {numbers} read as several digits")
    assert numbers >= 3  # the typed numbers at least
    if os.environ.get("WEB_PARITY_DETAIL"):
        print(sorted(diffs.items(), key=lambda item: -item[1])[:15])
    assert compared >= 200 and agreement >= MIN_AGREEMENT
    assert worst <= TENSOR_TOLERANCE


def test_drawing_a_seven_on_the_canvas_answers_seven(browser, site):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert open_page(browser, site["url"]) == "true"
    pad = browser.find_element(By.ID, "pad")
    # A hand-drawn 7: the bar from left to right, then the stem down and to the left.
    # Offsets are from the pad's centre (280 x 280 pad).
    actions = ActionChains(browser, duration=10)
    actions.move_to_element_with_offset(pad, -80, -90).click_and_hold()
    for x in range(-80, 81, 20):
        actions.move_to_element_with_offset(pad, x, -90)
    for step in range(1, 10):
        actions.move_to_element_with_offset(pad, 80 - step * 12, -90 + step * 20)
    actions.release().perform()
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "answer").get_attribute("data-label"))
    answer = browser.find_element(By.ID, "answer")
    assert answer.get_attribute("data-label") == "7", browser.find_element(By.ID, "bars").text
    bars = browser.find_elements(By.CSS_SELECTOR, "#bars li")
    assert len(bars) == 3
    timing = browser.find_element(By.ID, "timing").text
    assert "inference" in timing and "preprocessing" in timing
    print(f"\nbrowser, a drawn 7: {timing}")  # the page's own figures, one drawing: not a benchmark
    shot = os.environ.get("WEB_SCREENSHOT")
    if shot:
        browser.save_screenshot(shot)


def test_a_tampered_model_is_refused_with_a_visible_message(browser, site):
    from selenium.webdriver.common.by import By

    assert open_page(browser, site["tampered_url"]) == "refused"
    status = browser.find_element(By.ID, "status")
    assert status.is_displayed()
    assert "model integrity check failed" in status.text and "sha256" in status.text


def _answer_after(browser, before: int) -> tuple[str, str]:
    """The page's answer label and status once input number `before` + 1 or later has been answered."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 60).until(lambda d: d.execute_script("return window.edgeDigits.answered()") > before)
    return (browser.find_element(By.ID, "answer").get_attribute("data-label"),
            browser.find_element(By.ID, "status").text)


DROP_SCRIPT = """
const [names, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const files = await Promise.all(names.map(async (name) => new File([await (await fetch(name)).blob()], name)));
  for (const file of files) {  // one drop after the other, in one go, as a user dropping twice quickly
    const transfer = new DataTransfer();
    transfer.items.add(file);
    document.getElementById("pad").dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
  }
})().then(() => done(true), (error) => done(String(error)));
"""


def test_the_newest_picture_is_the_one_answered(browser, site):
    """A large photo dropped first and a small picture right after: the page ends on the small one's
    answer, whichever is read first (in a browser where the photo's answer came last, it used to
    replace the small one's). The same file chosen twice is read twice (the picker fired no change
    event, and the page kept the answer it had)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tools.synthetic import draw_digit

    folder = site["root"] / "good"
    # A phone photo: light falling across the page, grain, a soft focus (seconds to decode and read).
    y, x = np.mgrid[0:4000, 0:6000].astype(np.float32)
    light = 200 + 30 * x / 6000 - 20 * y / 4000 + np.random.default_rng(1).normal(0, 6, (4000, 6000)).astype(np.float32)
    page = Image.fromarray(np.clip(light, 0, 255).astype(np.uint8))
    page.paste(draw_digit(2, 1200, 1200, (150, 150), ink=40, paper=210), (2400, 1400))
    page.filter(ImageFilter.GaussianBlur(3)).convert("RGB").save(folder / "large_2.jpg", quality=88)
    draw_digit(7, 160, 160, (20, 20), ink=0, paper=255).save(folder / "small_7.png")
    assert open_page(browser, site["url"]) == "true"
    settled = browser.execute_script("return window.edgeDigits.filesSettled()")
    assert browser.execute_async_script(DROP_SCRIPT, ["large_2.jpg", "small_7.png"]) is True
    WebDriverWait(browser, 120).until(lambda d: d.execute_script("return window.edgeDigits.filesSettled()") >= settled + 2)
    assert browser.find_element(By.ID, "answer").get_attribute("data-label") == "7"
    picker = browser.find_element(By.ID, "file")
    for _ in range(2):
        browser.find_element(By.ID, "clear").click()
        count = browser.execute_script("return window.edgeDigits.answered()")
        picker.send_keys(str(folder / "small_7.png"))
        assert _answer_after(browser, count)[0] == "7"


def test_a_picture_over_the_canvas_limit_is_read_smaller_not_blank(browser, site, tmp_path):
    """Over 16.7 megapixels (Safari's canvas limit; Chromium's own is larger) the page draws the
    picture smaller: past a browser's limit the canvas stays empty and the digit read as blank paper."""
    from selenium.webdriver.common.by import By

    from tools.synthetic import draw_digit

    path = tmp_path / "wide_3.png"
    page = Image.new("L", (5200, 3600), 255)
    page.paste(draw_digit(3, 1400, 1400, (180, 180), ink=0, paper=255), (1900, 1100))
    page.save(path)
    assert open_page(browser, site["url"]) == "true"
    count = browser.execute_script("return window.edgeDigits.answered()")
    browser.find_element(By.ID, "file").send_keys(str(path))
    label, status = _answer_after(browser, count)
    assert label == "3", status
    pixels = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then((r) => r.blob()).then(window.edgeDigits.decode)"
        ".then((p) => done([p.width, p.height]));", "images/mnist_000.png")
    assert pixels == [28, 28]  # a small picture is decoded at its own size
