"""The HTML report: one self-contained file a reviewer opens offline.

No external URL is loaded: thumbnails are base64 JPEG data URIs, each distinct image written
once as a CSS class (an input shared by many jobs costs its bytes once), styles and the small
filter script are inline. Per job, a card shows its input(s) and output side by side, the
prompt, a state badge and, for a failed job, its error. Filter buttons show one state at a time;
``report.html#failed`` opens with that filter on.
"""

from __future__ import annotations

import time
from functools import partial
from html import escape
from pathlib import Path
from typing import Any

from batch.core.progress import iso_utc
from batch.core.states import JobState
from batch.reports.data import ReportData
from batch.reports.thumbs import Fetch, Thumb, fetch_url, thumbnails

ORDER = [s.value for s in JobState]
MAX_CARDS = 300  # about 2.5 MB of HTML with thumbnails: what one shares by mail or chat
_FINE = frozenset({JobState.SUCCEEDED.value, JobState.CACHED.value})

STYLE = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;color:#111827}
header{background:#111827;color:#f9fafb;padding:20px 28px}
header h1{margin:0 0 4px;font-size:22px}
header .sub{color:#9ca3af;font-size:13px}
.stats{display:flex;flex-wrap:wrap;gap:8px;margin-top:12px;align-items:center}
.stat{background:#1f2937;border-radius:6px;padding:4px 10px}
.stat b{font-size:16px}
.filters{display:flex;flex-wrap:wrap;gap:6px;padding:14px 28px;background:#fff;border-bottom:1px solid #e5e7eb;
position:sticky;top:0;z-index:1}
.filters button{border:1px solid #d1d5db;background:#fff;border-radius:999px;padding:4px 12px;cursor:pointer;
font:inherit}
.filters button.on{background:#111827;color:#fff;border-color:#111827}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(620px,1fr));gap:16px;padding:20px 28px}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:14px 16px;
display:flex;flex-direction:column;gap:10px}
.card[hidden]{display:none}
.head{display:flex;justify-content:space-between;align-items:center;gap:8px}
.key{font-weight:600;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
.badge{border-radius:999px;padding:2px 10px;font-size:12px;font-weight:600;color:#fff;background:#2563eb;
white-space:nowrap}
.s-succeeded{background:#16a34a}.s-cached{background:#0d9488}.s-failed{background:#dc2626}
.s-cancelled{background:#6b7280}.s-held{background:#d97706}
.pair{display:grid;grid-template-columns:1fr 28px 1fr;align-items:center;gap:6px}
.side{margin:0;display:flex;flex-direction:column;align-items:center;gap:4px}
.imgs{display:grid;gap:4px;width:100%;max-width:256px}
.imgs.n2{grid-template-columns:1fr 1fr}
.imgs a{display:block}
.imgs.n3{grid-template-columns:1fr 1fr 1fr}
.thumb{width:100%;background:#e5e7eb center/contain no-repeat;border-radius:6px}
.ph{display:flex;align-items:center;justify-content:center;aspect-ratio:1;color:#6b7280;font-size:12px;
text-align:center;border:2px dashed #d1d5db;background:#f9fafb;padding:8px}
.ph.bad{color:#b91c1c;border-color:#fca5a5;background:#fef2f2}
figcaption{color:#6b7280;font-size:12px}
.arrow{text-align:center;font-size:22px;color:#9ca3af}
.prompt{margin:0;white-space:pre-wrap}
.error{margin:0;color:#991b1b;background:#fef2f2;border-left:3px solid #dc2626;padding:6px 10px;
white-space:pre-wrap;overflow-wrap:anywhere}
.meta{color:#6b7280;font-size:12px}
.r-approved{background:#15803d}.r-rejected{background:#b91c1c}
.item{grid-column:1/-1;margin:8px 0 0;font-size:15px;color:#374151}
.more{grid-column:1/-1;color:#374151;background:#fff;border-radius:8px;padding:12px 16px}
"""

SCRIPT = """
document.querySelectorAll('.filters button').forEach(function (button) {
  button.addEventListener('click', function () {
    var want = button.dataset.filter;
    document.querySelectorAll('.filters button').forEach(function (b) { b.classList.toggle('on', b === button); });
    document.querySelectorAll('.card').forEach(function (card) {
      card.hidden = want !== 'all' && card.dataset.state !== want;
    });
    history.replaceState(null, '', want === 'all' ? location.pathname : '#' + want);
  });
});
var chosen = document.querySelector('.filters button[data-filter="' + location.hash.slice(1) + '"]');
if (chosen) { chosen.click(); }
"""


class _Images:
    """Gives each distinct thumbnail one CSS class and renders thumbnails or placeholders."""

    def __init__(self) -> None:
        self._classes: dict[str, str] = {}

    def tag(self, thumb: Thumb | None, label: str, missing: str, *, bad: bool = False) -> str:
        if thumb is None:
            cls = "thumb ph bad" if bad else "thumb ph"
            return f'<div class="{cls}" title="{escape(label)}">{escape(missing)}</div>'
        name = self._classes.setdefault(thumb.uri, f"t{len(self._classes)}")
        return (f'<div class="thumb {name}" role="img" aria-label="{escape(label)}" title="{escape(label)}" '
                f'style="aspect-ratio:{thumb.width}/{thumb.height}"></div>')

    def css(self) -> str:
        return "\n".join(f'.{name}{{background-image:url("{uri}")}}' for uri, name in self._classes.items())


def _side(tags: list[str], caption: str) -> str:
    grid = f" n{min(len(tags), 3)}" if len(tags) > 1 else ""
    return (f'<figure class="side"><div class="imgs{grid}">{"".join(tags)}</div>'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _meta(row: dict[str, Any]) -> str:
    parts = [row["aspect_ratio"], row["resolution"], row["output_format"]]
    if row["cost"] is not None:
        parts.append(f"${row['cost']:.2f}")
    if row.get("odd_cost") is not None:
        parts.append(f"cost answered {row['odd_cost']} (no amount: not counted)")
    if row["seconds"] is not None:
        parts.append(f"{row['seconds']:.1f} s")
    parts.append(f"{row['submits']} submit{'s' if row['submits'] != 1 else ''}")
    if row["attempts"]:
        parts.append(f"{row['attempts']} retried error(s)")
    if row["uncertain_submits"]:
        parts.append(f"{row['uncertain_submits']} uncertain submit(s)")
    return " · ".join(escape(str(p)) for p in parts)


def _linked(tag: str, path: str) -> str:
    """The thumbnail as a link to the full-size file (absolute paths only)."""
    target = Path(path)
    return f'<a href="{escape(target.as_uri())}">{tag}</a>' if target.is_absolute() else tag


def _card(row: dict[str, Any], images: _Images, by_url: dict[str, Thumb | None],
          by_path: dict[str, Thumb | None]) -> str:
    state = row["state"]
    named = zip(row["inputs"], _written(row), strict=True)
    ins = [images.tag(by_url.get(url), shown, "input unavailable") for url, shown in named]
    missing = "no output (failed)" if state == JobState.FAILED.value else f"no output ({state})"
    outs = [_linked(images.tag(by_path.get(path), path, "output unreadable"), path) for path in row["outputs"]]
    outs = outs or [images.tag(None, "", missing, bad=state == JobState.FAILED.value)]
    in_caption = "input" if len(ins) == 1 else f"{len(ins)} inputs"
    out_caption = " ".join(row["size"]) or "output"
    error = f'<p class="error">{escape(row["error"])}</p>' if row["error"] and state != "succeeded" else ""
    decided = escape(row.get("review") or "")
    review = f' <span class="badge r-{decided}">{decided}</span>' if decided else ""
    return (
        f'<article class="card" data-state="{escape(state)}">'
        f'<div class="head"><span class="key">{escape(row["id"])}</span>'
        f'<span class="badge s-{escape(state)}">{escape(state)}</span>{review}</div>'
        f'<div class="pair">{_side(ins, in_caption)}<div class="arrow">→</div>{_side(outs, out_caption)}</div>'
        f'<p class="prompt">{escape(row["prompt"])}</p>{error}'
        f'<div class="meta">{_meta(row)}</div></article>'
    )


def _written(row: dict[str, Any]) -> list[str]:
    """The row's inputs as the manifest wrote them (local photos by their path)."""
    return list(row.get("input_files") or row["inputs"])


def _item(row: dict[str, Any]) -> str:
    """The job's item, as the contact sheet groups them: its input images."""
    return " ".join(row["inputs"])


def _grouped(rows: list[dict[str, Any]], images: _Images, by_url: dict[str, Thumb | None],
             by_path: dict[str, Thumb | None]) -> list[str]:
    """The cards, with a heading where the item (the input images) changes."""
    parts: list[str] = []
    last: str | None = None
    for row in rows:
        item = _item(row)
        if item != last and item:
            label = " ".join(shown.rsplit("/", 1)[-1] for shown in _written(row))
            parts.append(f'<h2 class="item" title="{escape(" ".join(_written(row)))}">{escape(label)}</h2>')
        last = item
        parts.append(_card(row, images, by_url, by_path))
    return parts


def _header(data: ReportData, now: float) -> str:
    head = data.header
    counts = "".join(
        f'<span class="stat"><span class="badge s-{state}">{state}</span> <b>{head.counts[state]}</b></span>'
        for state in ORDER if head.counts.get(state)
    )
    buttons = "".join(
        f'<button data-filter="{state}">{state} ({head.counts[state]})</button>'
        for state in ORDER if head.counts.get(state)
    )
    return (
        f"<header><h1>{escape(head.name)}</h1>"
        f'<div class="sub">batch {head.batch_id} · created {iso_utc(head.created_at)} · '
        f"report {iso_utc(now)} · files in {escape(head.output_dir)}</div>"
        + (f'<div class="sub pilot">{escape(head.pilot)}</div>' if head.pilot else "") +
        f'<div class="stats"><span class="stat">jobs <b>{head.total}</b></span>{counts}'
        f'<span class="stat">cost <b>${head.cost:.2f}</b></span></div></header>'
        f'<nav class="filters"><button data-filter="all" class="on">all ({head.total})</button>{buttons}</nav>'
    )


def render_html(data: ReportData, *, fetch: Fetch | None = None, now: float | None = None,
                max_cards: int = MAX_CARDS) -> str:
    """The whole report page. ``fetch`` gets an input URL's bytes (None when it cannot); by default
    ``fetch_url``, reaching the batch's bucket with the storage settings its manifest gave.

    At most ``max_cards`` jobs get a card (jobs that did not succeed first, then in job order), so
    the file stays small enough to share; the header counts every job, and a note says how many
    more the CSV report and ``nanobatch serve`` show.
    """
    rows = sorted(data.rows, key=lambda r: (r["state"] in _FINE, _item(r)))[:max_cards]
    by_url, by_path = thumbnails(
        (url for row in rows for url in row["inputs"]),
        (out for row in rows for out in zip(row["outputs"], row["bytes"], row["sha256"], strict=True)),
        fetch=fetch or partial(fetch_url, storage=data.header.storage),
    )
    images = _Images()
    cards = "\n".join(_grouped(rows, images, by_url, by_path))
    if len(data.rows) > len(rows):
        cards += (f'\n<p class="more">{len(data.rows) - len(rows)} more jobs (succeeded) are not shown here: '
                  "see the CSV report, or browse them all with <code>nanobatch serve</code>.</p>")
    header = _header(data, time.time() if now is None else now)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>nanobatch report: {escape(data.header.name)}</title>"
        f"<style>{STYLE}\n{images.css()}</style></head>\n<body>{header}\n<main>\n{cards}\n</main>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
