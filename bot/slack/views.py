"""The App Home tab, the `/advisor help` message and the feedback comment modal.

Builders are pure; `knowledge_summary` is the one function here that reads (the ingest manifest and change log,
without loading the model), so the Home tab always shows the knowledge base as it is now.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field

from pydantic import ValidationError
from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DatePickerElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from advisor.settings import Settings
from bot.slack.blocks import Message
from bot.slack.mrkdwn import escape
from bot.slack.texts import texts
from engine.messages import labels
from engine.question_log import MAX_COMMENT_CHARS
from ingest.approved import ApprovedAnswerDraft
from ingest.translations import TRANSLATED_LANGUAGES

COMMENT_CALLBACK = "advisor_feedback_comment"
COMMENT_BLOCK = "comment"
APPROVED_CALLBACK = "advisor_approved_answer"


@dataclass(frozen=True)
class KnowledgeSummary:
    documents: int = 0
    updated: dt.date | None = None
    doc_types: dict[str, int] = field(default_factory=dict)  # documents per type, most common first


def knowledge_summary(settings: Settings) -> KnowledgeSummary:
    """What the loaded knowledge base holds: documents, their types, and the date of the last ingest that
    changed it."""
    from ingest.changes import read_runs
    from ingest.pipeline import indexed_documents

    manifest = indexed_documents(settings)
    if manifest is None or not manifest.documents:
        return KnowledgeSummary()
    runs = read_runs(settings.store_dir)
    documents = manifest.originals()
    kinds = Counter(doc.doc_type for doc in documents.values() if doc.doc_type)
    return KnowledgeSummary(documents=len(documents), updated=runs[-1].at.date() if runs else None,
                            doc_types=dict(kinds.most_common()))


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text))


def _how(words: dict, bot_user_id: str | None) -> list[Block]:
    name = f"<@{bot_user_id}>" if bot_user_id else "@advisor"
    return [_section(f"*{escape(words['how_title'])}*\n{words['how'].format(name=name)}")]


def _examples(language: str) -> SectionBlock:
    lines = "\n".join(f"• {escape(q)}" for q in texts(language)["examples"])
    return _section(f"*{escape(labels(language)['try_asking'])}*\n{lines}")


def _coverage(summary: KnowledgeSummary, language: str) -> list[Block]:
    label = labels(language)
    words = texts(language)
    if not summary.documents:
        return [ContextBlock(elements=[MarkdownTextObject(text=escape(words["knowledge_empty"]))])]
    kinds = ", ".join(label["doc_types"].get(kind, kind) for kind in summary.doc_types)
    updated = summary.updated.isoformat() if summary.updated else "—"
    return [_section(f"{escape(label['can_help'])} {escape(kinds)}"),
            ContextBlock(elements=[MarkdownTextObject(
                text=escape(words["knowledge"].format(count=summary.documents, updated=updated)))])]


def privacy_notice(settings: Settings, language: str) -> str:
    """What happens to an official's data, as configured (a language model, stored question text)."""
    words = texts(language)
    parts = [words["privacy_answers"]]
    if settings.llm_model:
        parts.append(words["privacy_llm"])
    parts += [words["privacy_pseudonym"], words["text_stored" if settings.store_question_text else "text_not_stored"],
              words["privacy_feedback"]]
    return " ".join(parts)


def help_message(summary: KnowledgeSummary, bot_user_id: str | None, language: str) -> Message:
    """`/advisor help` (and `/advisor` alone): what the advisor covers, how to ask, example questions."""
    words = texts(language)
    blocks: list[Block] = [_section(escape(words["intro"])), *_coverage(summary, language), _examples(language),
                           *_how(words, bot_user_id)]
    return Message(text=words["intro"], blocks=[b.to_dict() for b in blocks])


def home_view(summary: KnowledgeSummary, bot_user_id: str | None, settings: Settings, language: str) -> dict:
    """The App Home tab: what the advisor is, example questions, the knowledge base, the privacy notice."""
    words = texts(language)
    blocks: list[Block] = [
        HeaderBlock(text="Collective Impact Advisor"), _section(escape(words["intro"])), *_how(words, bot_user_id),
        _examples(language), DividerBlock(), *_coverage(summary, language), DividerBlock(),
        _section(f"*{escape(words['privacy_title'])}*\n{escape(privacy_notice(settings, language))}"),
    ]
    return View(type="home", blocks=blocks).to_dict()


def comment_modal(answer_id: str, language: str) -> dict:
    """The optional "what was missing?" modal opened by "Not helpful"."""
    words = texts(language)
    comment = InputBlock(
        block_id=COMMENT_BLOCK, optional=True, label=words["comment_label"], hint=words["comment_hint"],
        element=PlainTextInputElement(action_id=COMMENT_BLOCK, multiline=True, max_length=MAX_COMMENT_CHARS),
    )
    return View(type="modal", callback_id=COMMENT_CALLBACK, title=words["comment_title"],
                submit=words["comment_submit"], close=words["comment_close"],
                private_metadata=json.dumps({"a": answer_id, "l": language}), blocks=[comment]).to_dict()


def comment_from_submission(view: dict) -> tuple[str, str, str]:
    """(answer id, language, comment) from the submitted modal."""
    meta = json.loads(view.get("private_metadata") or "{}")
    value = (((view.get("state") or {}).get("values") or {}).get(COMMENT_BLOCK) or {}).get(COMMENT_BLOCK) or {}
    return str(meta.get("a", "")), str(meta.get("l", "en")), (value.get("value") or "")[:MAX_COMMENT_CHARS]


def approved_modal(draft: ApprovedAnswerDraft, metadata: dict, language: str) -> dict:
    """The form a consultant turns a case into an approved answer with, filled in with the question and the
    advisor's answer (its `[n]` markers and numbered sources) as a draft."""
    words = texts(language)

    def field(block: str, label: str, initial: str, multiline: bool = False, max_length: int = 3000,
              hint: str | None = None) -> InputBlock:
        return InputBlock(block_id=block, label=label, hint=hint, element=PlainTextInputElement(
            action_id=block, initial_value=initial[:max_length], multiline=multiline, max_length=max_length))

    blocks = [
        field("question", words["approved_question"], draft.question, max_length=300),
        field("phrasings", words["approved_phrasings"], "\n".join(draft.phrasings), multiline=True),
        field("answer", words["approved_answer"], draft.answer, multiline=True, hint=words["approved_answer_hint"]),
        field("sources", words["approved_sources"], draft.sources, multiline=True),
        field("approved_by", words["approved_by"], draft.approved_by, max_length=120),
        InputBlock(block_id="review_by", label=words["approved_review_by"],
                   element=DatePickerElement(action_id="review_by", initial_date=draft.review_by.isoformat())),
    ]
    return View(type="modal", callback_id=APPROVED_CALLBACK, title=words["approved_title"],
                submit=words["approved_submit"], close=words["consultant_cancel"],
                private_metadata=json.dumps(metadata), blocks=blocks).to_dict()


def approved_from_submission(view: dict) -> tuple[ApprovedAnswerDraft | None, dict[str, str], dict]:
    """The consultant's draft from the submitted form, or the problems by field (block id), and the form's
    metadata. The draft's language is the official's question's."""
    values = (view.get("state") or {}).get("values") or {}
    metadata = json.loads(view.get("private_metadata") or "{}")

    def read(block: str) -> str:
        entry = (values.get(block) or {}).get(block) or {}
        return (entry.get("value") or entry.get("selected_date") or "").strip()

    fields = {"question": read("question"), "answer": read("answer"), "sources": read("sources"),
              "approved_by": read("approved_by"), "review_by": read("review_by") or None,
              "phrasings": [line.strip() for line in read("phrasings").splitlines() if line.strip()],
              "language": metadata.get("l") if metadata.get("l") in ("en", *TRANSLATED_LANGUAGES) else "en"}
    try:
        return ApprovedAnswerDraft.model_validate(fields), {}, metadata
    except ValidationError as exc:
        problems = {str(e["loc"][0]): e["msg"] for e in exc.errors() if e["loc"] and str(e["loc"][0]) in values}
        return None, problems or {"answer": str(exc.errors()[0]["msg"])}, metadata
