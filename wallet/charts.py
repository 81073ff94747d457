"""Server-rendered inline SVG charts for the back office: no JavaScript, no CDN, no network."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#2f6fb0", "#e07b39", "#3a9d5d", "#c0392b", "#8e5ab5", "#b5912f", "#7f8c8d"]
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _nice_max(value: int) -> int:
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * magnitude)
        if top >= value:
            return top
    return 10 * magnitude


def _major(value: int) -> str:
    """Minor units as a short major-unit label: 1.2k, 3.4M."""
    major = value / 100
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(major) >= limit:
            return f"{major / limit:.1f}{suffix}"
    return f"{major:.0f}"


def stacked_bars(
    rows: list[dict], series: list[tuple[str, str]], *, title: str, width: int = 760, height: int = 260
) -> SafeString:
    """rows: [{"label": ..., key: value, ...}]; series: [(key, legend label)]."""
    left, right, top, bottom = 56, 10, 28, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(int(r.get(k, 0)) for k, _ in series) for r in rows]
    peak = _nice_max(max(totals, default=0))
    n = max(len(rows), 1)
    slot = plot_w / n
    bar = max(slot * 0.7, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" aria-label="{escape(title)}">',
        f'<text x="{left}" y="16" {FONT} font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for i in range(5):
        value = peak * i // 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" {FONT} text-anchor="end">{_major(value)}</text>')
    for i, row in enumerate(rows):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        for j, (key, label) in enumerate(series):
            value = int(row.get(key, 0))
            if value <= 0:
                continue
            h = plot_h * value / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}"'
                f' fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(row["label"])} {escape(label)}:'
                f" {_major(value)}</title></rect>"
            )
        every = max(1, int(36 // slot) + (1 if slot < 36 else 0))
        if i % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 14}" {FONT} text-anchor="middle">'
                f"{escape(row['label'])}</text>"
            )
    lx = left
    for j, (_, label) in enumerate(series):
        parts.append(
            f'<rect x="{lx}" y="{height - 16}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
            f'<text x="{lx + 14}" y="{height - 7}" {FONT}>{escape(label)}</text>'
        )
        lx += 24 + 6.5 * len(label)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def horizontal_bars(
    items: list[tuple[str, int]], *, title: str, width: int = 370, value_format=str, color: str = PALETTE[0]
) -> SafeString:
    """items: [(label, value)]; negative values extend to the left of the axis."""
    row_h, top, label_w = 22, 28, 150
    height = top + row_h * max(len(items), 1) + 8
    peak = max((abs(v) for _, v in items), default=0) or 1
    has_negative = any(v < 0 for _, v in items)
    plot_w = width - label_w - 80
    axis = label_w + (plot_w / 2 if has_negative else 0)
    scale = (plot_w / 2 if has_negative else plot_w) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" aria-label="{escape(title)}">',
        f'<text x="4" y="16" {FONT} font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(items):
        y = top + row_h * i
        w = abs(value) * scale
        x = axis - w if value < 0 else axis
        fill = PALETTE[3] if value < 0 else color
        parts.append(f'<text x="4" y="{y + 14}" {FONT}>{escape(label)}</text>')
        parts.append(
            f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 0.5):.1f}" height="{row_h - 7}" fill="{fill}"/>'
        )
        tx = (x + w + 4) if value >= 0 else (axis + 4)  # a negative value's text right of the axis
        anchor = "start"
        text = escape(value_format(value))
        parts.append(f'<text x="{tx:.1f}" y="{y + 14}" {FONT} text-anchor="{anchor}">{text}</text>')
    parts.append(f'<line x1="{axis:.1f}" x2="{axis:.1f}" y1="{top}" y2="{height - 6}" stroke="#999"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
