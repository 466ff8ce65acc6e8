"""Adaptive Cards the Teams agent sends: answers with numbered sources and actions, the welcome, and the
consultants' copy of a question. Pure functions from engine objects and labels to card JSON, built with
Microsoft's typed Adaptive Card models (`microsoft-teams-cards`).

Cards use schema version 1.5, the highest Teams renders in chat on every client, and `Action.Execute`
(Universal Actions): a click reaches the agent as an `adaptiveCard/action` invoke, and the agent answers with the
card redrawn, so the buttons a person used are replaced by an acknowledgement.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from microsoft_agents.activity import Activity, ActivityTypes, Attachment
from microsoft_teams.cards import AdaptiveCard, CardElement, ExecuteAction, TextBlock

from engine.messages import labels as engine_labels
from engine.models import Answer, Citation

CARD_VERSION = "1.5"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

# Teams refuses messages over about 28 KB; answers are far shorter, but a long LLM answer or a large knowledge
# base must not turn into a failed send, so text is capped well inside that.
MAX_ANSWER_CHARS = 12_000
MAX_SOURCES = 20
MAX_FALLBACK_CHARS = 2_000

HELPFUL, NOT_HELPFUL, CONSULTANT = "helpful", "not_helpful", "consultant"
FEEDBACK_VERBS = (HELPFUL, NOT_HELPFUL)

Card = dict[str, Any]


@lru_cache(maxsize=1)
def _teams_labels() -> dict[str, dict[str, str]]:
    return yaml.safe_load((Path(__file__).with_name("labels.yaml")).read_text(encoding="utf-8"))


def card_labels(language: str) -> dict:
    """The engine's labels for a language, the words shared with Slack and the agent's own, English for a language
    we do not serve."""
    table = _teams_labels()
    shared = engine_labels(language, "front_door.yaml")
    return {**engine_labels(language), **shared, **table.get(language, table["en"])}


def _card(body: list[CardElement], fallback: str, actions: list[ExecuteAction] | None = None) -> Card:
    card = AdaptiveCard(version=CARD_VERSION, body=body, actions=actions or None,
                        fallback_text=_cap(fallback, MAX_FALLBACK_CHARS))
    return card.model_dump(mode="json", exclude_none=True)


def _text(text: str, **style: Any) -> TextBlock:
    return TextBlock(text=text, wrap=True, **style)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _markdown_label(text: str) -> str:
    """Link text with brackets removed: a `]` in a title would end the Markdown link early."""
    return text.replace("[", "(").replace("]", ")")


def source_line(citation: Citation, reading: str) -> str:
    """`[2] Title — Section · p. 14: [Source](url), p. 3; [Source](url)`: the number the answer uses, where it
    quotes from, and the publications behind the quoted sentences, and only those (a PDF page, which names none
    sentence by sentence, links its own title)."""
    where = " · ".join(x for x in (citation.section, f"p. {citation.page}" if citation.page is not None else "") if x)
    title = _markdown_label(citation.title)
    if citation.url and not citation.sources:
        title = f"[{title}]({citation.url})"
    behind = [(f"[{_markdown_label(s.title)}]({s.url})" if s.url else _markdown_label(s.title))
              + (f", {s.page}" if s.page else "") for s in citation.sources]
    behind += [f"_{reading}_"] if citation.reading else []
    line = f"[{citation.n}] {title}" + (f" — {where}" if where else "")
    return f"{line}: " + "; ".join(behind) if behind else line


def answer_blocks(answer: Answer, labels: dict) -> list[TextBlock]:
    """The answer's paragraphs (Markdown: `**bold**` labels, lists, `[n]` markers) and its numbered sources."""
    paragraphs = [p for p in _cap(answer.answer, MAX_ANSWER_CHARS).split("\n\n") if p.strip()]
    blocks = [_text(p, spacing="Medium") for p in paragraphs]
    if answer.citations:
        blocks.append(_text(labels["sources"], weight="Bolder", separator=True, spacing="Medium"))
        blocks += [_text(source_line(c, labels["our_reading"]), size="Small", spacing="Small")
                   for c in answer.citations[:MAX_SOURCES]]
    return blocks


def build_answer_card(answer: Answer, labels: dict, done: frozenset[str] = frozenset(), actions: bool = True) -> Card:
    """The answer card: text, numbered sources, and the actions not used yet.

    An abstention offers only the consultant (there is no answer to rate). `done` holds the verbs already used on
    this card; each is replaced by its acknowledgement. The actions carry the answer's id, which is its id in the
    question log; `actions=False` when the question could not be logged, so there is nothing to attach a click to.
    """
    body = answer_blocks(answer, labels)
    if not actions:
        return _card(body, answer.answer)
    data = {"question_id": answer.id}
    buttons: list[ExecuteAction] = []
    if any(verb in done for verb in FEEDBACK_VERBS):
        body.append(_text(labels["feedback_thanks"], is_subtle=True, separator=True))
    elif not answer.abstained:
        body.append(_text(labels["was_it_helpful"], is_subtle=True, separator=True))
        buttons += [ExecuteAction(title=labels["helpful"], verb=HELPFUL, data=data),
                    ExecuteAction(title=labels["not_helpful"], verb=NOT_HELPFUL, data=data)]
    if CONSULTANT in done:
        body.append(_text(labels["consultant_asked"], is_subtle=True))
    else:
        buttons.append(ExecuteAction(title=labels["ask_consultant"], verb=CONSULTANT, data=data))
    return _card(body, answer.answer, buttons)


def build_welcome_card(labels: dict, agent_name: str, document_count: int, document_kinds: list[str],
                       question_text_stored: bool, language_model: bool) -> Card:
    """What the advisor covers, how to ask it, and how data is handled."""
    body = [_text(labels["welcome_title"], size="Large", weight="Bolder"), _text(labels["intro"])]
    if document_count:
        kinds = ", ".join(labels["doc_types"].get(k, k) for k in document_kinds)
        body.append(_text(labels["welcome_covers"].format(count=document_count, kinds=kinds)))
    privacy = [labels["privacy_answers"], *([labels["privacy_llm"]] if language_model else []),
               labels["privacy_pseudonym"], labels["text_stored" if question_text_stored else "text_not_stored"],
               labels["privacy_feedback"]]
    body += [
        _text(labels["welcome_how"].format(name=agent_name)),
        _text(labels["privacy_title"], weight="Bolder", separator=True, spacing="Medium"),
        _text(" ".join(privacy), size="Small"),
    ]
    return _card(body, labels["intro"])


def build_consultant_card(answer: Answer, labels: dict) -> Card:
    """The consultants' copy of an escalated question: the question, the advisor's answer and its sources."""
    body = [
        _text(labels["consultant_request"], size="Medium", weight="Bolder"),
        _text(f"**{labels['question']}:** {_cap(answer.question, MAX_FALLBACK_CHARS)}"),
        _text(labels["answer"], weight="Bolder", separator=True),
        *answer_blocks(answer, labels),
        _text(str(answer.id), is_subtle=True, size="Small", separator=True),  # to find it in the question log
    ]
    return _card(body, answer.question)


def card_activity(card: Card) -> Activity:
    """A message carrying one card, as the SDK sends it."""
    return Activity(type=ActivityTypes.message,
                    attachments=[Attachment(content_type=CARD_CONTENT_TYPE, content=card)])


def message_activity(message: Card | str) -> Activity:
    """A card or a plain text as a message activity (what a proactive sender may pass)."""
    if isinstance(message, str):
        return Activity(type=ActivityTypes.message, text=message)
    return card_activity(message)


def apology(labels: dict, reference: str) -> str:
    """The only thing a person sees when answering fails: no error text, no stack trace, a reference to quote."""
    return labels["apology"].format(reference=reference)
