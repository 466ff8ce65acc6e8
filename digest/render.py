"""Turning a digest into what each place shows: plain text (dry runs, notification text), Slack Block Kit, and a
Teams Adaptive Card. All three render one outline, so they say the same thing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from slack_sdk.models.blocks import ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from digest.build import MARKDOWN_LINK
from digest.models import Digest, GapsReport, OfficialsDigest
from engine.messages import labels

SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
SLACK_MAX_BLOCKS = 50
ADAPTIVE_CARD_VERSION = "1.5"


@dataclass
class Section:
    heading: str
    lines: list[str] = field(default_factory=list)  # Markdown: **bold** and [text](url) links only


@dataclass
class Outline:
    title: str
    sections: list[Section]
    footer: str = ""


def outline(digest: Digest) -> Outline:
    label = labels(digest.language, "digest.yaml")
    if isinstance(digest, OfficialsDigest):
        return _officials(digest, label)
    return _consultants(digest, label)


def _officials(digest: OfficialsDigest, label: dict) -> Outline:
    title = label["officials_title"].format(week=digest.period.week)
    if digest.empty and digest.practice is None:
        return Outline(title, [Section("", [label["nothing"]])], label["how_to_ask"])
    sections = []
    if digest.holdings:
        kinds = labels(digest.language)["doc_types"]
        held = ", ".join(f"{kinds.get(kind, kind)} ({n})" for kind, n in digest.holdings.items())
        sections.append(Section(label["knowledge_base"], [
            label["holds"].format(count=sum(digest.holdings.values()), kinds=held)]))
    if digest.new_documents:
        sections.append(Section(label["new_documents"], [
            f"**{label['kinds'][d.kind]}:** [{d.title}]({d.url})" for d in digest.new_documents]))
    if digest.approved_answers:
        sections.append(Section(label["approved_answers"], [f"“{d.title}”" for d in digest.approved_answers]))
    if digest.questions_answered:
        lines = [label["answered"].format(count=digest.questions_answered)]
        lines += [label["theme_line"].format(title=t.title, count=t.count) for t in digest.themes]
        sections.append(Section(label["themes"], lines))
    if digest.example_questions:
        sections.append(Section(label["examples"], [f"“{q}”" for q in digest.example_questions]))
    if digest.practice is not None:
        p = digest.practice
        cited = "; ".join((f"[{s.title}]({s.url})" if s.url else s.title) + (f", {s.page}" if s.page else "")
                          for s in p.sources) or (f"[{p.title}]({p.url})" if p.url else p.title)
        sections.append(Section(label["practice"], [f"**{p.section}**: {p.text}", f"{cited} ({p.source})"]))
    return Outline(title, sections, label["how_to_ask"])


def _consultants(report: GapsReport, label: dict) -> Outline:
    title = label["consultants_title"].format(week=report.period.week)
    if report.empty:
        return Outline(title, [Section("", [label["no_gaps"]])])
    totals = label["totals"].format(asked=report.questions_asked, **{k: report.totals.get(k, 0) for k in
                                    ("answered", "declined", "not_helpful", "escalated")})
    sections = [Section("", [totals, label["gaps_intro"] if report.gaps else label["no_gaps"]])]
    for number, gap in enumerate(report.gaps, start=1):
        lines = [label["gap_line"].format(count=gap.count, abstained=gap.abstained, not_helpful=gap.not_helpful,
                                          escalated=gap.escalated)]
        lines.append(f"{label['languages']}: " + ", ".join(f"{lang} {n}" for lang, n in gap.languages.items()))
        if gap.topics:
            lines.append(f"{label['topic_words']}: " + ", ".join(gap.topics))
        lines += [f"“{q}”" for q in gap.examples] or [f"_{label['no_examples']}_"]
        if gap.sections:
            lines.append(f"{label['closest_sections']}: " + "; ".join(gap.sections))
        elif gap.closest:
            lines.append(f"{label['closest']}: " + "; ".join(gap.closest))
        action = label["actions"][gap.action].format(topics=", ".join(gap.topics),
                                                     section=(gap.sections or gap.closest or [""])[0])
        lines.append(f"**{label['suggested']}:** {action}")
        sections.append(Section(f"{number}.", lines))
    if report.comments:
        sections.append(Section(label["comments"], [f"“{c}”" for c in report.comments]))
    if report.stale_translations:
        sections.append(Section(label["stale_translations"], report.stale_translations))
    if report.expired_approved_answers:
        sections.append(Section(label["expired_approved_answers"], report.expired_approved_answers))
    return Outline(title, sections)


def as_text(digest: Digest) -> str:
    o = outline(digest)
    parts = [o.title, "=" * len(o.title)]
    for section in o.sections:
        parts.append("")
        if section.heading:
            parts.append(section.heading)
        parts += [f"- {line}" if section.heading else line for line in section.lines]
    if o.footer:
        parts += ["", o.footer]
    return "\n".join(parts)


def _slack_mrkdwn(markdown: str) -> str:
    text = MARKDOWN_LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", markdown)
    return re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_blocks(digest: Digest) -> list[dict]:
    o = outline(digest)
    blocks = [HeaderBlock(text=_clip(o.title, SLACK_HEADER_CHARS))]
    for section in o.sections:
        heading = f"*{section.heading}*\n" if section.heading else ""
        bullets = "\n".join(("• " if section.heading else "") + _slack_mrkdwn(line) for line in section.lines)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_clip(heading + bullets, SLACK_SECTION_CHARS))))
    if o.footer:
        blocks += [DividerBlock(), ContextBlock(elements=[MarkdownTextObject(text=_clip(o.footer, 2000))])]
    return [b.to_dict() for b in blocks[:SLACK_MAX_BLOCKS]]


def teams_card(digest: Digest) -> dict:
    """An Adaptive Card (schema 1.5, what Teams renders); TextBlock supports Markdown links and bold."""
    o = outline(digest)
    body: list[dict] = [{"type": "TextBlock", "text": o.title, "size": "Large", "weight": "Bolder", "wrap": True}]
    for section in o.sections:
        if section.heading:
            body.append({"type": "TextBlock", "text": section.heading, "weight": "Bolder", "wrap": True,
                         "spacing": "Medium"})
        body += [{"type": "TextBlock", "text": ("- " if section.heading else "") + line, "wrap": True,
                  "spacing": "Small"} for line in section.lines]
    if o.footer:
        body.append({"type": "TextBlock", "text": o.footer, "isSubtle": True, "wrap": True, "separator": True})
    return {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": ADAPTIVE_CARD_VERSION, "body": body}
