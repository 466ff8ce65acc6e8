"""The default composer, needing no language model. It answers from the best section: its opening (the direct
answer) and the sentences of it that carry what the question asks for (figures for "how much", the list for
"what does it do"), in the section's own order; then, when they add to it, one point on what to do (guidance)
and one example (a case), each cited. Deterministic; every sentence it emits comes from a cited section, none
leans on a sentence the answer does not show, and none is a note about the knowledge base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.index import KnowledgeIndex
from engine.models import Passage
from ingest.sentence_rules import enumeration_item, leans_on_previous, talks_about_knowledge_base
from engine.text import tokens
from ingest.chunking import WINDOW_STEP

# An answer is 60 to 180 words (issue 11): the best section gives up to MAIN_WORDS, each extra point the rest.
# MAIN_WORDS 140 measured on the tuning half against 120 and 160: key facts .687 (.643, .705) with room left for
# an extra point, which 160 rarely leaves.
MIN_WORDS, MAIN_WORDS, MAX_WORDS = 60, 140, 180
LABEL_WORDS = 3  # "What you can do:", "See also:" before an extra point
# An extra point must come from a section scoring at least this share of the best section, and the sentence must
# share content words with the question (chosen by reading answers to tuning-half questions: at 0.8 the examples
# and "what to do" points were often about something else).
EXTRA_SECTION_SHARE = 0.9
# A runner-up section is shown (its opening, "See also") when it scores at least this share of the best: on the
# tuning half, answers citing a section that answers went from 0.76 without it to 0.81 at 0.8 (0.82 at 0.7, 0.79
# at 0.9), key facts from 0.72 to 0.74. Its opening rather than its sentence closest to the question: those scored
# 0.03 higher but often began mid-story ("The study was carried out …").
RELATED_SHARE = 0.8
_NUMERIC_QUESTION = re.compile(
    r"\b(how many|how much|how long|when|what year|which year|in numbers|numbers?|figures?|statistic\w*|percent\w*|"
    r"per ?cent|rate|cost\w*|budget|spend|spent|hoeveel|wanneer|cijfers?|kost\w*|combien|quand|chiffres?|co[uû]t\w*|"
    r"wie viele|wie viel|wann|zahlen|kosten|cu[aá]nt\w*|cu[aá]ndo|quant\w*|quando|cifr\w*)\b", re.IGNORECASE)
_FIGURES = re.compile(r"\d[\d.,]*\d|\d")
# A sentence that defines a term: "A common agenda is …", "Shared measurement means …" (at most five words before);
# not "The strategy is …" or "It is …", which may be about different things in two sections.
_DEFINES = re.compile(r"^(?!(?:the|this|that|it|its|these|those|there|they)\b)((?:\S+\s+){0,4}?\S+)\s+"
                      r"(?:is|are|means|refers to)\s", re.IGNORECASE)
# A sentence's relevance adds how close in meaning its window of sentences came to the question (as a share of the
# section's closest window) to its share of the question's words: key facts on the tuning half 0.749 at weights
# 0.5 and 1, 0.742 at 2, 0.735 without it; 1 chosen.
MEANING_WEIGHT = 1.0
# A section of up to this many words is quoted whole (past MAIN_WORDS), so its substance is not cut for a few
# words: key facts on the tuning half 0.749 at 140 (off), 0.757 at 160 and 170, 0.762 at 180; 180 left no room
# for a second section and lowered answers citing a gold section, so 160.
WHOLE_SECTION_WORDS = 160


@dataclass
class Sentence:
    text: str
    passage: int  # index into the retrieved sections
    position: int  # place in its section
    score: float


@dataclass
class Composed:
    """Sentences in answer order, each with the index of the section it came from, grouped by role."""

    direct: list[Sentence]
    guidance: Sentence | None
    example: Sentence | None
    related: Sentence | None = None  # the opening of a runner-up section nearly as close to the question


def _words(text: str) -> int:
    return len(text.split())


def _usable(sentence: str, repeated: set[str]) -> bool:
    return not talks_about_knowledge_base(sentence) and _key(sentence) not in repeated


def _key(sentence: str) -> str:
    return " ".join(sentence.lower().split())[:80]


def _relevance(sentence: str, weights: dict[str, float], numeric: bool) -> float:
    """The idf-weighted share of the question's words in the sentence; a figure counts for a figure question."""
    present = set(tokens(sentence))
    total = sum(weights.values()) or 1.0
    score = sum(w for t, w in weights.items() if t in present) / total
    if numeric and _FIGURES.search(sentence):
        score += 0.5
    return score


def _meaning(windows: tuple[float, ...], position: int) -> float:
    """How close in meaning the window holding a sentence came to the question, against the section's closest."""
    if not windows:
        return 0.0
    top = max(max(windows), 1.0)
    return max(windows[min(position // WINDOW_STEP, len(windows) - 1)], 0.0) / top


def _from_section(passage: Passage, pi: int, weights: dict[str, float], numeric: bool,
                  repeated: set[str], budget: int = MAIN_WORDS, given: list[Sentence] | None = None,
                  windows: tuple[float, ...] = ()) -> list[Sentence]:
    """The section in its own order: all of it when it fits in the budget of words, else its opening and its
    sentences most relevant to the question until the budget. A sentence that leans on the one before it comes
    only with it, and notes about the knowledge base never come."""
    lines = passage.text.split("\n")
    scored = [Sentence(s, pi, i, _relevance(s, weights, numeric) + MEANING_WEIGHT * _meaning(windows, i))
              for i, s in enumerate(lines)]
    usable = {s.position for s in scored if _usable(s.text, repeated) and not _restates(s.text, given or [])}

    def needs(s: Sentence) -> list[Sentence] | None:
        """The sentence with those it leans on (an enumeration's item with the items before it, back to the
        first), or None when one of them cannot be shown."""
        chain = [s]
        item = enumeration_item(s.text)
        pending = item is not None and item > 1
        while leans_on_previous(chain[0].text) or pending:
            before = chain[0].position - 1
            if before < 0:
                break  # an enumeration without a first item: the section's opening heads it
            if before not in usable:
                return None
            chain.insert(0, scored[before])
            pending = pending and enumeration_item(chain[0].text) != 1
        return chain

    first = min(usable, default=None)
    total = sum(_words(scored[p].text) for p in usable)
    if budget == MAIN_WORDS and total <= WHOLE_SECTION_WORDS:
        budget = total
    if total <= budget:
        order = sorted(usable)
    else:  # the opening, then the most relevant
        order = sorted(usable, key=lambda p: (p != first, -scored[p].score, p))
    chosen: dict[int, Sentence] = {}
    words = 0
    opening = True
    for s in (scored[p] for p in order):
        chain = needs(s)
        if chain is None:
            continue
        extra = sum(_words(c.text) for c in chain if c.position not in chosen)
        if not opening and words + extra > budget:
            continue
        opening = False
        for c in chain:
            chosen[c.position] = c
        words += extra
    return [chosen[p] for p in sorted(chosen)]


def _restates(sentence: str, given: list[Sentence]) -> bool:
    """Whether a sentence says what the answer already says: mostly the same words, the same figures (two
    sections quoting one statistic), or a definition of the term another sentence already defined ("A common
    agenda is …" after "A common agenda means …": a glossary entry and the section on the term both open so)."""
    words = set(tokens(sentence))
    figures = {f for f in _FIGURES.findall(sentence) if len(f) > 2}
    defined = _DEFINES.match(sentence)
    for other in given:
        theirs_defined = _DEFINES.match(other.text)
        if defined and theirs_defined and defined.group(1).lower() == theirs_defined.group(1).lower():
            return True
        theirs = set(tokens(other.text))
        if words and len(words & theirs) / len(words | theirs) > 0.5:
            return True
        if figures and len(figures & set(_FIGURES.findall(other.text))) >= min(2, len(figures)):
            return True
    return False


def _extra_point(passages: list[Passage], scores: list[float], doc_type: str, weights: dict[str, float],
                 numeric: bool, repeated: set[str], taken: set[str], given: list[Sentence]) -> Sentence | None:
    """The most relevant self-standing sentence of the best-scoring other section of one type that adds to what
    the answer already says."""
    for pi in range(1, len(passages)):
        passage = passages[pi]
        if passage.doc_type != doc_type or passage.source in taken or scores[pi] < EXTRA_SECTION_SHARE * scores[0]:
            continue
        options = [Sentence(text, pi, i, _relevance(text, weights, numeric))
                   for i, text in enumerate(passage.text.split("\n"))
                   if _usable(text, repeated) and not leans_on_previous(text) and not _restates(text, given)]
        options = [s for s in options if s.score > 0]
        if options:
            return max(options, key=lambda s: (s.score, -s.position))
    return None


def _runner_up(passages: list[Passage], scores: list[float], repeated: set[str],
               given: list[Sentence]) -> Sentence | None:
    """When the question is nearly as close to a second section (two sections answer it, or retrieval is unsure
    which does), that section's opening, which says what it is about, so the official sees both."""
    used = {s.passage for s in given}
    for pi in range(1, min(3, len(passages))):
        if pi in used or scores[pi] < RELATED_SHARE * scores[0]:
            continue
        for position, text in enumerate(passages[pi].text.split("\n")):
            if _usable(text, repeated) and not leans_on_previous(text):
                return None if _restates(text, given) else Sentence(text, pi, position, 0.0)
    return None


def select(index: KnowledgeIndex, question: str, passages: list[Passage], scores: list[float],
           query_tokens: list[str], repeated: set[str] | None = None,
           windows: list[tuple[float, ...]] | None = None) -> Composed:
    """What to say. `repeated`: keys of sentences already given in this conversation (see `sentence_key`)."""
    repeated = repeated or set()
    windows = windows or [()] * len(passages)
    numeric = bool(_NUMERIC_QUESTION.search(question))
    weights = {t: max(index.idf(t), 0.05) for t in query_tokens}
    direct: list[Sentence] = []
    for pi, passage in enumerate(passages[:2]):  # a follow-up whose best section was already given moves on
        direct = _from_section(passage, pi, weights, numeric, repeated, windows=windows[pi])
        if direct:
            break
    if not direct:
        return Composed([], None, None)
    words = sum(_words(s.text) for s in direct)
    if words < MIN_WORDS and direct[0].passage + 1 < len(passages):
        # Too short to be advice on its own (a definition, a one-line note): the next section continues it.
        following = direct[0].passage + 1
        direct += _from_section(passages[following], following, weights, numeric, repeated,
                                budget=MAIN_WORDS - words, given=direct, windows=windows[following])
        words = sum(_words(s.text) for s in direct)
    given = list(direct)  # everything the answer says so far
    taken = {passages[direct[0].passage].source}
    extras: dict[str, Sentence] = {}
    for doc_type in ("guidance", "case_study"):
        if passages[direct[0].passage].doc_type == doc_type:
            continue
        point = _extra_point(passages, scores, doc_type, weights, numeric, repeated, taken, given)
        if point is not None and words + LABEL_WORDS + _words(point.text) <= MAX_WORDS:
            extras[doc_type] = point
            given.append(point)
            words += LABEL_WORDS + _words(point.text)
            taken.add(passages[point.passage].source)
    related = _runner_up(passages, scores, repeated, given)
    if related is not None and words + LABEL_WORDS + _words(related.text) > MAX_WORDS:
        related = None
    return Composed(direct, extras.get("guidance"), extras.get("case_study"), related)


def sentence_key(sentence: str) -> str:
    """How a sentence is recognised again in an earlier answer (citation markers and spacing aside)."""
    return _key(re.sub(r"\s*\[\d{1,2}\]", "", sentence))
