"""Files as phones, cameras and computers really write them: broken ones, huge ones, odd names."""

from __future__ import annotations

import io
import json
import struct
import threading
import warnings

import pytest
from PIL import Image

from runtime import Classifier, InputError
from runtime import decode
from tools.synthetic import draw_digit


def _photo(label: int = 7, size=(300, 400)) -> Image.Image:
    """A digit 140 px tall in the middle of a white page of `size` (width, height)."""
    page = Image.new("L", size, 255)
    page.paste(draw_digit(label, 200, 140, (50, 30)), ((size[0] - 200) // 2, (size[1] - 200) // 2))
    return page


def _exif(orientation: int | None, broken_tag: bool = False) -> bytes:
    """A raw EXIF block (as JPEG's APP1 holds it): IFD0 with an orientation, and with `broken_tag` an
    ImageDescription that points past the end of the block."""
    entries = []
    if broken_tag:
        entries.append(struct.pack("<HHIHH", 0x010E, 2, 100, 0x4000, 0))
    if orientation is not None:
        entries.append(struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0))
    return b"Exif\0\0" + b"II*\0" + struct.pack("<IH", 8, len(entries)) + b"".join(entries) + struct.pack("<I", 0)


def test_an_orientation_that_reads_well_is_used_though_another_tag_is_broken(tmp_path):
    path = tmp_path / "side.jpg"
    _photo().transpose(Image.Transpose.ROTATE_90).save(path, exif=_exif(6, broken_tag=True), quality=95)
    opened = decode.open_image(path)
    assert opened.image.size == (300, 400) and opened.note is None  # turned, and nothing to say
    assert Classifier.load().predict(path).label == 7


def test_two_threads_never_swap_their_files_exif_problems(tmp_path, monkeypatch):
    """Recording Pillow's warnings is process-wide: while one thread reads a file whose EXIF is broken,
    another thread's photo must neither get that note nor lose its turn (`decode._recorded`)."""
    bad, good = tmp_path / "bad.png", tmp_path / "good.jpg"
    _photo(3).save(bad)
    _photo(7).transpose(Image.Transpose.ROTATE_90).save(good, exif=_exif(6), quality=95)
    a_inside, b_inside, a_warned = threading.Event(), threading.Event(), threading.Event()
    real_open = Image.open

    def slow_open(handle, *args, **kwargs):
        data = handle.getvalue() if isinstance(handle, io.BytesIO) else None
        is_bad = getattr(handle, "name", "").endswith("bad.png") or (data is not None and data.startswith(b"\x89PNG"))
        if is_bad:  # file A: warns while B would be reading its own header
            a_inside.set()
            b_inside.wait(1.0)
            warnings.warn_explicit("Corrupt EXIF data.", UserWarning, Image.__file__, 1)
            a_warned.set()
        else:
            b_inside.set()
            a_warned.wait(1.0)
        return real_open(handle, *args, **kwargs)

    monkeypatch.setattr(decode.Image, "open", slow_open)
    results = {}
    a = threading.Thread(target=lambda: results.update(a=decode.open_image(bad)))
    b = threading.Thread(target=lambda: results.update(b=decode.open_image(good)))
    a.start()
    assert a_inside.wait(5)
    b.start()
    a.join(10)
    b.join(10)
    assert results["b"].note is None and results["b"].image.size == (300, 400), results["b"].note
    assert results["a"].note and results["a"].note.startswith("EXIF data unreadable (Pillow: Corrupt EXIF data)")


FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"  # fonts-dejavu-core (tools/fonts.sh)


@pytest.mark.parametrize("kind", ["gif", "tiff"])
def test_a_gif_or_tiff_cut_short_after_its_first_frame_reads_that_frame(tmp_path, kind):
    """A copy interrupted part-way (at 70% of this GIF, 50% of this TIFF, where Pillow cannot count
    their frames): the first frame is whole, and is read, with a note."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, 280)
    frames = []
    for text in "412":
        frame = Image.new("RGB", (300, 400), "white")
        ImageDraw.Draw(frame).text((150, 200), text, fill="black", font=font, anchor="mm")
        frames.append(frame)
    whole = io.BytesIO()
    frames[0].save(whole, "GIF" if kind == "gif" else "TIFF", save_all=True, append_images=frames[1:],
                   **({"duration": 200} if kind == "gif" else {}))
    data = whole.getvalue()
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(data[: int(len(data) * (0.7 if kind == "gif" else 0.5))])
    with pytest.raises(Exception):  # Pillow itself cannot count its frames (IndexError, TypeError)
        Image.open(path).n_frames
    (result,) = Classifier.load().classify_paths([path])
    assert result.ok and result.prediction.label == 4
    unit = "frame" if kind == "gif" else "page"
    assert result.note.startswith(f"the file breaks off after its first {unit}, which was classified")


def test_every_broken_file_is_one_line_and_costs_no_other_item(tmp_path):
    photo = io.BytesIO()
    _photo(2).convert("RGB").save(photo, "AVIF", quality=90)
    data = photo.getvalue()
    broken = data[:-150] + b"\0" * 150  # its colour planes do not decode
    (tmp_path / "broken.avif").write_bytes(broken)
    (tmp_path / "cut.avif").write_bytes(data[: len(data) // 2])
    classifier = Classifier.load()
    for name in ("broken.avif", "cut.avif"):
        with pytest.raises(InputError, match=rf"{name}: corrupt or truncated image \("):
            classifier.predict(tmp_path / name)
    good = tmp_path / "good.png"
    _photo(2).save(good)
    results = classifier.predict_batch([tmp_path / "broken.avif", good])
    assert not results[0].ok and results[0].error.startswith("item 0: ")
    assert results[1].ok and results[1].prediction.label == 2


def test_a_jpeg_past_pillows_own_pixel_limit_decodes_at_reduced_scale(tmp_path, monkeypatch):
    """A 200 MP phone photo is past Pillow's limit (about 179 MP), where it refuses the file as a
    decompression bomb; a JPEG decodes at an eighth of each side anyway. Here the limit is lowered so
    that a small JPEG is past it."""
    path = tmp_path / "huge.jpg"
    page = Image.new("L", (2400, 1800), 235)
    page.paste(_photo(5, (600, 450)), (900, 700))
    page.save(path, quality=90)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # 4.3 MP is past twice that: an error
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    opened = decode.open_image(path)
    assert max(opened.image.size) < 2400 and opened.size == (2400, 1800)
    assert Classifier.load().predict(path).label == 5
    png = tmp_path / "huge.png"  # a format decoded at full size stays refused
    page.save(png)
    with pytest.raises(InputError, match="too large to decode safely"):
        Classifier.load().predict(png)


def test_folders_read_every_jpeg_suffix_and_leave_out_macos_metadata_files(tmp_path):
    for name in ("a.jfif", "b.JPE", "c.hif.png"):
        _photo(6).save(tmp_path / name, "JPEG" if not name.endswith(".png") else "PNG")
    (tmp_path / "._a.jfif").write_bytes(b"\x00\x05\x16\x07" + b"\0" * 80)  # AppleDouble: not a picture
    results = list(Classifier.load().classify_paths([tmp_path]))
    assert sorted(r.path.rsplit("/", 1)[-1] for r in results) == ["a.jfif", "b.JPE", "c.hif.png"]
    assert all(r.ok and r.prediction.label == 6 for r in results)


def test_the_cli_says_how_a_failed_file_was_read(tmp_path, capsys):
    """A photo whose EXIF block is broken is read as stored; when that costs its answer, the error line
    and its JSON say so (the note `classify_paths` gives)."""
    from runtime.classify import main

    blank = Image.new("L", (120, 90), 255)
    path = tmp_path / "blank.gif"
    blank.save(path, save_all=True, append_images=[_photo(3, (120, 90))], duration=100)
    assert main([str(path)]) != 0
    err = capsys.readouterr().err
    assert err.strip() == (f"{path}: error: no digit found (blank or ink-less image)  "
                           "(animated image with 2 frames: the first frame was classified)")
    assert main(["--json", str(path)]) != 0
    line = json.loads(capsys.readouterr().out)
    assert line == {"path": str(path), "error": "no digit found (blank or ink-less image)",
                    "note": "animated image with 2 frames: the first frame was classified"}


def test_a_heif_collection_is_read_as_its_first_photo_without_a_note(tmp_path):
    heif = pytest.importorskip("pillow_heif")
    photos = heif.from_pillow(_photo(4).convert("RGB"))
    photos.add_from_pillow(_photo(9).convert("RGB"))
    path = tmp_path / "two.heic"
    photos.save(path, quality=90)
    (result,) = Classifier.load().classify_paths([path])
    assert result.ok and result.prediction.label == 4 and result.note is None


def test_a_child_forked_while_a_thread_records_can_still_decode(tmp_path, fork_while_held):
    """`os.fork` while another thread holds the recording lock: the child starts with it free."""
    path = tmp_path / "seven.png"
    _photo(7).save(path)
    assert fork_while_held(decode._recorded, lambda: decode.open_image(path).image.size == (300, 400)) == 0
