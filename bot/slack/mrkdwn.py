"""Text for Slack: the engine's Markdown as Slack mrkdwn, escaping, and cutting text to Slack's size limits.

Everything shown in Slack passes `escape` first, so text from the knowledge base or from a user can never become
Slack markup (a `<!channel>` in a question stays words, it does not notify a channel).
"""

from __future__ import annotations

import re

_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_ITALIC_STAR = re.compile(r"(?<![*\w])\*(?![\s*])([^*\n]+?)(?<!\s)\*(?![*\w])")
_BOLD = re.compile(r"\*\*(?!\s)(.+?)(?<!\s)\*\*|__(?!\s)(.+?)(?<!\s)__", re.DOTALL)
# Where a long text may be cut, best first: between paragraphs, lines, sentences, words.
_CUTS = (r"(?<=\n\n)", r"(?<=\n)", r"(?<=[.!?] )", r"(?<= )")


def escape(text: str) -> str:
    """Slack's three control characters as entities (https://docs.slack.dev/messaging/formatting-message-text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """`<url|label>`, or the plain label when the url is not a web address (a link must not break the markup)."""
    label = escape(label).replace("|", "¦")
    if not re.fullmatch(r"https?://[^\s|<>]+", url or ""):
        return label
    return f"<{escape(url)}|{label}>"


def to_mrkdwn(markdown: str) -> str:
    """The engine's Markdown as Slack mrkdwn: `**b**` → `*b*`, `*i*` → `_i_`, `[t](u)` → `<u|t>`, headings bold,
    list bullets as •."""
    text = escape(markdown)
    text = _BULLET.sub(r"\1• ", text)
    text = _HEADING.sub(r"**\1**", text)
    text = _MD_LINK.sub(lambda m: f"<{m[2]}|{m[1].replace('|', '¦')}>", text)
    text = _ITALIC_STAR.sub(r"_\1_", text)
    return _BOLD.sub(lambda m: f"*{m[1] or m[2]}*", text)


def split_text(text: str, limit: int, cuts: tuple[str, ...] = _CUTS) -> list[str]:
    """Pieces of at most `limit` characters, cut at the best boundary available (paragraph, line, sentence,
    word; a single over-long word is cut anywhere)."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    if not cuts:
        return [text[i:i + limit] for i in range(0, len(text), limit)]
    pieces: list[str] = []
    current = ""
    for part in re.split(cuts[0], text):
        if len(current) + len(part) <= limit:
            current += part
            continue
        if current.strip():
            pieces.append(current.strip())
        if len(part) <= limit:
            current = part
        else:
            *done, current = split_text(part, limit, cuts[1:]) or [""]
            pieces.extend(done)
    if current.strip():
        pieces.append(current.strip())
    return pieces


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word and marked with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[limit // 2:] else cut).rstrip() + "…"
