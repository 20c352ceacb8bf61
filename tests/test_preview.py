"""``datagen preview``: the sample, the counts behind the plots, the page in a real browser, the contact sheet."""

from __future__ import annotations

import base64
import errno
import hashlib
import html
import io
import logging
import math
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from datagen import ownership, preview
from datagen.cli import main
from datagen.config import load_config
from datagen.errors import DatagenError
from datagen.pipeline import build
from datagen.records import NotABuildError, iter_records, read_manifest
from tests.cli_checks import one_line_error

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def plane_build(tmp_path_factory) -> Path:
    """A small real build: 4 frames of the fake plane source, all six tasks."""
    out = tmp_path_factory.mktemp("preview_build")
    build(load_config(None, {"source": "tests.fake_source:PlaneSource", "split_ratios": [1.0, 0.0, 0.0],
                             "source_options": {"frames": 4, "per_sequence": 2}}), out)
    return out


class _Cards(HTMLParser):
    """Collects the record cards (their attributes), img sources and <svg> blocks of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict] = []
        self.images: list[str] = []
        self.body: dict = {}
        self.error_text = ""
        self._in_errors = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article" and "card" in (attrs.get("class") or "").split():
            self.cards.append(attrs)
        elif tag == "img":
            self.images.append(attrs.get("src") or "")
        elif tag == "body":
            self.body = attrs
        self._in_errors = attrs.get("id") == "js-errors"

    def handle_data(self, data):
        if self._in_errors:
            self.error_text += data

    def handle_endtag(self, tag):
        self._in_errors = False


def _parse(text: str) -> _Cards:
    parser = _Cards()
    parser.feed(text)
    return parser


# --- sample and statistics ----------------------------------------------------------------------


def test_sample_is_the_smallest_seeded_keys_whatever_the_order(plane_build):
    ids = [r["id"] for r in iter_records(plane_build)]
    expected = sorted(ids, key=lambda i: hashlib.sha256(f"7:{i}".encode()).digest()[:8])[:5]
    sample = preview.load_sample(plane_build, limit=5, seed=7)
    assert [r["id"] for r in sample.records] == expected
    assert [r["id"] for r in preview.load_sample(plane_build, limit=5, seed=7).records] == expected
    assert [r["id"] for r in preview.load_sample(plane_build, limit=5, seed=8).records] != expected
    assert len(preview.load_sample(plane_build, limit=10_000).records) == len(ids)


def test_statistics_count_every_record_and_each_label_once(plane_build):
    records = list(iter_records(plane_build))
    stats = preview.load_sample(plane_build, limit=3).stats
    manifest = read_manifest(plane_build)
    assert stats.total == manifest["counts"]["total"] == len(records)
    assert {s: dict(c) for s, c in stats.by_source.items()} == {"plane": manifest["counts"]["by_task"]}
    for task, n in manifest["counts"]["by_task"].items():
        assert sum(stats.values[task].values()) + stats.nonpositive[task] == n
    labels = {(r["provenance"]["frames"][0], tuple(p)): d for r in records
              for p, d in zip(r["label"]["pixels"], r["label"]["range_m"])}
    assert stats.labels == len(labels) and sum(stats.depth.values()) == len(labels)
    assert stats.depth == Counter(preview.log_bin(d) for d in labels.values())


def test_the_page_tabulates_answer_quantiles_per_task_and_source(plane_build, tmp_path):
    records = list(iter_records(plane_build))
    stats = preview.load_sample(plane_build, limit=3).stats
    rows = {(task, source): (count, values) for task, source, count, values in stats.answer_quantiles()}
    assert set(rows) == {(r["task"], "plane") for r in records}
    for (task, _), (count, values) in rows.items():
        truth = np.array([r["value"] for r in records if r["task"] == task])
        assert count == len(truth)
        np.testing.assert_allclose(values, np.quantile(truth, preview.QUANTILES), rtol=1e-12)
    page = preview.write_preview(plane_build, tmp_path / "p.html").read_text(encoding="utf-8")
    table = page[page.index('<table class="answers">'):page.index("</table>")]
    time_row = next(row for row in table.split("<tr>") if row.startswith("<td>time</td>"))
    cells = re.findall(r"<td>([^<]*)</td>", time_row)
    assert cells[:3] == ["time", "plane", str(rows[("time", "plane")][0])] and cells[-1] == "s"
    assert [float(c) for c in cells[3:-1]] == pytest.approx(rows[("time", "plane")][1], rel=5e-3)


def test_log_bins_hold_their_values():
    rng = np.random.default_rng(0)
    for value in np.concatenate([10.0 ** rng.uniform(-4, 5, 2000), [1.0, 10.0, 0.1, 100.0]]):
        k = preview.log_bin(float(value))
        assert preview.bin_edge(k) <= value < preview.bin_edge(k + 1)
    assert preview.log_bin(1.0) == 0 and preview.log_bin(10.0) == preview.BINS_PER_DECADE
    assert [preview.log_bin(v) for v in (0.0, -1.0, float("nan"), float("inf"))] == [None] * 4


def test_histogram_bars_are_as_tall_as_their_counts():
    bins = Counter({-3: 2, 0: 8, 4: 4})
    svg = ET.fromstring(preview.svg_log_histogram(bins, "t", "m", nonpositive=3))
    bars = [e for e in svg.iter("{http://www.w3.org/2000/svg}rect")]
    heights = sorted(float(b.get("height")) for b in bars)
    assert len(bars) == 3 and heights[0] * 4 == pytest.approx(heights[2]) and heights[1] * 2 == pytest.approx(
        heights[2])
    text = "".join(svg.itertext())
    assert "3 \u2264 0 not shown" in text and "log scale" in text
    tips = [b.find("{http://www.w3.org/2000/svg}title").text for b in bars]
    assert any(tip.startswith("1\u20131.26 m: 8") for tip in tips)


def test_source_bars_stack_the_tasks_of_each_source():
    svg = ET.fromstring(preview.svg_source_task_bars({"a": Counter(distance=6, pose=2), "b": Counter(time=4)}))
    widths = {r.find("{http://www.w3.org/2000/svg}title").text: float(r.get("width"))
              for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.find("{http://www.w3.org/2000/svg}title")
              is not None}
    assert widths["a / distance: 6"] == pytest.approx(3 * widths["a / pose: 2"])
    assert widths["b / time: 4"] == pytest.approx(2 * widths["a / pose: 2"])


# --- the page -----------------------------------------------------------------------------------


def test_page_is_self_contained_with_inlined_thumbnails(plane_build, tmp_path):
    page = preview.write_preview(plane_build, tmp_path / "p.html", limit=7, thumb_width_px=300)
    text = page.read_text(encoding="utf-8")
    parsed = _parse(text)
    assert len(parsed.cards) == 7 and len(parsed.images) >= 7
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text) and "<link" not in text
    assert set(re.findall(r"https?://[^\s\"'<>]+", text)) <= {"http://www.w3.org/2000/svg"}
    for src in parsed.images:
        assert src.startswith("data:image/jpeg;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as image:
            assert image.format == "JPEG" and image.width == 300  # the build's images are wider
    for block in re.findall(r"<svg.*?</svg>", text, flags=re.S):
        ET.fromstring(block)  # well-formed inline SVG


def test_cards_show_question_answer_and_truth(plane_build, tmp_path):
    page = preview.write_preview(plane_build, tmp_path / "p.html", limit=1000)
    text = page.read_text(encoding="utf-8")
    cards = _parse(text).cards
    records = list(iter_records(plane_build))
    assert sorted((c["data-task"], c["data-source"], c["data-split"]) for c in cards) == sorted(
        (r["task"], r["provenance"]["source"], r["split"]) for r in records)
    for record in records[:5]:
        assert html.escape(record["question"]) in text and html.escape(record["answer"]) in text
        assert f"{record['value']:.4g} {record['unit']}" in text and record["id"] in text


def test_linked_images_resolve_from_the_page(plane_build, tmp_path):
    page = preview.write_preview(plane_build, tmp_path / "elsewhere" / "p.html", limit=4, inline=False)
    sources = _parse(page.read_text(encoding="utf-8")).images
    assert sources and all(not s.startswith("data:") for s in sources)
    assert all((page.parent / s).resolve().is_file() for s in sources)


def test_default_page_goes_into_the_build_and_bad_input_is_refused(plane_build, tmp_path):
    assert preview.write_preview(plane_build, limit=2) == plane_build / preview.PAGE_NAME
    with pytest.raises(NotABuildError, match="not a datagen build"):
        preview.write_preview(tmp_path)
    with pytest.raises(preview.PreviewError, match="positive"):
        preview.load_sample(plane_build, limit=0)


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no chromium binary on PATH (apt-get install chromium); the page is not checked in a browser")


def _browser_dom(url: str, tmp_path: Path) -> tuple[str, str]:
    """The DOM after the page's scripts ran, and Chromium's stderr (console messages included)."""
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "LANG": "C"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


@pytest.mark.slow
def test_page_runs_in_chromium_and_filters_from_the_url(plane_build, tmp_path):
    sample = preview.load_sample(plane_build, limit=30)
    page = preview.write_preview(plane_build, tmp_path / "p.html", sample=sample)
    tasks = Counter(r["task"] for r in sample.records)
    both = sum(1 for r in sample.records if r["task"] == "pose" and r["split"] == "train")
    assert 0 < tasks["distance"] < len(sample.records) and both > 0
    cases = [("", len(sample.records)), ("#task=distance", tasks["distance"]), ("?task=pose&split=train", both)]
    for suffix, expected in cases:
        dom, log = _browser_dom(page.as_uri() + suffix, tmp_path)
        parsed = _parse(dom)
        assert parsed.body.get("data-ready") == "1", f"{suffix}: the page script did not finish"
        assert not parsed.error_text.strip(), parsed.error_text
        assert [line for line in log.splitlines() if ":CONSOLE" in line] == [], f"{suffix}: console messages"
        visible = [c for c in parsed.cards if "hidden" not in c]
        assert len(parsed.cards) == len(sample.records) and len(visible) == expected, suffix
        assert re.search(rf'id="shown-count">{expected}<', dom), suffix
        if suffix == "#task=distance":
            assert {c["data-task"] for c in visible} == {"distance"}


# --- contact sheet and command --------------------------------------------------------------------


def test_contact_sheet_is_a_grid_with_captions(plane_build, tmp_path):
    sample = preview.load_sample(plane_build, limit=5)
    path = preview.write_contact_sheet(plane_build, tmp_path / "sheet.png", sample=sample, cells=4,
                                       cell_width_px=120)
    with Image.open(path) as image:
        sheet = np.asarray(image.convert("RGB"))
    columns = round(math.sqrt(4 * 1.6))  # 3 columns, 2 rows
    assert sheet.shape[1] == columns * (120 + 6) + 6
    first = sample.records[0]
    with Image.open(plane_build / first["images"][0]) as image:
        cell_h = round(image.height * (120 if len(first["images"]) == 1 else 60) / image.width)
    caption = sheet[6 + cell_h + 2: 6 + cell_h + 32, 6: 6 + 120]
    assert (caption < 128).any() and (caption == 255).mean() > 0.6  # dark text on white
    assert sheet[6:6 + cell_h, 6:6 + 120].std() > 20  # the (noisy) image itself


def test_preview_command_writes_page_and_sheet(plane_build, tmp_path):
    out, sheet = tmp_path / "page.html", tmp_path / "sheet.png"
    result = CliRunner().invoke(main, ["preview", str(plane_build), "--out", str(out), "--limit", "3",
                                       "--contact-sheet", str(sheet), "--sheet-cells", "2"])
    assert result.exit_code == 0, result.output
    total = read_manifest(plane_build)["counts"]["total"]
    assert f"(3 of {total} records)" in result.output and "(2 images)" in result.output
    assert len(_parse(out.read_text(encoding="utf-8")).cards) == 3 and sheet.stat().st_size > 0
    result = CliRunner().invoke(main, ["preview", str(tmp_path)])
    assert result.exit_code == 2 and "not a datagen build" in result.output


def test_a_machine_fault_while_writing_stops_with_its_own_error(plane_build, tmp_path, monkeypatch):
    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    sample = preview.load_sample(plane_build, limit=2)
    monkeypatch.setattr(ownership.os, "fsync", disk_full)
    for write, out in ((preview.write_preview, tmp_path / "p.html"), (preview.write_contact_sheet, tmp_path / "s.png")):
        with pytest.raises(OSError) as caught:
            write(plane_build, out, sample=sample)
        assert caught.value.errno == errno.ENOSPC and not isinstance(caught.value, DatagenError)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind
    result = CliRunner().invoke(main, ["preview", str(plane_build), "--out", str(tmp_path / "p.html"), "--limit", "2"])
    one_line_error(result, f"error: {tmp_path / 'p.html'}: {os.strerror(errno.ENOSPC)} (the disk is full; fix it "
                           "and run the same command again")


def test_an_unreadable_image_leaves_a_note_not_a_crash(plane_build, tmp_path, caplog):
    copy = tmp_path / "build"
    shutil.copytree(plane_build, copy)
    record = next(iter_records(copy))
    (copy / record["images"][0]).write_bytes(b"not an image")
    sample = preview.load_sample(copy, limit=1000)
    text = preview.write_preview(copy, tmp_path / "p.html", sample=sample).read_text(encoding="utf-8")
    assert f"image not readable: {record['images'][0]}" in text
    assert len(_parse(text).cards) == len(sample.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="datagen.preview"):
        preview.write_contact_sheet(copy, tmp_path / "sheet.png", sample=sample, cells=len(sample.records))
    assert f"contact sheet: image {copy / record['images'][0]} left out" in caplog.text
