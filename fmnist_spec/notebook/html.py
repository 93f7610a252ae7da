"""The HTML of the notebook displays: small, escaped, well-formed (XHTML) fragments.

Every result type's ``_repr_html_`` is one function here, so the look is in one place and
nothing else builds HTML. Every piece of text from a spec, a file name or a figure goes
through :func:`esc` (``html.escape`` with quotes): a spec named ``<script>`` shows as text.
The fragments parse as XML (``<br/>``, ``<img .../>``, every element closed), which the
tests check with :mod:`xml.etree.ElementTree`. Nothing here imports TensorFlow or IPython.
"""

from __future__ import annotations

import base64
import html


MONO = "font-family: var(--jp-code-font-family, monospace)"
STYLE = (f"{MONO}; font-size: 12px; "
         "border-collapse: collapse; margin: 4px 0")
CELL = "padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top"


def esc(value) -> str:
    """``value`` as text safe inside HTML elements and attribute values."""
    return html.escape(str(value), quote=True)


def pre(text: str) -> str:
    """``text`` in a ``<pre>`` block (escaped)."""
    return f'<pre style="{MONO}; margin: 4px 0; white-space: pre">{esc(text)}</pre>'


def table(headers, rows, caption: str = "", align_right=()) -> str:
    """An HTML table; every header and cell escaped (``rows``: sequences of cell values)."""
    def cell(tag, j, value):
        right = "; text-align: right" if j in align_right else ""
        return f'<{tag} style="{CELL}{right}">{esc(value)}</{tag}>'

    head = "".join(cell("th", j, h) for j, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", j, v) for j, v in enumerate(row)) + "</tr>" for row in rows)
    cap = f'<caption style="text-align: left; font-weight: bold">{esc(caption)}</caption>' if caption else ""
    return f'<table style="{STYLE}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def png(data: bytes, alt: str, width: int | None = None) -> str:
    """An inline PNG (base64 ``data:`` URL), so the notebook file holds the picture itself."""
    size = f' width="{int(width)}"' if width else ""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{esc(alt)}"{size}/>'


def block(*parts: str) -> str:
    """Fragments stacked in one ``<div>`` (one output entry)."""
    return '<div class="fmnist-spec">' + "".join(parts) + "</div>"


def heading(text: str) -> str:
    return f'<div style="font-weight: bold; margin: 4px 0">{esc(text)}</div>'


def problems_table(problems) -> str:
    """A :class:`fmnist_spec.errors.Problems` as a table: where, what (with the source line and a
    caret when known), hint."""
    if not problems:
        return block(heading("no problems"))
    rows = []
    for p in problems:
        what = ("warning: " if p.severity == "warning" else "") + (f"{p.path}: " if p.path else "") + p.message
        if p.code:
            what += f" [{p.code}]"
        rows.append((p.location(), what, p.hint, problems.excerpt(p) or ""))
    body = "".join(
        f'<tr><td style="{CELL}">{esc(where)}</td>'
        f'<td style="{CELL}">{esc(what)}'
        + (f'<pre style="margin: 2px 0">{esc(excerpt)}</pre>' if excerpt else "")
        + f'</td><td style="{CELL}">{esc(hint)}</td></tr>'
        for where, what, hint, excerpt in rows)
    errors = sum(p.severity != "warning" for p in problems)
    caption = f"{errors} error(s), {len(problems) - errors} warning(s)"
    head = "".join(f'<th style="{CELL}">{h}</th>' for h in ("where", "what", "hint"))
    return (f'<table style="{STYLE}"><caption style="text-align: left; font-weight: bold">{esc(caption)}'
            f"</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
