"""Building digests from the question log: pure functions over what the log and the knowledge base hold.

Officials get counts grouped by the documents their answers cited, never names and, unless configured, never the
questions themselves. Consultants get the knowledge gaps: abstentions, answers marked not helpful and escalations,
grouped by meaning (the questions' embeddings; questions logged before those were kept, by the document that came
closest), each with its topic words, closest sections and a suggested action.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np

from digest.models import Gap, GapsReport, NewDocument, OfficialsDigest, Period, PracticePoint, Theme
from engine.models import Passage
from engine.question_log import LoggedEscalation, LoggedFeedback, LoggedQuestion, QuestionLog, scrub
from engine.text import sentences
from ingest.translations import english_path

# An officials' digest is read in a minute (at most about 20 lines): the three topics asked about most, up to five
# changed documents named (more, as in the first digest after installation or a bulk update, and the knowledge
# base is summarised by kind instead), up to three new approved answers.
MAX_THEMES = 3
MAX_NEW_DOCUMENTS = 5
MAX_APPROVED = 3
MAX_GAPS = 5
MIN_GROUP = 3  # the default of ADVISOR_DIGEST_MIN_GROUP (advisor/settings.py)
# Conversations only the asker reads: a Slack direct message, a Teams personal chat, the terminal.
PRIVATE_CHANNELS = frozenset({"dm", "personal"})
MAX_EXAMPLES = 3
MAX_TOPIC_WORDS = 5
# Two questions belong to one gap when their embeddings are at least this close (cosine of the bundled
# multilingual-e5-small, whose similarities crowd into 0.7-1.0). Measured on the English questions listed in the
# knowledge base: two questions on different sections score 0.74-0.88 (5th-95th percentile, 400 random pairs), two
# on the same section 0.77-0.92, and a reworded question 0.95 or more; 0.88 keeps 95% of unrelated pairs apart.
SAME_GAP_SIMILARITY = 0.88
_SOURCES_LINE = re.compile(r"^\s*Sources?:.*$", re.MULTILINE)
_HEADING = re.compile(r"^\s*#+ .*$", re.MULTILINE)
MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")


class KnowledgeView(Protocol):
    """What a digest needs from the engine (engine.advisor.Advisor provides it)."""

    def titles(self, language: str = "en") -> dict[str, str]: ...

    def doc_types(self) -> dict[str, str]: ...

    def headings(self, language: str = "en") -> dict[tuple[str, str], str]: ...

    def passages_of_type(self, doc_type: str) -> list[Passage]: ...

    def in_language(self, passage: Passage, language: str) -> Passage: ...

    def stale_translations(self) -> list[str]: ...

    def expired_approved_answers(self) -> list[str]: ...


def period_ending(now: dt.datetime, timezone: str) -> Period:
    """The seven days up to `now`, labelled with the ISO week `now` falls in (in the digest's time zone)."""
    local = now.astimezone(ZoneInfo(timezone))
    year, week, _ = local.isocalendar()
    return Period(week=f"{year}-W{week:02d}", start=now - dt.timedelta(days=7), end=now)


def officials_digest(log: QuestionLog, knowledge: KnowledgeView, period: Period, language: str,
                     show_questions: bool = False, min_group: int = MIN_GROUP) -> OfficialsDigest:
    """What an officials' channel hears this week. It is posted where many read it, so it reports no count of
    questions under `min_group` (a topic asked about once could point at the one who asked) and, when questions
    are shown, only those asked where others could read them, never in a private conversation."""
    questions = log.questions(period.start, period.end)
    titles = knowledge.titles(language)
    kinds = knowledge.doc_types()
    answered = [q for q in questions if not q.abstained]
    public = [q for q in answered if q.question and not _private(q)]
    examples = [q.question for q in public] if show_questions and len(public) >= min_group else []
    # Titles as the knowledge base now has them in the channel's language, where a translation exists.
    changed = [d.model_copy(update={"title": titles.get(d.source, d.title)}) for d in new_documents(log, period, language)]
    approved = [d for d in changed if kinds.get(d.source) == "approved_answer" and d.kind != "removed"]
    documents = [d for d in changed if kinds.get(d.source) != "approved_answer" and d not in approved]
    holdings: dict[str, int] = {}
    if len(documents) > MAX_NEW_DOCUMENTS:
        holdings = dict(Counter(kind for kind in kinds.values() if kind != "approved_answer").most_common())
        documents = []
    return OfficialsDigest(
        period=period, language=language,
        new_documents=documents,
        holdings=holdings,
        approved_answers=approved[:MAX_APPROVED],
        themes=themes(answered, titles, knowledge.headings(language), min_group),
        questions_answered=len(answered) if len(answered) >= min_group else 0,
        example_questions=list(dict.fromkeys(examples))[:MAX_EXAMPLES],
        practice=practice_point(knowledge.passages_of_type("guidance"), period,
                                lambda passage: knowledge.in_language(passage, language)),
    )


def _private(question: LoggedQuestion) -> bool:
    return question.channel in PRIVATE_CHANNELS or question.platform == "cli"


def new_documents(log: QuestionLog, period: Period, language: str = "en") -> list[NewDocument]:
    """Each document changed in the period once, as it was last changed, with its title and summary in the
    channel's language when its translation came in the same period. A translation is not a document of its own."""
    latest: dict[str, NewDocument] = {}
    translated: dict[str, tuple[str, str]] = {}
    for _, change in log.knowledge_changes(period.start, period.end):
        english = english_path(change.source)
        if english != change.source:
            if change.source.endswith(f".{language}.md") and change.kind != "removed":
                translated[english] = (change.title, change.summary)
            continue
        latest[change.doc_id] = NewDocument(kind=change.kind, title=change.title, summary=change.summary,
                                            url=change.url, source=change.source)
    shown = [d.model_copy(update=dict(zip(("title", "summary"), translated[d.source]))) if d.source in translated
             else d for d in latest.values()]
    return sorted(shown, key=lambda d: (d.kind != "added", d.title))


def themes(answered: Sequence[LoggedQuestion], titles: dict[str, str], headings: dict[tuple[str, str], str],
           min_group: int = 1) -> list[Theme]:
    """What people asked about: answered questions counted under the section their answer came from (the best
    one retrieval found; the first document cited for questions logged before sections were kept), for sections
    asked about at least `min_group` times. `headings`: each section's heading in the digest's language."""
    def topic(q: LoggedQuestion) -> tuple[str, str] | None:
        if q.sections:
            return q.sections[0]
        return (english_path(q.sources[0]), "") if q.sources else None  # a translation counts as its file

    counts = Counter(key for key in map(topic, answered) if key is not None)
    named = {key: headings.get(key) or titles.get(key[0], key[0]) for key in counts}
    ranked = sorted(((key, n) for key, n in counts.items() if n >= min_group), key=lambda kv: (-kv[1], named[kv[0]]))
    return [Theme(title=named[key], source=key[0], section=key[1], count=n) for key, n in ranked[:MAX_THEMES]]


def practice_point(guidance: Sequence[Passage], period: Period,
                   translate: Callable[[Passage], Passage] = lambda passage: passage) -> PracticePoint | None:
    """One practice per week, rotating through the sections of the guidance documents (in English, so every
    channel gets the same one), shown as `translate` gives it. The first section of each document introduces it
    (scope and caveats), so it is not a practice."""
    sections: dict[tuple[str, str], Passage] = {}
    for passage in guidance:
        sections.setdefault((passage.source, passage.section), passage)
    firsts = {next(k for k in sections if k[0] == source) for source, _ in sections}
    practices = [p for key, p in sections.items() if key not in firsts]
    if not practices:
        return None
    week_number = int(period.week.split("-W")[1]) + 53 * int(period.week[:4])
    chosen = translate(practices[week_number % len(practices)])
    if chosen.claims:  # sourced sentence by sentence: the two sentences shown, with their own sources
        shown = chosen.text.split("\n")[:2]
        cited = [s for claim in chosen.claims[: len(shown)] for s in claim.sources]
        return PracticePoint(title=chosen.title, section=chosen.section, text=" ".join(shown), source=chosen.source,
                             url=next((s.url for s in cited if s.url), None), sources=list(dict.fromkeys(cited)))
    body = _SOURCES_LINE.sub("", _HEADING.sub("", chosen.text))
    text = " ".join(sentences(body)[:2]).strip()
    # The section's own `Sources:` line names the publication behind this practice; the document's first source
    # (the passage's url) may be another one.
    own = [m.group(2) for line in _SOURCES_LINE.findall(chosen.text) for m in MARKDOWN_LINK.finditer(line)]
    return PracticePoint(title=chosen.title, section=chosen.section, text=text, source=chosen.source,
                         url=own[0] if own else chosen.url)


def gaps_report(log: QuestionLog, knowledge: KnowledgeView, period: Period, language: str) -> GapsReport:
    asked = log.questions(period.start, period.end)
    known = {q.id: q for q in log.questions()}
    unhelpful = [f for f in log.feedback(period.start, period.end) if not f.helpful and f.question_id in known]
    escalated = [e for e in log.escalations(period.start, period.end) if e.question_id in known]
    flagged = {q.id for q in asked if q.abstained} | {f.question_id for f in unhelpful} | \
              {e.question_id for e in escalated}
    items = sorted((known[i] for i in flagged), key=lambda q: q.at)
    comments = [scrub(f.comment) for f in unhelpful if f.comment] if log.store_text else []
    totals = {"answered": sum(not q.abstained for q in asked), "declined": sum(q.abstained for q in asked),
              "not_helpful": len(unhelpful), "escalated": len(escalated)}
    return GapsReport(period=period, language=language, questions_asked=len(asked), totals=totals,
                      gaps=gaps(items, unhelpful, escalated, knowledge), comments=comments[:MAX_EXAMPLES * 2],
                      stale_translations=knowledge.stale_translations(),
                      expired_approved_answers=knowledge.expired_approved_answers())


def gaps(items: Sequence[LoggedQuestion], unhelpful: Sequence[LoggedFeedback],
         escalated: Sequence[LoggedEscalation], knowledge: KnowledgeView) -> list[Gap]:
    titles = knowledge.titles()
    not_helpful_ids = {f.question_id for f in unhelpful}
    escalated_ids = {e.question_id for e in escalated}
    groups = _group_by_meaning([q for q in items if q.vector]) + _group_by_closest([q for q in items if not q.vector])
    found = []
    for group in groups:
        closest = Counter(source for q in group for source in q.closest[:1] + q.sources[:1])
        sections = Counter(s for q in group for s in q.sections[:1])
        gap = Gap(
            count=len(group),
            abstained=sum(q.abstained for q in group),
            not_helpful=sum(q.id in not_helpful_ids for q in group),
            escalated=sum(q.id in escalated_ids for q in group),
            examples=list(dict.fromkeys(q.question for q in group if q.question))[:MAX_EXAMPLES],
            closest=[titles.get(s, s) for s, _ in closest.most_common(MAX_EXAMPLES)],
            languages=dict(Counter(q.language for q in group).most_common()),
            topics=[w for w, _ in Counter(w for q in group for w in q.topics).most_common(MAX_TOPIC_WORDS)],
            sections=[f"{titles.get(source, source)} — {section}" for (source, section), _ in
                      sections.most_common(MAX_EXAMPLES)],
        )
        found.append(gap.model_copy(update={"action": suggested_action(gap)}))
    return sorted(found, key=lambda g: -g.count)[:MAX_GAPS]


def suggested_action(gap: Gap) -> str:
    """What a consultant can do about a gap: questions sent to a consultant want an approved answer; answers marked
    not helpful, a better section; questions declined, a new section on their topic words, unless they used no
    word of the knowledge base at all (then they are most likely outside its scope)."""
    if gap.escalated:
        return "approved_answer"
    if gap.not_helpful:
        return "improve_section"
    return "write_section" if gap.topics else "out_of_scope"


def _group_by_meaning(items: list[LoggedQuestion]) -> list[list[LoggedQuestion]]:
    """Greedy average-link grouping on the questions' embeddings (kept as vectors, not words): each question
    joins the group it is on average closest to, if close enough."""
    if not items:
        return []
    vectors = np.array([q.vector for q in items], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-9)
    similar = vectors @ vectors.T
    groups: list[list[int]] = []
    for i in range(len(items)):
        scored = [(float(similar[i, members].mean()), g) for g, members in enumerate(groups)]
        best = max(scored, default=(0.0, -1))
        if best[0] >= SAME_GAP_SIMILARITY:
            groups[best[1]].append(i)
        else:
            groups.append([i])
    return [[items[i] for i in members] for members in groups]


def _group_by_closest(items: list[LoggedQuestion]) -> list[list[LoggedQuestion]]:
    """Without question text, the document retrieval found closest is the best hint of what the gap is about."""
    groups: dict[str, list[LoggedQuestion]] = {}
    for q in items:
        groups.setdefault((q.closest or q.sources or [""])[0], []).append(q)
    return list(groups.values())
