"""The digit finder (runtime/find.py) on scenes built here, each with its digit's known box."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from runtime.errors import NoDigitError
from runtime import find
from runtime.find import REACH, find_digits

SIDE = (480, 640)  # height, width of a photo-like page
BOX = (250, 150, 350, 300)  # left, top, right, bottom of the digit drawn on it
TOLERANCE = 4  # px between the box found and the drawn one (pen caps, anti-aliasing)


def digit_ink(box=BOX, size=SIDE, width=12) -> np.ndarray:
    """A hand-drawn-like 4 filling `box` exactly: float32 ink mask of the picture's size."""
    mask = Image.new("L", size[::-1], 0)
    draw = ImageDraw.Draw(mask)
    left, top, right, bottom = box
    half = width // 2
    x0, y0, x1, y1 = left + half, top + half, right - half - 1, bottom - half - 1
    stem = x0 + (x1 - x0) * 2 // 3
    draw.line([(x0 + (stem - x0) // 2, y0), (x0, y0 + (y1 - y0) * 3 // 5), (x1, y0 + (y1 - y0) * 3 // 5)], fill=255,
              width=width)
    draw.line([(stem, y0), (stem, y1)], fill=255, width=width)
    for x, y in ((x0 + (stem - x0) // 2, y0), (x0, y0 + (y1 - y0) * 3 // 5), (x1, y0 + (y1 - y0) * 3 // 5), (stem, y0),
                 (stem, y1)):
        draw.ellipse((x - half, y - half, x + half, y + half), fill=255)
    ink = np.asarray(mask, np.float32) / 255
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    assert (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1) == tuple(box)  # the box is the ink's own
    return ink


def page(paper: np.ndarray, ink: np.ndarray, tone: float = 0.1) -> np.ndarray:
    """Dark ink on a paper of any lighting (float32 luminance in [0, 1])."""
    return (paper * (1 - ink) + tone * ink).astype(np.float32)


def assert_box(found, box=BOX, tolerance=TOLERANCE) -> None:
    assert np.abs(np.subtract(found.box, box)).max() <= tolerance, (found.box, box)


def test_plain_page():
    assert_box(find_digits(page(np.full(SIDE, 0.95, np.float32), digit_ink())))


def test_ruled_lines_are_not_the_digit():
    paper = np.full(SIDE, 0.95, np.float32)
    paper[20::32, :] = 0.45  # ruled lines, 32 px apart, darker than half the paper
    paper[:, 60] = 0.5  # a margin line
    found = find_digits(page(paper, digit_ink()))
    assert_box(found)
    assert found.count == 1


def test_squared_paper_is_not_the_digit():
    paper = np.full(SIDE, 0.95, np.float32)
    paper[10::28, :] = 0.55
    paper[:, 10::28] = 0.55
    # Where a grid line crosses a stroke it is cut at the stroke's side: a stub of up to about
    # a stroke width (12 px here) may stay with the digit.
    assert_box(find_digits(page(paper, digit_ink())), tolerance=12)


@pytest.mark.parametrize("direction", ["left-right", "right-left"])
def test_light_falling_off_across_the_page(direction):
    ramp = np.linspace(1.0, 0.45, SIDE[1], dtype=np.float32)
    paper = np.broadcast_to(ramp[None, :] if direction == "left-right" else ramp[None, ::-1], SIDE)
    assert_box(find_digits(page(paper, digit_ink(), tone=0.05)))


def test_a_soft_shadow_beside_the_digit():
    shade = Image.new("L", SIDE[::-1], 0)
    ImageDraw.Draw(shade).ellipse((380, 250, 700, 560), fill=255)  # a hand's shadow in a corner
    shade = np.asarray(shade.filter(ImageFilter.GaussianBlur(40)), np.float32) / 255
    paper = 0.95 * (1 - 0.35 * shade)
    assert_box(find_digits(page(paper, digit_ink())))


@pytest.mark.parametrize("edge", ["left", "top", "right", "bottom", "all"])
def test_a_digit_touching_the_frame_is_found(edge):
    """A tight crop: the picture ends where the ink does, on one side or all four."""
    ink = digit_ink()
    left, top, right, bottom = BOX
    crop = {"left": (left, 0, SIDE[1], SIDE[0]), "top": (0, top, SIDE[1], SIDE[0]),
            "right": (0, 0, right, SIDE[0]), "bottom": (0, 0, SIDE[1], bottom), "all": BOX}[edge]
    picture = page(np.full(SIDE, 0.95, np.float32), ink)[crop[1] : crop[3], crop[0] : crop[2]]
    found = find_digits(picture)
    assert_box(found, (left - crop[0], top - crop[1], right - crop[0], bottom - crop[1]))


def test_light_ink_on_a_dark_board():
    board = np.full(SIDE, 0.15, np.float32)
    picture = board * (1 - digit_ink()) + 0.9 * digit_ink()
    assert_box(find_digits(picture.astype(np.float32)))


def test_two_digits_are_counted():
    other = (420, 160, 520, 310)
    ink = np.maximum(digit_ink(), digit_ink(other))
    found = find_digits(page(np.full(SIDE, 0.95, np.float32), ink))
    assert found.count == 2
    assert min(np.abs(np.subtract(found.box, box)).max() for box in (BOX, other)) <= TOLERANCE


def test_every_digit_is_found_left_to_right():
    boxes = [(420, 160, 520, 310), (60, 140, 160, 290), BOX]  # drawn out of order
    ink = np.maximum.reduce([digit_ink(box) for box in boxes])
    picture = page(np.full(SIDE, 0.95, np.float32), ink)
    found = find.find_all_digits(picture)
    assert [item.count for item in found] == [3, 3, 3]
    for item, box in zip(found, sorted(boxes), strict=True):
        assert_box(item, box)
        assert item.ink.max() == 1.0 and item.ink.shape[0] >= box[3] - box[1]  # each its own crop
    best = find_digits(picture)  # the one with the most ink, as before
    assert any(item.box == best.box and np.array_equal(item.ink, best.ink) for item in found)


def test_one_digit_found_alone_is_all_there_is():
    picture = page(np.full(SIDE, 0.95, np.float32), digit_ink())
    (only,) = find.find_all_digits(picture)
    best = find_digits(picture)
    assert only.box == best.box and only.count == 1 and np.array_equal(only.ink, best.ink)


@pytest.mark.parametrize(("blur", "tone"), [(0.025, 0.45), (0.035, 0.1)])
def test_a_blurred_digit_is_found_not_called_blank(blur, tone):
    """Out of focus (a Gaussian blur of 2.5-3.5% of the picture's width), and grey: its edges are
    soft, but it stands out from a blur of a tenth of the picture (EDGE_WINDOW), which a wall does not."""
    sigma = blur * SIDE[1]
    ink = Image.fromarray(np.rint(digit_ink() * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(sigma))
    found = find_digits(page(np.full(SIDE, 0.85, np.float32), np.asarray(ink, np.float32) / 255, tone))
    assert_box(found, tolerance=TOLERANCE + int(sigma))  # the blur moves the strokes' edges


def chalk_found(grainy: int, monkeypatch) -> tuple[np.ndarray, np.ndarray]:
    """A chalk 4 on a dark board: the stroke is grains, half of its pixels bare. -> (the finder's
    ink, the stroke's mask over the same pixels)."""
    monkeypatch.setattr(find, "GRAINY", grainy)
    ink = digit_ink(width=16)
    grains = np.random.default_rng(0).random(SIDE) < 0.5
    found = find_digits((0.2 + 0.7 * ink * grains).astype(np.float32))
    assert_box(found)
    left, top = found.box[0] - REACH, found.box[1] - REACH
    return found.ink, ink[top : top + found.ink.shape[0], left : left + found.ink.shape[1]] > 0.5


def test_chalk_grains_are_joined_into_a_stroke(monkeypatch):
    """The gaps between a chalk stroke's grains get the grains' typical ink: the digit reaches the
    model drawn, not as a texture (which the model learnt to call "not a digit")."""
    ink, stroke = chalk_found(find.GRAINY, monkeypatch)
    bare = np.mean(ink[stroke] < 0.25)
    ink_unfilled, _ = chalk_found(10**9, monkeypatch)  # the fill turned off
    assert bare <= 0.05 < 0.3 <= np.mean(ink_unfilled[stroke] < 0.25)


@pytest.mark.parametrize("picture", ["noise", "wall", "vignette", "blank"])
def test_no_digit_in_noise_a_wall_or_a_blank_page(picture):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0 : SIDE[0], 0 : SIDE[1]].astype(np.float32) / np.float32(SIDE[1])
    pixels = {"noise": rng.random(SIDE, dtype=np.float32),
              "wall": np.broadcast_to(np.linspace(0.2, 0.9, SIDE[1], dtype=np.float32), SIDE),
              "vignette": 0.95 - 1.2 * ((x - 0.3) ** 2 + (y - 0.5) ** 2),  # a lamp off to one side
              "blank": np.full(SIDE, 0.9, np.float32)}[picture]
    with pytest.raises(NoDigitError, match="no digit found"):
        find_digits(np.ascontiguousarray(pixels))


@pytest.mark.parametrize("box", [(300, 200, 316, 230), (20, 400, 34, 426), (600, 20, 622, 60)])
def test_a_small_digit_on_a_large_page_is_found_not_called_blank(box):
    """A digit 26-40 px tall on a 640x480 scan is under a thousandth of the picture, so the ink's
    99.9th percentile is the paper: its peak is what its brightest pixels reach instead."""
    ink = digit_ink(box, width=3)
    assert np.count_nonzero(ink > 0.5) < (1 - find.PEAK_PERCENTILE / 100) * ink.size
    for paper in (np.full(SIDE, 0.95, np.float32), np.linspace(0.98, 0.8, SIDE[1], dtype=np.float32)[None, :].repeat(SIDE[0], 0)):
        assert_box(find_digits(page(paper, ink)), box, tolerance=2)


@pytest.mark.parametrize("side", [2, 3])
def test_a_speck_on_a_blank_page_is_still_blank(side):
    """Fewer than SMALL_INK_PX dark pixels are dust, not a digit."""
    pixels = np.full(SIDE, 0.9, np.float32)
    pixels[100 : 100 + side, 200 : 200 + side] = 0.1
    assert side * side < find.SMALL_INK_PX
    with pytest.raises(NoDigitError, match="blank"):
        find_digits(pixels)


def test_uint8_levels_find_what_their_float_finds():
    """A decoded 8-bit picture reaches the finder as its uint8 levels: the same answer as level / 255."""
    paper = np.linspace(0.98, 0.75, SIDE[1], dtype=np.float32)[None, :].repeat(SIDE[0], axis=0)
    levels = np.rint(page(paper, digit_ink()) * 255).astype(np.uint8)
    from_levels, from_float = find_digits(levels), find_digits(levels / np.float32(255.0))
    assert from_levels.box == from_float.box and from_levels.count == from_float.count
    np.testing.assert_array_equal(from_levels.ink, from_float.ink)
    assert_box(from_levels)



def test_weak_ink_touching_a_stroke_joins_it():
    """Chalk leaves a lace of strong grains with fainter dust between them: the dust that touches
    a grain, near it, joins the stroke, so the lace's holes close; faint ink elsewhere stays out."""
    rng = np.random.default_rng(0)
    stroke = digit_ink(width=24) > 0.5
    lace = cv2.GaussianBlur(rng.random(SIDE).astype(np.float32), (0, 0), 1.5)
    ink = np.where(stroke, np.where(lace > np.percentile(lace, 45), 1.0, 0.6), 0.0).astype(np.float32)
    ink[20:60, 20:60] = 0.6  # faint ink that touches no stroke
    strong = cv2.compare(ink, 0.8, cv2.CMP_GE)
    grown = find._hysteresis(strong, ink, 0.56)
    assert np.all(grown[strong > 0]) and not grown[20:60, 20:60].any()
    assert np.all(ink[grown > 0] >= 0.56)
    holes = lambda mask: cv2.connectedComponents((mask == 0).astype(np.uint8), connectivity=4)[0] - 2
    assert holes(strong) > 10 and holes(grown) <= 2, (holes(strong), holes(grown))  # the 4 holds one hole


def test_a_shadow_beside_the_digit_is_not_grown_into():
    """A hand's soft shadow touching the digit stays out of its box: the growth into faint ink
    stops near the strokes (grown without that limit, the box runs up into the shadow)."""
    yy, xx = np.mgrid[: SIDE[0], : SIDE[1]].astype(np.float32)
    shadow = np.clip((xx - 300) / 25, 0, 1) * np.clip((200 - yy) / 25, 0, 1)  # top right of the page
    picture = page((0.92 * (1 - 0.45 * shadow)).astype(np.float32), digit_ink())
    assert_box(find_digits(picture), tolerance=12)


def test_a_page_on_a_desk_all_round_is_the_paper():
    """A page photographed askew on a plain desk that fills the whole frame: the border is all
    desk, but the page, in the other tone, covers most of the photo and is the paper. A small digit
    on it is found (were the desk taken for the paper, the page's shaded rim would be the "ink")."""
    sheet = Image.new("L", SIDE[::-1], 0)
    ImageDraw.Draw(sheet).polygon([(45, 18), (615, 30), (605, 466), (28, 452)], fill=255)
    sheet = np.asarray(sheet, np.float32) / 255
    yy, xx = np.mgrid[: SIDE[0], : SIDE[1]].astype(np.float32)
    light = 1 - 0.06 * (((xx - 560) / 320) ** 2 + ((yy - 150) / 240) ** 2)  # lit from the top right
    picture = 0.3 + (0.92 * light - 0.3) * sheet  # on a darker desk
    small = (380, 200, 420, 260)
    picture = np.where(digit_ink(small, width=5) > 0, 0.15, picture).astype(np.float32)
    assert_box(find_digits(picture), small)


@pytest.mark.parametrize("dots", [10, 20])  # 200 faint pieces, and 800 (over 255: the growth's other path)
def test_the_growth_keeps_exactly_the_faint_pieces_that_touch_a_stroke(dots):
    """Each strong dot has a faint ring that touches it, and a faint pixel nearby that does not:
    the rings join, the lone pixels stay out, however many pieces the picture holds."""
    ink = np.zeros((dots * 12, 700), np.float32)  # 700 px wide: the growth reaches 3 px from a stroke
    for y in range(dots):
        for x in range(dots):
            top, left = y * 12 + 3, x * 12 + 3
            ink[top - 1 : top + 4, left - 1 : left + 4] = 0.6  # the ring
            ink[top : top + 3, left : left + 3] = 1.0  # the dot
            ink[top + 1, left + 5] = 0.6  # a lone faint pixel, one blank pixel away from the ring
    strong = cv2.compare(ink, 0.8, cv2.CMP_GE)
    grown = find._hysteresis(strong, ink, 0.5)
    assert find._odd(find.WEAK_REACH * 700) // 2 >= 3  # the lone pixels are within reach: only touching decides
    rings = np.zeros_like(strong)
    for y in range(dots):
        for x in range(dots):
            rings[y * 12 + 2 : y * 12 + 7, x * 12 + 2 : x * 12 + 7] = 255
    np.testing.assert_array_equal(grown, rings)


def test_a_picture_over_the_working_size_is_searched_at_it_and_answers_in_its_own_pixels(monkeypatch):
    """A 1200x900 page is searched at 640x480 (runtime.decode.WORK_SIDE), and the box comes back
    in the page's pixels: the drawn box, within the reduction's factor."""
    size, box = (900, 1200), (500, 300, 700, 600)
    picture = page(np.full(size, 0.9, np.float32), digit_ink(box, size, width=24))
    seen = []
    search = find._find
    monkeypatch.setattr(find, "_find", lambda gray8, *a, **k: seen.append(gray8.shape) or search(gray8, *a, **k))
    found = find_digits(picture)
    assert seen[0] == (480, 640)
    assert_box(found, box, tolerance=TOLERANCE * 2)


@pytest.mark.parametrize("side", ["left", "right"])
def test_a_band_beyond_the_panel_along_one_side_is_not_the_digits(side):
    """A display's panel photographed off-centre: a dark band down the whole picture along one side
    (the desk, the bezel), too wide to be a sliver, narrower than the paper's window, and as close
    to the digit as its strokes are to each other: the digit's group took it in."""
    paper = np.full(SIDE, 0.9, np.float32)
    box, band = ((430, 150, 530, 300), np.s_[:, 560:]) if side == "right" else ((110, 150, 210, 300), np.s_[:, :80])
    paper[band] = 0.2
    found = find_digits(page(paper, digit_ink(box)))
    assert_box(found, box)
    assert found.count == 1


# A clean canvas (find.py `_clean`): exact paper all round, one stroke. Its digit is all its ink,
# found without the search; the search would find the same.

def _recipe(found) -> np.ndarray:
    from runtime.preprocess import center_by_mass, crop_and_scale
    from runtime.strokes import fill_outline, restore_contrast

    return center_by_mass(fill_outline(restore_contrast(crop_and_scale(found.ink))))


def _drawings() -> list[np.ndarray]:
    """Digits drawn as an app's canvas draws them: hard-edged, and anti-aliased by coverage (drawn at
    4x and box-averaged, as a canvas blends a stroke's edge), in both polarities, at three sizes."""
    from tools.synthetic import draw_digit

    out = []
    for digit in range(10):
        for size in (28, 64, 280):
            box, offset = int(size * 0.65), (size // 5, size // 6)
            hard = draw_digit(digit, size, box, offset, width_frac=0.1)
            soft = draw_digit(digit, 4 * size, 4 * box, (4 * offset[0], 4 * offset[1]), width_frac=0.1).reduce(4)
            for image in (hard, soft):
                out += [np.asarray(image), 255 - np.asarray(image)]
    return out


def test_a_clean_canvas_is_read_without_the_search_and_as_the_search_reads_it():
    drawings = _drawings()
    for picture in drawings:
        clean = find._clean(picture)
        assert clean is not None  # every one of these is a clean canvas
        searched = find._find(picture)[0]
        np.testing.assert_array_equal(_recipe(clean), _recipe(searched))
        assert clean.count == searched.count == 1


def test_mnist_digits_on_a_clean_canvas_are_read_as_the_search_reads_them(mnist_sample):
    """MNIST's digits on a larger black field: the clean path takes most of them and gives the search's
    model input; one with faint ink beyond REACH of its strokes (which the search sets aside) is
    not of one tone, and goes to the search."""
    taken = 0
    for digit in mnist_sample["x_test"][:300]:
        picture = np.zeros((40, 40), np.uint8)
        picture[6:34, 6:34] = digit
        clean = find._clean(picture)
        if clean is None:
            continue
        taken += 1
        np.testing.assert_array_equal(_recipe(clean), _recipe(find._find(picture)[0]))
    assert taken >= 250  # most MNIST digits are one stroke of one tone


def _canvas(size=(200, 300), paper=255) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", size[::-1], paper)
    return image, ImageDraw.Draw(image)


def test_what_the_clean_path_leaves_to_the_search():
    from tools.synthetic import draw_digit

    two, draw = _canvas()
    two.paste(draw_digit(4, 120, 100, (20, 10)), (20, 50))
    two.paste(draw_digit(7, 120, 100, (20, 10)), (160, 50))
    label, draw = _canvas()  # a light digit on a dark label: a solid box, which holds the digit
    draw.rectangle((80, 30, 220, 170), fill=40)
    label.paste(draw_digit(4, 120, 100, (20, 10), ink=235, paper=40), (90, 50))
    lace, draw = _canvas()  # one stroke with 16 holes: a grid, not a digit
    for i in range(5):
        draw.line([(60 + 40 * i, 20), (60 + 40 * i, 180)], fill=0, width=3)
        draw.line([(60, 20 + 40 * i), (220, 20 + 40 * i)], fill=0, width=3)
    rule, draw = _canvas()  # a line across the picture
    draw.line([(5, 100), (294, 100)], fill=0, width=4)
    faint, draw = _canvas()
    draw.ellipse((100, 50, 180, 150), outline=245, width=6)  # 10 levels from the paper
    dust, draw = _canvas()
    draw.line([(100, 40), (160, 160)], fill=0, width=12)
    draw.point((20, 20), fill=250)  # one speck: two strokes
    framed, draw = _canvas()
    draw.line([(0, 40), (160, 160)], fill=0, width=12)  # ink on the frame
    grey, draw = _canvas(paper=250)  # paper that is not exactly white
    draw.line([(100, 40), (160, 160)], fill=0, width=12)
    badge, draw = _canvas()  # a digit on a light grey disc: two tones, the disc is its paper
    draw.ellipse((70, 20, 230, 180), fill=200)
    badge.paste(draw_digit(4, 120, 100, (20, 10), paper=200), (90, 50), Image.new("L", (120, 120), 255))
    guide, draw = _canvas()  # a digit standing on a grey guide line
    draw.line([(40, 160), (200, 160)], fill=180, width=3)
    guide.paste(draw_digit(7, 120, 100, (20, 10)), (60, 50))
    joined, draw = _canvas()  # two digits joined by a faint hairline
    joined.paste(draw_digit(4, 120, 100, (20, 10)), (20, 50))
    joined.paste(draw_digit(7, 120, 100, (20, 10)), (160, 50))
    draw.line([(60, 130), (200, 130)], fill=190, width=1)
    speck, draw = _canvas()  # a few dark pixels: the search calls that blank
    draw.line([(150, 100), (150, 103)], fill=0)
    for image in (two, label, lace, rule, faint, dust, framed, grey, badge, guide, joined, speck):
        assert find._clean(np.asarray(image)) is None
    assert find_digits(np.asarray(two)).count == 2
    inside = find_digits(np.asarray(label))
    assert inside.box[0] > 80 and inside.box[2] < 220  # the digit inside, not the label
    for image in (rule, faint, speck):
        with pytest.raises(NoDigitError):
            find_digits(np.asarray(image))
    # The lace's lines span half the picture: not ruled paper, so they reach the model, which refuses them.
    from runtime import Classifier

    with pytest.raises(NoDigitError, match="not a digit"):
        Classifier.load().predict(lace)


@pytest.mark.parametrize("size", [(100, 100), (8, 8), (1, 40)])
def test_one_pixel_on_a_clean_canvas_is_no_digit_not_a_crash(size):
    picture = np.full(size, 255, np.uint8)
    picture[size[0] // 2, size[1] // 2] = 254  # OpenCV reads an array of up to 4 values as a scalar
    with pytest.raises(NoDigitError):
        find_digits(picture)


def _card_on_desk(angle: float, light: float, size=SIDE, card=(200, 150), centre=(330, 250)) -> np.ndarray:
    """A light card (w x h) turned by `angle` degrees on a dark desk, its light falling off by
    `light` from one side to the other (float32 luminance; the card's pixels only)."""
    w, h = card
    corners = cv2.boxPoints((centre, (w, h), angle))
    sheet = Image.new("L", size[::-1], 0)
    ImageDraw.Draw(sheet).polygon([tuple(p) for p in corners], fill=255)
    sheet = np.asarray(sheet, np.float32) / 255
    xx = np.mgrid[: size[0], : size[1]][1].astype(np.float32)
    shade = 1 - light * np.clip((centre[0] + w / 2 - xx) / w, 0, 1)  # darker to the card's left
    return (0.18 + (0.9 * shade - 0.18) * sheet).astype(np.float32)


@pytest.mark.parametrize(("angle", "light"), [(10, 0.0), (-14, 0.0), (8, 0.25), (0, 0.25)])
def test_a_card_askew_on_a_desk_holds_the_digit(angle, light):
    """A card lying askew on a desk (or with its light falling off across it), a digit written on
    it: the card fills only part of its box, or part of it falls under the strokes' level, and is
    still the panel the digit is found in (find.py `_panel`), not the digit itself."""
    box = (305, 215, 355, 290)
    picture = page(_card_on_desk(angle, light), digit_ink(box, width=6))
    assert_box(find_digits(picture), box, tolerance=12 if light else TOLERANCE)  # a 4's tip in the shade is faint


def test_a_lit_ring_is_the_digit_not_its_dark_middle():
    """A seven-segment 0, lit and slanted, fills the rectangle turned round it like a panel; what
    the search inside it finds is its dark middle, a plain blob (find.py `_blob`), so the ring is the digit."""
    ring = Image.new("L", SIDE[::-1], 0)
    draw = ImageDraw.Draw(ring)
    draw.polygon([(300, 120), (400, 120), (370, 360), (270, 360)], fill=255)  # slanted about 7 degrees
    draw.polygon([(322, 146), (378, 146), (352, 334), (296, 334)], fill=0)
    ink = np.asarray(ring.filter(ImageFilter.GaussianBlur(3)), np.float32) / 255
    picture = (0.08 + 0.85 * ink).astype(np.float32)  # light on a dark display
    assert_box(find_digits(picture), (270, 120, 400, 360), tolerance=8)


def _quad(angle: float, centre, size, shape=SIDE) -> np.ndarray:
    """float32 0/1 mask of a rectangle (w, h) turned by `angle` degrees about `centre`."""
    mask = Image.new("L", shape[::-1], 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in cv2.boxPoints((centre, size, angle))], fill=255)
    return np.asarray(mask, np.float32) / 255


@pytest.mark.parametrize("angle", [0, 6, -9])
def test_a_display_s_glass_in_its_bezel_holds_the_digit(angle):
    """A display on a desk: a dark bezel, a light glass inside it, a dark digit on the glass. The
    bezel is the panel; searched with the desk in its corners toned like its edge, it holds the
    glass, which is a panel too, and holds the digit (find.py NESTING)."""
    box = (300, 185, 360, 295)
    bezel, glass = _quad(angle, (330, 240), (170, 210)), _quad(angle, (330, 240), (146, 186))
    paper = 0.55 + (0.3 - 0.55) * bezel + (0.8 - 0.3) * glass
    assert_box(find_digits(page(paper.astype(np.float32), digit_ink(box, width=10), tone=0.25)), box)


@pytest.mark.parametrize(("box", "rim"), [
    ((70, 0, 356, 8), True),     # a band along the top, 80% of the width, 2% deep: a display's rim
    ((0, 20, 15, 250), True),    # ...down the left side
    ((340, 30, 356, 300), True),  # ...down the right side
    ((200, 40, 240, 380), False),  # a 1 standing away from the sides
    ((200, 0, 240, 380), False),   # a 1 running from the top: across the panel, not along it
    ((70, 150, 356, 160), False),  # a bar across the middle (a minus sign): not along a side
    ((10, 0, 120, 8), False),      # a band along the top, under half its length
])
def test_a_band_along_a_side_of_a_panel_is_its_rim(box, rim):
    """What the search inside a panel (356 x 394 here) finds along one of its sides, over half as long
    as that side and no deeper than a tenth of the panel, is the panel's rim (find.py `_rim`): the
    panel is searched again with its outside toned like its edge, and the rim is never the digit."""
    assert find._rim(box, (394, 356)) is rim
    assert find._edge(box, (394, 356)) is rim  # none of these spans the panel both ways


@pytest.mark.parametrize("centre", [(470, 110), (150, 380), (500, 380)])
def test_a_shadow_as_dark_as_the_ink_is_not_the_digit(centre):
    """A pen's or a finger's shadow, as dark as the strokes and with more ink than the digit, but
    soft: its edges rise over tens of pixels, a stroke's over a few (find.py `_rise`, SOFT). Taken
    by its ink, the shadow was the digit."""
    blob = Image.new("L", SIDE[::-1], 0)
    x, y = centre
    ImageDraw.Draw(blob).ellipse((x - 90, y - 55, x + 90, y + 55), fill=255)
    shade = np.asarray(blob.filter(ImageFilter.GaussianBlur(14)), np.float32) / 255
    paper = 0.92 * (1 - 0.75 * shade)
    assert_box(find_digits(page(paper.astype(np.float32), digit_ink())))


@pytest.mark.parametrize("centre", [(420, 225), (300, 330), (300, 225)])
def test_a_soft_shadow_the_strokes_run_into_is_set_aside(centre):
    """A shadow as dark as the ink that touches the digit, or lies across part of it, joins its
    strokes in one component, which the component's rise cannot tell apart. The pixels nearest the
    shadow's soft outline are set aside, but for the strokes drawn across it (find.py `_shadow`)."""
    blob = Image.new("L", SIDE[::-1], 0)
    x, y = centre
    ImageDraw.Draw(blob).ellipse((x - 90, y - 55, x + 90, y + 55), fill=255)
    shade = np.asarray(blob.filter(ImageFilter.GaussianBlur(14)), np.float32) / 255
    paper = 0.92 * (1 - 0.6 * shade)
    assert_box(find_digits(page(paper.astype(np.float32), digit_ink())), tolerance=6)
