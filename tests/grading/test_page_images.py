"""Display copies of figures for light report pages: sizes, sharing, caching, refusals, page weight."""

import base64
import hashlib
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from checks.publish.page_images import (
    MAX_WIDTH,
    REFERENCE_FOLDER,
    WEBP_METHOD,
    WEBP_QUALITY,
    PageImage,
    PageImages,
    page_weight,
)
from checks.publish.report import TEMPLATES


def save_photograph(path: Path, dpi: int = 150) -> Path:
    """A noisy colour image shown with imshow, 1200 x 900 pixels at the default dpi."""
    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[0:1:300j, 0:1:400j]
    smooth = np.stack([rows, columns, (rows + columns) / 2], axis=-1)
    figure = Figure(figsize=(8, 6), dpi=dpi)
    axes = figure.add_subplot()
    axes.imshow(np.clip(smooth + rng.normal(0, 0.15, smooth.shape), 0, 1))
    axes.set_title("photograph")
    figure.savefig(path)
    return path


def save_line_plot(path: Path) -> Path:
    """A training curve, 640 x 480 pixels."""
    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    axes = figure.add_subplot()
    epochs = np.arange(20)
    axes.plot(epochs, np.exp(-epochs / 5), label="loss")
    axes.plot(epochs, 1 - np.exp(-epochs / 4), label="accuracy")
    axes.legend()
    figure.savefig(path)
    return path


def student_folder(out: Path, name: str = "Asha_R1") -> Path:
    folder = out / name
    (folder / "figures").mkdir(parents=True)
    return folder


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` RGB pixels and holds almost none: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_a_photograph_becomes_a_much_smaller_webp_at_most_900_pixels_wide(tmp_path):
    student = student_folder(tmp_path)
    source = save_photograph(student / "figures" / "figure-001.png")
    image = PageImages(tmp_path).student_figure(student, "figure-001.png", "figure from cell 3")
    assert image == PageImage("figures/web/figure-001.webp", "figures/figure-001.png", 900, 675, "figure from cell 3")
    display = student / image.src
    assert display.stat().st_size < source.stat().st_size / 4
    with Image.open(display) as decoded:
        assert (decoded.format, decoded.size) == ("WEBP", (MAX_WIDTH, 675))


def test_a_figure_narrower_than_the_page_is_not_enlarged(tmp_path):
    student = student_folder(tmp_path)
    save_photograph(student / "figures" / "small.png", dpi=50)
    image = PageImages(tmp_path).student_figure(student, "small.png", "small")
    assert (image.width, image.height) == (400, 300)


def test_a_line_plot_keeps_whichever_encoding_is_smaller(tmp_path):
    student = student_folder(tmp_path)
    source = save_line_plot(student / "figures" / "curve.png")
    image = PageImages(tmp_path).student_figure(student, "curve.png", "curve")
    with Image.open(source) as original:
        pixels = original.convert("RGB")
    webp, png = io.BytesIO(), io.BytesIO()
    pixels.save(webp, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    pixels.save(png, "PNG", optimize=True)
    smaller = "webp" if len(webp.getvalue()) < len(png.getvalue()) else "png"
    assert image.src == f"figures/web/curve.{smaller}" and (image.width, image.height) == (640, 480)
    assert (student / image.src).stat().st_size == min(len(webp.getvalue()), len(png.getvalue()))
    assert sorted(path.name for path in (student / "figures" / "web").iterdir()) == [f"curve.{smaller}"]


def test_the_display_copy_is_reused_until_its_source_changes(tmp_path):
    student = student_folder(tmp_path)
    source = save_photograph(student / "figures" / "figure-001.png")
    images = PageImages(tmp_path)
    first = images.student_figure(student, "figure-001.png", "photo")
    written = (student / first.src).stat().st_mtime_ns
    assert images.student_figure(student, "figure-001.png", "photo") == first
    assert (student / first.src).stat().st_mtime_ns == written
    later = written + 10**9
    os.utime(source, ns=(later, later))
    assert images.student_figure(student, "figure-001.png", "photo") == first
    assert (student / first.src).stat().st_mtime_ns > written


def test_students_with_the_same_reference_figure_share_one_file(tmp_path):
    asha, bela, chen = (student_folder(tmp_path, name) for name in ("Asha_R1", "Bela_R2", "Chen_R3"))
    source = save_photograph(asha / "figures" / "reference-viridis.png")
    (bela / "figures" / "reference-viridis.png").write_bytes(source.read_bytes())
    save_line_plot(chen / "figures" / "reference-viridis.png")
    images = PageImages(tmp_path)
    shown = [images.reference_figure(student, "reference-viridis.png", "reference") for student in (asha, bela, chen)]
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    assert shown[0] == shown[1]
    assert shown[0].src == f"../{REFERENCE_FOLDER}/{digest}.webp" and shown[0].full == "figures/reference-viridis.png"
    assert shown[2].src != shown[0].src and (chen / shown[2].src).is_file()
    assert len(list((tmp_path / REFERENCE_FOLDER).iterdir())) == 2
    assert not (asha / "figures" / "web").exists()


def test_inline_images_are_data_uris_of_the_display_copies(tmp_path):
    student = student_folder(tmp_path)
    save_photograph(student / "figures" / "figure-001.png")
    save_line_plot(student / "figures" / "reference-curve.png")
    before = {path for path in tmp_path.rglob("*")}
    images = PageImages(tmp_path, inline=True)
    figure = images.student_figure(student, "figure-001.png", "photo")
    reference = images.reference_figure(student, "reference-curve.png", "curve")
    assert figure.src.startswith("data:image/webp;base64,") and figure.full == figure.src
    display = student / "figures" / "web" / "figure-001.webp"
    assert base64.b64decode(figure.src.partition(",")[2]) == display.read_bytes()
    assert reference.src.startswith("data:image/") and reference.full == reference.src
    written = {path for path in tmp_path.rglob("*")} - before
    assert {path.relative_to(tmp_path).parts[-2] for path in written if path.is_file()} == {"web", REFERENCE_FOLDER}


def link_outside(figures: Path) -> str:
    save_photograph(figures.parent.parent / "host-secret.png")
    (figures / "linked.png").symlink_to(figures.parent.parent / "host-secret.png")
    return "linked.png"


def parent_path(figures: Path) -> str:
    save_photograph(figures.parent / "outside.png")
    return "../outside.png"


def missing(figures: Path) -> str:
    return "absent.png"


def folder(figures: Path) -> str:
    (figures / "folder.png").mkdir()
    return "folder.png"


def not_an_image(figures: Path) -> str:
    (figures / "notes.png").write_text("print('not a png')")
    return "notes.png"


def truncated(figures: Path) -> str:
    data = save_photograph(figures / "whole.png").read_bytes()
    (figures / "truncated.png").write_bytes(data[: len(data) // 2])
    return "truncated.png"


def over_50_megapixels(figures: Path) -> str:
    """A real, decodable 56-megapixel image (one bit a pixel, so it is cheap to make)."""
    Image.new("1", (8000, 7000)).save(figures / "large.png")
    return "large.png"


def over_pils_own_limit(figures: Path) -> str:
    (figures / "huge.png").write_bytes(png_header_only(40000, 40000))
    return "huge.png"


@pytest.mark.parametrize(
    "plant",
    [link_outside, parent_path, missing, folder, not_an_image, truncated, over_50_megapixels, over_pils_own_limit],
)
def test_a_figure_that_is_not_a_plain_decodable_file_is_refused(tmp_path, plant):
    student = student_folder(tmp_path)
    name = plant(student / "figures")
    images = PageImages(tmp_path)
    assert images.student_figure(student, name, "x") is None
    assert images.reference_figure(student, name, "x") is None
    assert not list((student / "figures").glob("web/*")) and not list(tmp_path.glob(f"{REFERENCE_FOLDER}/*"))


def test_a_linked_display_folder_is_not_written_through(tmp_path):
    student = student_folder(tmp_path)
    save_photograph(student / "figures" / "figure-001.png")
    host = tmp_path / "host"
    host.mkdir()
    (student / "figures" / "web").symlink_to(host)
    assert PageImages(tmp_path).student_figure(student, "figure-001.png", "x") is None
    assert not list(host.iterdir())


def test_a_planted_link_at_the_display_name_is_replaced_not_followed(tmp_path):
    student = student_folder(tmp_path)
    save_photograph(student / "figures" / "figure-001.png")
    (student / "figures" / "web").mkdir()
    target = tmp_path / "host-file"
    target.write_text("keep")
    (student / "figures" / "web" / "figure-001.webp").symlink_to(target)
    image = PageImages(tmp_path).student_figure(student, "figure-001.png", "x")
    assert not (student / image.src).is_symlink() and target.read_text() == "keep"


def test_page_weight_counts_the_page_and_each_local_image_once(tmp_path):
    student = student_folder(tmp_path)
    photo = save_photograph(student / "figures" / "a photo.png")
    plot = save_line_plot(student / "figures" / "plot.png")
    page = student / "report.html"
    inline = "data:image/png;base64," + base64.b64encode(plot.read_bytes()).decode()
    page.write_text(
        '<img src="figures/a%20photo.png"><img src="./figures/a%20photo.png?v=1" alt="again">'
        f'<img src="{inline}"><img src="figures/absent.png"><img src="https://example.org/x.png">'
        '<a href="figures/plot.png">full size</a>'
    )
    assert page_weight(page) == page.stat().st_size + photo.stat().st_size
    page.write_text(page.read_text() + '<img src="figures/plot.png">')
    assert page_weight(page) == page.stat().st_size + photo.stat().st_size + plot.stat().st_size


def test_the_figure_macro_loads_lazily_and_escapes_student_text(tmp_path):
    macro = TEMPLATES.from_string('{% from "figure.html.j2" import figure %}{{ figure(image, caption, "student") }}')
    hostile = '"><script>alert(1)</script>'
    image = PageImage("figures/web/figure-001.webp", "figures/figure-001.png", 900, 675, hostile)
    html = macro.render(image=image, caption=f"cell 3 — {hostile}")
    assert html.startswith('<figure class="student"><a href="figures/figure-001.png" target="_blank"')
    assert '<img src="figures/web/figure-001.webp" width="900" height="675"' in html
    assert 'loading="lazy" decoding="async"' in html and "<figcaption>cell 3 — &#34;&gt;&lt;script&gt;" in html
    assert "<script>" not in html and 'alt="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    plain = TEMPLATES.from_string('{% from "figure.html.j2" import figure %}{{ figure(image, "c") }}')
    assert plain.render(image=image).startswith("<figure><a ")
    uri = "data:image/webp;base64,UklGRg=="
    inlined = plain.render(image=PageImage(uri, uri, 1, 1, "x"))
    assert inlined.startswith("<figure><img ") and inlined.count(uri) == 1 and "<a " not in inlined
