from html.parser import HTMLParser
from pathlib import Path

import pytest

from battles.rendering import highlight_stylesheet, render_markdown


def test_tables_lists_and_highlighted_code():
    html = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n\n```python\nx = 1\n```")
    assert "<table>" in html and "<td>1</td>" in html
    assert "<ul>\n<li>one</li>" in html
    assert '<code class="language-python"><span class="hl-n">x</span>' in html


def test_single_newlines_are_line_breaks():
    assert render_markdown("第一行\n第二行") == "<p>第一行<br>\n第二行</p>\n"


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        "![tracker](http://evil.example/pixel.png)",
        "[click](javascript:alert(1))",
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html,<script>alert(1)</script>)",
        '<a href="#" onclick="alert(1)">x</a>',
        "<iframe src='http://evil.example'></iframe>",
        '<div style="position:fixed">x</div>',
        '```evil" onmouseover="alert(1)\nx\n```',
        "<svg onload=alert(1)>",
    ],
)
def test_untrusted_markup_never_survives(payload):
    for tag, attributes in elements(render_markdown(payload)):
        assert tag not in {"script", "img", "iframe", "svg", "style", "object", "embed"}
        assert not any(name.startswith("on") or name == "style" for name in attributes)
        href = attributes.get("href")
        assert href is None or href.startswith(("http://", "https://", "mailto:"))


def test_links_are_kept_but_marked_untrusted():
    assert render_markdown("[docs](https://example.org)") == (
        '<p><a href="https://example.org" rel="nofollow noopener noreferrer">docs</a></p>\n'
    )


def test_only_highlight_and_language_classes_survive():
    html = render_markdown("```python verdict-a\nx\n```")
    assert 'class="language-python"' in html and "verdict-a" not in html


def test_highlight_stylesheet_is_current():
    path = Path(__file__).resolve().parents[2] / "battles" / "static" / "arena" / "highlight.css"
    assert path.read_text() == highlight_stylesheet(), "regenerate it: see highlight_stylesheet's docstring"
