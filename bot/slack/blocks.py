"""Block Kit messages of the Slack app: answers (text, sources, buttons), consultant requests and short notices.

Pure functions from the engine's `Answer` to Slack JSON, built with slack_sdk's Block Kit models so Slack's limits
are checked when a message is built (a section's text at most 3,000 characters, a button's value at most 2,000)
rather than discovered as an `invalid_blocks` error in production. The message-level limit (50 blocks) is kept by
`_fit`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.slack.mrkdwn import escape, link, split_text, to_mrkdwn, truncate
from bot.slack.texts import texts
from engine.messages import labels
from engine.models import Answer, Citation

SECTION_LIMIT = 3000
MESSAGE_BLOCKS = 50
CONTEXT_ELEMENTS = 10
FALLBACK_LIMIT = 3000  # the notification text; Slack shows the blocks, this is what previews and threads read
BUTTON_VALUE_LIMIT = 2000

HELPFUL = "advisor_helpful"
NOT_HELPFUL = "advisor_not_helpful"
CONSULTANT = "advisor_consultant"
CONSULTANT_SEND = "advisor_consultant_send"
CONSULTANT_CANCEL = "advisor_consultant_cancel"
WRITE_APPROVED = "advisor_write_approved"
SHARE = "advisor_share"


@dataclass(frozen=True)
class Message:
    """What chat.postMessage, chat.postEphemeral or a response_url takes: fallback text and blocks."""

    text: str
    blocks: list[dict]


@dataclass(frozen=True)
class AnswerRef:
    """What an answer's buttons carry: the answer's id and language, and for the consultant and share buttons the
    question too (Slack keeps it in the message; the advisor does not need to). Once a question goes to the
    consultants, also where the official's answer is: its channel and message (`ts`), and its thread."""

    answer_id: str
    language: str
    question: str = ""
    channel: str = ""
    ts: str = ""
    thread: str = ""


def action_value(ref: AnswerRef) -> str:
    """A button value within Slack's 2,000 characters; a very long question is cut to fit."""
    question = ref.question
    place = {k: v for k, v in (("c", ref.channel), ("t", ref.ts), ("h", ref.thread)) if v}
    while len(value := json.dumps({"a": ref.answer_id, "l": ref.language, "q": question, **place},
                                  ensure_ascii=False)) > BUTTON_VALUE_LIMIT:
        question = question[: len(question) - (len(value) - BUTTON_VALUE_LIMIT)]
    return value


def parse_action_value(value: str) -> AnswerRef:
    data = json.loads(value)
    return AnswerRef(answer_id=str(data["a"]), language=str(data.get("l") or "en"), question=str(data.get("q") or ""),
                     channel=str(data.get("c") or ""), ts=str(data.get("t") or ""), thread=str(data.get("h") or ""))


def answer_message(answer: Answer, *, consultant: bool, share: bool, shared_by: str | None = None) -> Message:
    """The answer as Slack shows it: the text, its sources, then Helpful / Not helpful, "Ask a consultant" (when a
    consultants' channel is configured) and "Share in channel" (on answers only the asker sees)."""
    words = texts(answer.language)
    body = to_mrkdwn(answer.answer)
    if answer.abstained and consultant:
        body += "\n\n" + escape(words["abstain_consultant"])
    sections = [_section(piece) for piece in split_text(body, SECTION_LIMIT)]
    tail: list[Block] = []
    if answer.citations:
        tail.append(sources_block(answer.citations, labels(answer.language)["sources"],
                                  labels(answer.language)["our_reading"]))
    if shared_by:
        tail.append(ContextBlock(elements=[MarkdownTextObject(text=words["shared_by"].format(user=f"<@{shared_by}>"))]))
    tail.append(_buttons(answer, words, consultant=consultant, share=share))
    return Message(text=truncate(body, FALLBACK_LIMIT), blocks=_fit(sections, tail, words))


def sources_block(citations: list[Citation], heading: str, reading: str) -> ContextBlock:
    """`[n] Title — section (or page): source, p. 3; source`, one line per citation, each source linked."""
    lines = [f"*{escape(heading)}*"] + [_source_line(c, reading) for c in citations]
    elements: list[str] = []
    for line in lines:
        if elements and len(elements[-1]) + 1 + len(line) <= SECTION_LIMIT:
            elements[-1] += "\n" + line
        else:
            elements.append(truncate(line, SECTION_LIMIT))
    return ContextBlock(elements=[MarkdownTextObject(text=e) for e in elements[:CONTEXT_ELEMENTS]])


def _source_line(citation: Citation, reading: str) -> str:
    """The section quoted, then the publications behind the sentences quoted from it, and only those. A section
    that does not name sources sentence by sentence (a PDF page) links its own title."""
    where = f"p. {citation.page}" if citation.page is not None else citation.section
    title = escape(citation.title) if citation.sources else link(citation.url or "", citation.title)
    line = f"*[{citation.n}]* {title}" + (f" — {escape(where)}" if where else "")
    behind = [link(s.url or "", s.title) + (f", {escape(s.page)}" if s.page else "") for s in citation.sources]
    behind += [f"_{escape(reading)}_"] if citation.reading else []
    return f"{line}: " + "; ".join(behind) if behind else line


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text))


def _buttons(answer: Answer, words: dict, *, consultant: bool, share: bool) -> ActionsBlock:
    answer_id = answer.id or ""
    feedback = action_value(AnswerRef(answer_id, answer.language))
    ref = action_value(AnswerRef(answer_id, answer.language, answer.question))
    buttons = [ButtonElement(text=f"👍 {words['helpful']}", action_id=HELPFUL, value=feedback),
               ButtonElement(text=f"👎 {words['not_helpful']}", action_id=NOT_HELPFUL, value=feedback)]
    if consultant:
        buttons.append(ButtonElement(text=words["ask_consultant"], action_id=CONSULTANT, value=ref))
    if share:
        buttons.append(ButtonElement(text=words["share"], action_id=SHARE, value=ref, style="primary"))
    return ActionsBlock(block_id=f"advisor_actions:{answer_id}", elements=buttons)


def _fit(body: list[Block], tail: list[Block], words: dict) -> list[dict]:
    """At most 50 blocks, the tail (sources, buttons) always kept; a cut body ends with a note saying so."""
    room = MESSAGE_BLOCKS - len(tail)
    if len(body) > room:
        body = body[: room - 1] + [ContextBlock(elements=[MarkdownTextObject(text=escape(words["shortened"]))])]
    return [block.to_dict() for block in body + tail]


def answer_content(blocks: list[dict]) -> list[dict]:
    """An answer message's blocks without its buttons: the text and sources, to quote elsewhere."""
    return [b for b in blocks if b.get("type") != "actions"]


def consultant_confirmation(ref: AnswerRef) -> Message:
    """Before anything is shared: what the consultants will see, and the choice to send it or not."""
    words = texts(ref.language)
    value = action_value(ref)
    buttons = ActionsBlock(block_id=f"advisor_consultant_confirm:{ref.answer_id}", elements=[
        ButtonElement(text=words["consultant_send"], action_id=CONSULTANT_SEND, value=value, style="primary"),
        ButtonElement(text=words["consultant_cancel"], action_id=CONSULTANT_CANCEL, value=value)])
    text = words["consultant_confirm"]
    return Message(text=text, blocks=[_section(escape(text)).to_dict(), buttons.to_dict()])


def consultant_message(*, question: str, content: list[dict], user: str, channel: str, direct: bool,
                       permalink: str | None, group: str | None, language: str, case: AnswerRef) -> Message:
    """A request in the consultants' channel: who asked where, the question, the advisor's answer, a link back,
    and the button that turns the case into an approved answer (`case`: where to reply to the official)."""
    words = texts(language)
    asked = (words["asked_in_dm"] if direct else words["asked_in"]).format(user=f"<@{user}>", channel=f"<#{channel}>")
    if group:
        asked = f"<!subteam^{group}> {asked}"
    quoted = "\n".join(f"> {line}" for line in escape(question).splitlines() or [""])
    head: list[Block] = [HeaderBlock(text=words["consultant_request"]), _section(asked),
                         _section(truncate(quoted, SECTION_LIMIT)), _section(f"*{escape(words['advisor_answered'])}*")]
    head += [Block.parse(block) for block in content]
    tail: list[Block] = []
    if permalink:
        tail.append(ContextBlock(elements=[MarkdownTextObject(text=link(permalink, words["open_conversation"]))]))
    tail.append(ActionsBlock(block_id=f"advisor_case:{case.answer_id}", elements=[
        ButtonElement(text=words["write_approved"], action_id=WRITE_APPROVED, value=action_value(case))]))
    text = f"{words['consultant_request']}: {truncate(escape(question), 200)}"
    return Message(text=text, blocks=_fit(head, tail, words))


def notice(template: str, **values: object) -> Message:
    """A one-paragraph message (apology, rate limit, thanks). The template is escaped; `values` are mrkdwn put in
    as they are, e.g. a channel link `<#C123>`."""
    text = escape(template).format(**values)
    return Message(text=truncate(text, FALLBACK_LIMIT), blocks=[_section(truncate(text, SECTION_LIMIT)).to_dict()])
