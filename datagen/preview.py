"""A look at a build: one self-contained HTML page, and a contact-sheet PNG.

The page (``preview.html``) needs no network: images are inlined as JPEG thumbnails
(at most ``thumb_width_px`` wide) or linked relative to the page, the plots are inline
SVG drawn here, and the filters are a few lines of plain JavaScript. It shows:

* a seeded sample of records (the ``limit`` records whose sha256 of ``"<seed>:<id>"`` is
  smallest, so the choice does not depend on shard order), each with its marked
  image(s), question, answer, truth (value and unit), source and split, filtered by
  task, source and split (also from the URL: ``preview.html#task=distance&source=kitti``
  or ``?task=...``);
* over all records of the build: the answer values of each task (histogram on log-spaced
  bins, and a table of their quantiles per task and source, to see at a glance whether
  answers spread over a sensible range: time answers all under a second are not), records
  per source and task (stacked bars), and the range of the labelled points the records
  ask about (each label counted once, however many tasks use it; the build does not keep
  the labels no record asks about).

The contact sheet is a PNG grid of the first sampled records' images with the task and
truth printed under each, for a look from a terminal.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import html
import io
import logging
import math
import os
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from datagen import ownership
from datagen import records as layout
from datagen.errors import DatagenError
from datagen.images import png_software, signed_png
from datagen.tasks.base import TASK_UNITS

log = logging.getLogger(__name__)

PAGE_NAME = "preview.html"
#: Marks a page or contact sheet as datagen's, so that a later preview may replace it.
GENERATOR = "datagen preview"
DEFAULT_LIMIT = 200
THUMB_WIDTH_PX = 640
THUMB_QUALITY = 80
SHEET_CELLS = 48
SHEET_CELL_WIDTH_PX = 256
BINS_PER_DECADE = 10
TASK_ORDER = tuple(TASK_UNITS)
#: Quantiles of the answer values the page tabulates per task and source.
QUANTILES = (0.0, 0.1, 0.5, 0.9, 1.0)
#: Okabe-Ito colours, told apart by colour-blind readers too.
PALETTE = ("#0072B2", "#56B4E9", "#E69F00", "#D55E00", "#009E73", "#CC79A7", "#F0E442", "#000000")


class PreviewError(DatagenError):
    """A preview cannot be written (bad option, or an output path that cannot be used)."""


# --------------------------------------------------------------------------- sample and statistics


def log_bin(value: float) -> int | None:
    """Index k of the log-spaced bin [10^(k/B), 10^((k+1)/B)) holding ``value`` (None if not > 0)."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        return None
    k = math.floor(math.log10(value) * BINS_PER_DECADE)
    return k + 1 if value >= bin_edge(k + 1) else k  # guard against log10 rounding at an edge


def bin_edge(k: int) -> float:
    """Lower edge of log bin ``k``."""
    return 10.0 ** (k / BINS_PER_DECADE)


@dataclass
class BuildStats:
    """Counts over every record of a build, gathered in one pass.

    Attributes:
        total: records seen.
        values: task -> Counter of log bins of the answer values.
        nonpositive: task -> number of values <= 0 (not on a log axis).
        units: task -> unit of its values.
        by_source: source -> Counter of tasks.
        depth: Counter of log bins of the labelled points' range_m, each label once.
        labels: distinct labelled points counted in ``depth``.
        answers: (task, source) -> the finite answer values, float64 array('d').
    """

    total: int = 0
    values: dict = field(default_factory=lambda: defaultdict(Counter))
    nonpositive: Counter = field(default_factory=Counter)
    units: dict = field(default_factory=dict)
    by_source: dict = field(default_factory=lambda: defaultdict(Counter))
    depth: Counter = field(default_factory=Counter)
    labels: int = 0
    answers: dict = field(default_factory=lambda: defaultdict(lambda: array("d")))
    _seen: set = field(default_factory=set, repr=False)

    def add(self, record: dict) -> None:
        """Count one canonical record."""
        task, source = record.get("task", "?"), _source(record)
        self.total += 1
        self.by_source[source][task] += 1
        self.units.setdefault(task, record.get("unit", ""))
        value = record.get("value")
        k = log_bin(value)
        if k is None:
            self.nonpositive[task] += 1
        else:
            self.values[task][k] += 1
        if isinstance(value, (int, float)) and math.isfinite(value):
            self.answers[(task, source)].append(float(value))
        self._add_labels(record)

    def answer_quantiles(self) -> list[tuple[str, str, int, list[float]]]:
        """(task, source, count, the ``QUANTILES`` of the answer values) in task then source order."""
        order = {task: i for i, task in enumerate(TASK_ORDER)}
        rows = []
        for (task, source), values in sorted(self.answers.items(),
                                             key=lambda item: (order.get(item[0][0], len(order)), item[0])):
            ranked = sorted(values)
            rows.append((task, source, len(ranked), [_quantile(ranked, q) for q in QUANTILES]))
        return rows

    def _add_labels(self, record: dict) -> None:
        """Count the label points of a record not counted before (same frame, same pixel)."""
        label = record.get("label") or {}
        frame = (record.get("provenance", {}).get("frames") or [record.get("id")])[0]
        for pixel, range_m in zip(label.get("pixels") or [], label.get("range_m") or []):
            key = hash((frame, tuple(pixel)))
            if key in self._seen:
                continue
            self._seen.add(key)
            k = log_bin(range_m)
            if k is not None:
                self.depth[k] += 1
                self.labels += 1


def _quantile(ranked: list[float], q: float) -> float:
    """The q-quantile of sorted values, linear between order statistics (numpy's default)."""
    position = q * (len(ranked) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ranked) - 1)
    return ranked[low] + (ranked[high] - ranked[low]) * (position - low)


def sample_key(seed: int, record_id: str) -> int:
    """The sort key of a record in the seeded sample: 64 bits of sha256("<seed>:<id>")."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{record_id}".encode()).digest()[:8], "big")


@dataclass
class PreviewSample:
    """The records a preview shows (in sample order) and the statistics of the whole build."""

    records: list
    stats: BuildStats
    seed: int
    manifest: dict


def load_sample(build_dir: str | Path, limit: int = DEFAULT_LIMIT, seed: int = 0) -> PreviewSample:
    """Read a build once: keep the ``limit`` records of smallest sample key, count all of them.

    Raises:
        NotABuildError: ``build_dir`` holds no build.
        PreviewError: ``limit`` is not positive.
    """
    if limit < 1:
        raise PreviewError(f"preview limit must be a positive number of records, got {limit}")
    build_dir = layout.check_build_dir(build_dir)
    stats, heap = BuildStats(), []  # heap of (-key, position, record): the largest kept key on top
    for position, record in enumerate(layout.iter_records(build_dir)):
        stats.add(record)
        item = (-sample_key(seed, str(record.get("id"))), -position, record)
        if len(heap) < limit:
            heapq.heappush(heap, item)
        elif item[:2] > heap[0][:2]:
            heapq.heapreplace(heap, item)
    records = [record for _, _, record in sorted(heap, key=lambda item: (-item[0], -item[1]))]
    return PreviewSample(records, stats, seed, layout.read_manifest(build_dir))


# --------------------------------------------------------------------------- images


def thumbnail_jpeg(path: Path, max_width_px: int, quality: int = THUMB_QUALITY) -> bytes:
    """JPEG bytes of an image scaled down (never up) to at most ``max_width_px`` wide."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        if image.width > max_width_px:
            height = max(1, round(image.height * max_width_px / image.width))
            image = image.resize((max_width_px, height), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class _ImageSources:
    """The ``src`` of each record image on the page: a data URI, or a path relative to the page."""

    def __init__(self, build_dir: Path, page: Path, inline: bool, max_width_px: int) -> None:
        self.build_dir, self.page_dir = build_dir, page.resolve().parent
        self.inline, self.max_width_px = inline, max_width_px
        self._cache: dict[str, str | None] = {}

    def __call__(self, relpath: str) -> str | None:
        """The src of ``relpath`` (relative to the build), or None when the file is unusable."""
        if relpath not in self._cache:
            self._cache[relpath] = self._source(relpath)
        return self._cache[relpath]

    def _source(self, relpath: str) -> str | None:
        path = self.build_dir / relpath
        if not self.inline:
            return Path(os.path.relpath(path.resolve(), self.page_dir)).as_posix() if path.is_file() else None
        try:
            data = thumbnail_jpeg(path, self.max_width_px)
        except (OSError, UnidentifiedImageError) as exc:
            log.warning("preview: image %s left out (%s)", path, exc)
            return None
        return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


# --------------------------------------------------------------------------- SVG plots


def _nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about ``ticks`` steps over ``span``."""
    raw = max(span, 1e-12) / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _tick_label(value: float) -> str:
    if value >= 10_000 or value < 0.001:
        return f"{value:.0e}".replace("e+0", "e").replace("e-0", "e-")
    return f"{value:g}"


def _log_ticks(k_lo: int, k_hi: int) -> list[float]:
    """Values to label on a log axis spanning bins k_lo..k_hi: decades, and 2, 5 on short spans."""
    lo, hi = bin_edge(k_lo), bin_edge(k_hi + 1)
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    multiples = (1,) if k_hi - k_lo > 2 * BINS_PER_DECADE else (1, 2, 5)
    return [m * 10.0 ** d for d in decades for m in multiples if lo <= m * 10.0 ** d <= hi]


def _svg_axes(width: int, height: int, box: tuple, y_max: float, title: str) -> list[str]:
    """The frame, title and y ticks (counts, 0..y_max) of a plot with plot area ``box``."""
    left, top, right, bottom = box
    step = max(1.0, _nice_step(y_max))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="11">',
             f"<title>{html.escape(title)}</title>",
             f'<text x="{left}" y="14" font-size="12" font-weight="bold">{html.escape(title)}</text>',
             f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#444"/>']
    tick = 0.0
    while tick <= y_max + 1e-9:
        y = bottom - (bottom - top) * tick / y_max
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
        tick += step
    return parts


def svg_log_histogram(bins: Counter, title: str, unit: str, colour: str = PALETTE[0],
                      nonpositive: int = 0, width: int = 360, height: int = 190) -> str:
    """An SVG histogram of counts on log-spaced bins (``log_bin`` indices), log x axis."""
    if not bins:
        return f'<p class="empty">{html.escape(title)}: no value &gt; 0</p>'
    k_lo, k_hi = min(bins) - 1, max(bins) + 1
    box = (48, 24, width - 12, height - 36)
    left, top, right, bottom = box
    y_max = max(bins.values())
    parts = _svg_axes(width, height, box, y_max, title)
    bin_width = (right - left) / (k_hi - k_lo + 1)
    for k, count in sorted(bins.items()):
        x, h = left + (k - k_lo) * bin_width, (bottom - top) * count / y_max
        tip = f"{bin_edge(k):.3g}\u2013{bin_edge(k + 1):.3g} {unit}: {count}"
        parts.append(f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{max(bin_width - 1, 1):.1f}" '
                     f'height="{h:.1f}" fill="{colour}"><title>{html.escape(tip)}</title></rect>')
    for value in _log_ticks(k_lo, k_hi):
        x = left + (math.log10(value) * BINS_PER_DECADE - k_lo) * bin_width
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#444"/>'
                     f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{_tick_label(value)}</text>')
    note = f" ({nonpositive} \u2264 0 not shown)" if nonpositive else ""
    parts.append(f'<text x="{(left + right) / 2:.0f}" y="{height - 4}" text-anchor="middle">'
                 f'{html.escape(unit)}, log scale{note}</text></svg>')
    return "".join(parts)


def _source(record: dict) -> str:
    """The record's source name, "?" when it has none (the same on cards, filters and plots)."""
    return str(record.get("provenance", {}).get("source", "?"))


def task_colours(tasks) -> dict[str, str]:
    """A fixed colour per task: the known tasks in TASK_ORDER first, others after."""
    ordered = [t for t in TASK_ORDER if t in tasks] + sorted(t for t in tasks if t not in TASK_ORDER)
    fixed = {t: PALETTE[i] for i, t in enumerate(TASK_ORDER)}
    extra = iter(PALETTE[len(TASK_ORDER):] * (len(ordered) + 1))
    return {t: fixed.get(t) or next(extra) for t in ordered}


def svg_source_task_bars(by_source: dict, width: int = 720, row_px: int = 24) -> str:
    """An SVG of one horizontal bar per source, stacked by task, with the totals."""
    colours = task_colours({task for counts in by_source.values() for task in counts})
    sources = sorted(by_source, key=lambda s: (-sum(by_source[s].values()), s))
    left, right, top = 150, width - 70, 44
    height = top + row_px * len(sources) + 8
    longest = max((sum(c.values()) for c in by_source.values()), default=1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="11">',
             '<title>Records per source and task</title>',
             '<text x="0" y="14" font-size="12" font-weight="bold">Records per source and task</text>']
    for i, (task, colour) in enumerate(colours.items()):  # legend
        parts.append(f'<rect x="{left + i * 95}" y="22" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{left + i * 95 + 14}" y="31">{html.escape(task)}</text>')
    for row, source in enumerate(sources):
        parts += _stacked_row(source, by_source[source], colours, (left, right, top + row * row_px, row_px),
                              longest)
    return "".join(parts) + "</svg>"


def _stacked_row(source: str, counts: Counter, colours: dict, geometry: tuple, longest: int) -> list[str]:
    left, right, y, row_px = geometry
    label = source if len(source) <= 22 else source[:21] + "\u2026"
    parts = [f'<text x="{left - 6}" y="{y + row_px / 2 + 4:.1f}" text-anchor="end">{html.escape(label)}'
             f"<title>{html.escape(source)}</title></text>"]
    x = float(left)
    for task, colour in colours.items():
        if counts.get(task):
            w = (right - left) * counts[task] / longest
            tip = f"{source} / {task}: {counts[task]}"
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_px - 6}" fill="{colour}">'
                         f"<title>{html.escape(tip)}</title></rect>")
            x += w
    parts.append(f'<text x="{x + 4:.1f}" y="{y + row_px / 2 + 4:.1f}">{sum(counts.values())}</text>')
    return parts


# --------------------------------------------------------------------------- the page


def format_truth(value: object, unit: str) -> str:
    """The truth as shown: 4 significant digits and the unit (``7.231 m``)."""
    if not isinstance(value, (int, float)):
        return f"{value} {unit}".strip()
    return f"{value:.4g} {unit}".strip()


def _card(record: dict, image_src) -> str:
    """The HTML of one record card."""
    task, source = str(record.get("task", "?")), _source(record)
    split, esc = str(record.get("split", "?")), html.escape
    images = []
    for relpath in record.get("images", []):
        src = image_src(relpath)
        images.append(f'<img src="{esc(src)}" alt="{esc(relpath)}" loading="lazy">' if src
                      else f'<div class="missing">image not readable: {esc(relpath)}</div>')
    truth = format_truth(record.get("value"), str(record.get("unit", "")))
    colour = task_colours([task])[task]
    return (f'<article class="card" data-task="{esc(task)}" data-source="{esc(source)}" data-split="{esc(split)}">'
            f'<div class="imgs n{len(images)}">{"".join(images)}</div>'
            f'<div class="meta"><span class="task" style="background:{colour}">{esc(task)}</span> '
            f'<span>{esc(source)}</span> <span>{esc(split)}</span></div>'
            f'<p class="q">{esc(str(record.get("question", "")))}</p>'
            f'<pre class="a">{esc(str(record.get("answer", "")))}</pre>'
            f'<p class="truth">truth <b title="{esc(repr(record.get("value")))}">{esc(truth)}</b></p>'
            f'<p class="id">{esc(str(record.get("id", "")))}</p></article>')


def _select(name: str, values: Counter) -> str:
    options = "".join(f'<option value="{html.escape(v)}">{html.escape(v)} ({n})</option>'
                      for v, n in sorted(values.items()))
    return (f'<label>{name} <select id="filter-{name}" data-key="{name}">'
            f'<option value="">all ({sum(values.values())})</option>{options}</select></label>')


def answer_table(stats: BuildStats) -> str:
    """An HTML table of the answer values' quantiles per task and source (every record of the build)."""
    if not stats.answers:
        return ""
    head = "".join(f"<th>{'min' if q == 0 else 'max' if q == 1 else f'{q:.0%}'}</th>" for q in QUANTILES)
    rows = []
    for task, source, count, values in stats.answer_quantiles():
        cells = "".join(f"<td>{value:.3g}</td>" for value in values)
        rows.append(f"<tr><td>{html.escape(task)}</td><td>{html.escape(source)}</td><td>{count}</td>{cells}"
                    f"<td>{html.escape(stats.units.get(task, ''))}</td></tr>")
    return (f'<table class="answers"><caption>Answer values per task and source</caption><tr><th>task</th>'
            f'<th>source</th><th>records</th>{head}<th>unit</th></tr>{"".join(rows)}</table>')


def _plots(stats: BuildStats) -> str:
    colours = task_colours(set(stats.values) | set(stats.nonpositive))
    histograms = [svg_log_histogram(stats.values.get(task, Counter()), f"{task}: answer values",
                                    stats.units.get(task, ""), colour, stats.nonpositive.get(task, 0))
                  for task, colour in colours.items()]
    depth = svg_log_histogram(stats.depth, f"Range of labelled points ({stats.labels} labels)", "m", "#555555")
    return (f'<section class="plots">{svg_source_task_bars(stats.by_source)}</section>'
            f'<section class="plots">{"".join(histograms)}{depth}</section>'
            f'<section class="plots">{answer_table(stats)}</section>')


def render_page(build_dir: Path, sample: PreviewSample, image_src) -> str:
    """The whole preview page as one HTML string."""
    records, stats, manifest = sample.records, sample.stats, sample.manifest
    counts = {key: Counter(_source(r) if key == "source" else str(r.get(key)) for r in records)
              for key in ("task", "source", "split")}
    title = f"datagen preview: {build_dir.resolve().name}"
    head = (f"<h1>{html.escape(title)}</h1><p>{stats.total} records in the build (schema "
            f"{html.escape(str(manifest.get('schema')))}, datagen {html.escape(str(manifest.get('datagen_version')))}"
            f", build seed {html.escape(str(manifest.get('seed')))}); showing a sample of {len(records)} "
            f"(preview seed {sample.seed}).</p>")
    filters = (f'<nav class="filters">{_select("task", counts["task"])}{_select("source", counts["source"])}'
               f'{_select("split", counts["split"])} <span><b id="shown-count">{len(records)}</b> shown</span>'
               f'<span id="js-errors"></span></nav>')
    cards = "".join(_card(r, image_src) for r in records)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="generator" '
            f'content="{GENERATOR}"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>{head}{_plots(stats)}{filters}"
            f'<main id="cards">{cards}</main><script>{_JS}</script></body></html>\n')


def write_preview(build_dir: str | Path, out: str | Path | None = None, *, sample: PreviewSample | None = None,
                  limit: int = DEFAULT_LIMIT, seed: int = 0, inline: bool = True,
                  thumb_width_px: int = THUMB_WIDTH_PX) -> Path:
    """Write the preview page of a build (``DIR/preview.html`` by default) and return its path.

    Args:
        build_dir: the build folder.
        out: the HTML file to write.
        sample: a sample from ``load_sample`` (read here from ``limit`` and ``seed`` if None).
        inline: embed images as JPEG thumbnails; False links them relative to the page.
        thumb_width_px: largest width of an inlined thumbnail.

    Raises:
        PreviewError: a thumbnail width below 16 px.
        OwnershipError: ``out`` is a file datagen did not write.
        OSError: the machine refused the write (disk full, permissions): the command stops, and
            the same command writes the page once the fault is mended.
    """
    if thumb_width_px < 16:
        raise PreviewError(f"thumbnail width must be at least 16 px, got {thumb_width_px}")
    build_dir = layout.check_build_dir(build_dir)
    out = Path(out) if out is not None else build_dir / PAGE_NAME
    sample = sample or load_sample(build_dir, limit, seed)
    page = render_page(build_dir, sample, _ImageSources(build_dir, out, inline, thumb_width_px))
    ownership.write_file(out, page.encode("utf-8"), signature=_is_datagen_page)
    log.info("preview of %d of %d records written to %s", len(sample.records), sample.stats.total, out)
    return out


# --------------------------------------------------------------------------- contact sheet


def _cell_image(build_dir: Path, record: dict, width: int) -> Image.Image:
    """The record's image(s) side by side, scaled to ``width`` wide (grey if none or unreadable)."""
    tiles = [_tile(build_dir / relpath) for relpath in record.get("images", [])[:2]] or [_grey_tile()]
    tile_w = width // len(tiles)
    scaled = [t.resize((tile_w, max(1, round(t.height * tile_w / t.width))), Image.Resampling.LANCZOS)
              for t in tiles]
    cell = Image.new("RGB", (width, max(t.height for t in scaled)), (255, 255, 255))
    for i, tile in enumerate(scaled):
        cell.paste(tile, (i * tile_w, 0))
    return cell


def _tile(path: Path) -> Image.Image:
    """The image at ``path`` in RGB, or a grey tile (with a warning) if it cannot be read."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        log.warning("contact sheet: image %s left out (%s)", path, exc)
        return _grey_tile()


def _grey_tile() -> Image.Image:
    return Image.new("RGB", (4, 3), (128, 128, 128))


def write_contact_sheet(build_dir: str | Path, out: str | Path, *, sample: PreviewSample | None = None,
                        limit: int = DEFAULT_LIMIT, seed: int = 0, cells: int = SHEET_CELLS,
                        cell_width_px: int = SHEET_CELL_WIDTH_PX) -> Path:
    """Write a PNG grid of the first ``cells`` sampled records: image(s), then task and truth below.

    Raises:
        PreviewError: bad sizes.
        OwnershipError: ``out`` is a file datagen did not write.
        OSError: the machine refused the write (disk full, permissions): the command stops.
    """
    if cells < 1 or cell_width_px < 32:
        raise PreviewError(f"contact sheet needs cells >= 1 and cell width >= 32 px, got {cells}, {cell_width_px}")
    build_dir = layout.check_build_dir(build_dir)
    records = (sample or load_sample(build_dir, limit, seed)).records[:cells]
    font = ImageFont.load_default(size=13)
    images = [_cell_image(build_dir, r, cell_width_px) for r in records]
    text_px, pad = 36, 6
    row_px = max((im.height for im in images), default=1) + text_px
    columns = max(1, min(len(records), round(math.sqrt(max(len(records), 1) * 1.6))))
    rows = max(1, math.ceil(len(records) / columns))
    sheet = Image.new("RGB", (columns * (cell_width_px + pad) + pad, rows * (row_px + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, (record, image) in enumerate(zip(records, images)):
        x, y = pad + (i % columns) * (cell_width_px + pad), pad + (i // columns) * (row_px + pad)
        sheet.paste(image, (x, y))
        _caption(draw, font, record, (x, y + image.height + 2), cell_width_px)
    out = Path(out)
    ownership.write_file(out, signed_png(sheet, GENERATOR, optimize=True), signature=lambda p: png_software(p) == GENERATOR)
    return out


def _is_datagen_page(path: Path) -> bool:
    """Whether the file at ``path`` is a preview page datagen wrote (its generator tag)."""
    with open(path, "rb") as handle:
        return f'<meta name="generator" content="{GENERATOR}">'.encode() in handle.read(4096)


def _caption(draw: ImageDraw.ImageDraw, font, record: dict, xy: tuple, width: int) -> None:
    """Two lines under a cell: task and truth, then source and split."""
    first = f"{record.get('task', '?')}: {format_truth(record.get('value'), str(record.get('unit', '')))}"
    second = f"{_source(record)} / {record.get('split', '?')}"
    for line_no, text in enumerate((first, second)):
        while len(text) > 4 and draw.textlength(text, font=font) > width:
            text = text[:-2] + "\u2026"
        draw.text((xy[0], xy[1] + 16 * line_no), text, fill=(0, 0, 0) if line_no == 0 else (90, 90, 90),
                  font=font)


_CSS = """
body{font-family:system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}
.plots{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.plots svg{background:#fff;border:1px solid #ddd;border-radius:4px;padding:4px}
.filters{position:sticky;top:0;background:#fafafa;padding:8px 0;display:flex;gap:16px;align-items:center;
 border-bottom:1px solid #ddd;z-index:1}
#js-errors{color:#b00}
#cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px;margin-top:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;font-size:13px}
[hidden]{display:none !important}
.imgs{display:flex;gap:4px}.imgs img{width:100%;min-width:0;height:auto;border-radius:3px}
.imgs.n2 img{width:50%}
.missing{background:#eee;color:#900;padding:20px;text-align:center}
.task{color:#fff;border-radius:3px;padding:1px 6px}
.meta span{margin-right:6px}.q{margin:6px 0}
.a{white-space:pre-wrap;background:#f3f3f3;padding:4px;margin:4px 0;font-size:12px}
.truth{margin:4px 0}.id{color:#888;font-size:11px;margin:0;word-break:break-all}
.answers{border-collapse:collapse;background:#fff;font-size:12px}
.answers td,.answers th{border:1px solid #ddd;padding:2px 8px;text-align:right}
.answers caption{font-weight:bold;text-align:left;padding:4px 0}
"""

_JS = """
(function () {
  "use strict";
  var errors = document.getElementById("js-errors");
  window.addEventListener("error", function (event) {
    errors.textContent += " script error: " + event.message;
  });
  var selects = Array.prototype.slice.call(document.querySelectorAll(".filters select"));
  var cards = Array.prototype.slice.call(document.querySelectorAll("#cards .card"));
  var shown = document.getElementById("shown-count");
  var state = {};

  function readUrl() {
    var text = location.hash.replace(/^#/, "") || location.search.replace(/^\\?/, "");
    var params = new URLSearchParams(text);
    selects.forEach(function (select) {
      var key = select.getAttribute("data-key");
      state[key] = params.get(key) || "";
      select.value = state[key];
    });
  }

  function writeUrl() {
    var params = new URLSearchParams();
    Object.keys(state).forEach(function (key) { if (state[key]) { params.set(key, state[key]); } });
    var text = params.toString();
    history.replaceState(null, "", text ? "#" + text : location.pathname);
  }

  function apply() {
    var count = 0;
    cards.forEach(function (card) {
      var match = Object.keys(state).every(function (key) {
        return !state[key] || card.getAttribute("data-" + key) === state[key];
      });
      card.hidden = !match;
      if (match) { count += 1; }
    });
    shown.textContent = String(count);
  }

  selects.forEach(function (select) {
    select.addEventListener("change", function () {
      state[select.getAttribute("data-key")] = select.value;
      writeUrl();
      apply();
    });
  });
  window.addEventListener("hashchange", function () { readUrl(); apply(); });
  readUrl();
  apply();
  document.body.setAttribute("data-ready", "1");
})();
"""
