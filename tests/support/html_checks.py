"""What a page's HTML may contain when it shows untrusted job outputs: checked on the parsed
elements, as a browser sees them (text may say anything; `<script>` shown as text is fine)."""

from __future__ import annotations

from html.parser import HTMLParser

# Elements that run script, load another document or restyle the page.
ACTIVE_ELEMENTS = frozenset(
    {"script", "iframe", "frame", "object", "embed", "form", "base", "meta"}
)
URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "xlink:href", "data"})


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))

    handle_startendtag = handle_starttag


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_inert(html: str, *, allowed: frozenset[str] = frozenset()) -> None:
    """No element that runs script, loads a page or restyles it; no event handler, inline
    style or script URL. `allowed`: elements the page itself may use (e.g. its own scripts)."""
    for tag, attrs in elements(html):
        assert tag in allowed or tag not in ACTIVE_ELEMENTS | {"style", "svg"}, (tag, attrs)
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name, value)
            assert name != "style", (tag, value)
            if name in URL_ATTRIBUTES:
                url = (value or "").strip().lower()
                assert not url.startswith(("javascript:", "vbscript:")), (tag, name, value)
