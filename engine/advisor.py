"""The answer engine every front door calls: question (and earlier turns) in, a grounded answer with numbered
citations out, or a plain abstention. It knows nothing about Slack, Teams or terminals.
"""

from __future__ import annotations

import time

import numpy as np

from advisor.settings import Settings
from engine import abstention, compose_extractive
from engine.approved import Match
from engine.citations import Numbering, attach
from engine.conversation import is_follow_up
from engine.glossary import asks_about_terms
from engine.instructions import strip_instructions
from engine.index import KnowledgeIndex
from engine.language import detect_language
from engine.messages import labels
from engine.models import Answer, ApprovedAnswerRef, Citation, Filters, Passage, RetrievedPassage, Timings, Turn
from engine.retrieval import Mode, Query, Retrieval, retrieve
from engine.text import sentences, tokens
from engine.topics import topic_words
from ingest.embedding import Embedder
from ingest.pipeline import embedder_for
from ingest.store import KnowledgeStore


class QuestionError(ValueError):
    """A question the engine cannot take (empty); the message is for the user."""


class Advisor:
    def __init__(self, settings: Settings, index: KnowledgeIndex | None = None, embedder: Embedder | None = None):
        self.settings = settings
        self.embedder = embedder or embedder_for(settings)
        self.index = index or KnowledgeIndex(KnowledgeStore(settings.store_dir, settings.chroma_url, self.embedder.label))
        self.threshold = settings.abstain_threshold if settings.abstain_threshold is not None else abstention.THRESHOLD
        self._llm = None
        if settings.llm_model:
            from engine.compose_llm import LLMComposer

            self._llm = LLMComposer(settings)
        self.embedder.embed_query("warm up")  # load the model now, not on the first official's question

    # -- retrieval ----------------------------------------------------------------------------------------------

    def make_query(self, question: str, history: list[Turn] | None = None) -> Query:
        """What to search with: the question without instruction clauses (see engine.instructions), preceded by
        the latest earlier question when `history` is given (a follow-up), plus English glossary terms when it is
        in another language."""
        asked, _ = strip_instructions(question)
        language = detect_language(question)
        text = f"{history[-1].question} {asked or question}" if history else asked or question
        english = self.index.glossary.english_terms(text, language) if language != "en" else []
        return Query(text=text, language=language, english_terms=english, about_terms=asks_about_terms(text),
                     asked=asked, alone=asked or question)

    def question_vector(self, text: str, embedded: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """A question's embedding; `embedded`: those already computed for this question, by text, so a question
        searched alone, with its conversation and against the approved answers is embedded once per text."""
        if embedded is None:
            return self.embedder.embed_query(text)
        if text not in embedded:
            embedded[text] = self.embedder.embed_query(text)
        return embedded[text]

    def search(self, query: Query, top_k: int, filters: Filters | None = None, mode: Mode = "hybrid",
               embedded: dict[str, np.ndarray] | None = None) -> Retrieval:
        """Sections for a query. `embedded`: question vectors already computed for this question, by text (a
        conversation searches a question alone and then with the previous one: each text is embedded once)."""
        vector = None
        if mode != "lexical":
            embedded = {} if embedded is None else embedded
            vector = self.question_vector(query.dense_text, embedded)
            if query.alone != query.text:
                # A follow-up is searched by the conversation and by itself alike, so the earlier question gives
                # the context without outweighing what is asked now ("and does that body still exist?").
                vector = vector + self.question_vector(query.alone, embedded)
                vector = vector / np.linalg.norm(vector)
        return retrieve(self.index, query, vector, top_k, filters, mode)

    def understand(self, question: str, history: list[Turn], top_k: int, filters: Filters | None = None,
                   embedded: dict[str, np.ndarray] | None = None) -> tuple[Query, Retrieval, float]:
        """The query, what it found and the evidence that the knowledge base answers it. In a conversation, a
        question marked as continuing it ("and who paid?") is searched with the earlier question; any other is
        searched alone first, and with the earlier question only when alone it finds too little ("when was the
        strategy adopted?" after a question on New York State), so a new question starts a new topic."""
        candidates = [self.make_query(question)]
        if history:
            together = self.make_query(question, history)
            candidates = [together] if is_follow_up(candidates[0].alone) else [candidates[0], together]
        best: tuple[Query, Retrieval, float] | None = None
        embedded = {} if embedded is None else embedded
        for query in candidates:
            found = self.search(query, top_k, filters, embedded=embedded)
            evidence = self.evidence(query, found) if tokens(query.alone) else 0.0
            if best is None or evidence > best[2]:
                best = (query, found, evidence)
            if evidence >= self.threshold:
                break
        assert best is not None
        return best

    def evidence(self, query: Query, found: Retrieval) -> float:
        """The probability, in [0, 1], that the knowledge base answers the question (engine/abstention.py)."""
        if not found.passages:
            return 0.0
        return round(abstention.probability(abstention.features(query, found)), 4)

    # -- what the knowledge base holds (digests, help texts) ---------------------------------------------------

    def passages_of_type(self, doc_type: str) -> list[Passage]:
        """Every chunk of one document type, in reading order (e.g. the guidance, for a practice point)."""
        self.index.refresh_if_changed()
        found = [p for p in self.index.passages.values() if p.doc_type == doc_type]
        return sorted(found, key=lambda p: (p.source, p.chunk_index))

    def titles(self, language: str = "en") -> dict[str, str]:
        """Title of each indexed document (approved answers included) by its source path, in `language` where it
        is translated."""
        self.index.refresh_if_changed()
        translated = self.index.titles_in.get(language, {})
        titles = {p.source: translated.get(p.title, p.title) for p in self.index.passages.values()}
        for answer in self.index.approved.answers.values():
            own = answer.translations.get(language)
            titles[answer.passage.source] = own.passage.title if own else answer.passage.title
        return titles

    def headings(self, language: str = "en") -> dict[tuple[str, str], str]:
        """Each section's heading (its last part) by (source, section), in `language` where it is translated."""
        self.index.refresh_if_changed()
        out = {}
        for cid, p in self.index.passages.items():
            translated = self.index.translation(cid, language) if language != "en" else None
            out[(p.source, p.section)] = (translated.passage if translated else p).section.split(" > ")[-1]
        return out

    def doc_types(self) -> dict[str, str]:
        """The type of each indexed document (approved answers included) by its source path."""
        self.index.refresh_if_changed()
        types = {p.source: p.doc_type for p in self.index.passages.values()}
        return types | {a.passage.source: a.passage.doc_type for a in self.index.approved.answers.values()}

    def in_language(self, passage: Passage, language: str) -> Passage:
        """A section in `language` where the knowledge base has it translated sentence for sentence, else as is."""
        return self._in_language([passage], language)[0][0]

    def stale_translations(self) -> list[str]:
        """Translated sections whose English text changed after they were translated: "file — section"."""
        self.index.refresh_if_changed()
        return sorted(f"{t.passage.source} — {t.passage.section}" for languages in self.index.translations.values()
                      for t in languages.values() if not t.current)

    def expired_approved_answers(self) -> list[str]:
        """Approved answers past their review date, no longer served: "file (review by DATE)"."""
        self.index.refresh_if_changed()
        return [f"{a.passage.source} (review by {a.approval.review_by.isoformat()})"
                for a in self.index.approved.expired()]

    # -- answering ----------------------------------------------------------------------------------------------

    def approved_match(self, question: str, embedded: dict[str, np.ndarray] | None = None) -> Match | None:
        """The approved answer (engine/approved.py) a question asks for, if any. `question`: what is asked now,
        without earlier turns or instruction clauses."""
        if not len(self.index.approved) or not tokens(question):
            return None
        vector = self.question_vector(question, embedded)
        return self.index.approved.match(vector / np.linalg.norm(vector))

    def ask(self, question: str, history: list[Turn] | None = None, filters: Filters | None = None,
            top_k: int | None = None, id: str | None = None, approved: bool = True) -> Answer:
        """An answer to the question. `approved`: serve an approved answer the question matches (the
        evaluation of the engine itself turns this off)."""
        started = time.perf_counter()
        question = " ".join(question.split())[: self.settings.max_question_chars]
        if not question:
            raise QuestionError("The question is empty.")
        self.index.refresh_if_changed()
        embedded: dict[str, np.ndarray] = {}
        query, found, evidence = self.understand(question, history or [], top_k or self.settings.top_k, filters,
                                                 embedded)
        asked = query.alone
        # A filtered question asks for one kind of document; an approved answer is none of them.
        filtered = filters is not None and filters.chroma_where() is not None
        match = self.approved_match(query.asked, embedded) if approved and not filtered else None
        retrieved_ms = (time.perf_counter() - started) * 1000
        retrieved = [
            RetrievedPassage(source=p.source, title=p.title, section=p.section, page=p.page, score=s)
            for p, s in zip(found.passages, found.scores)
        ]
        composer = "extractive"
        reference = None
        if match is not None:
            text, citations, abstained, composer = *self._approved(match, query.language), False, "approved"
            approval = match.answer.approval
            reference = ApprovedAnswerRef(source=match.answer.passage.source, approved_by=approval.approved_by,
                                          approved_on=approval.approved_on.isoformat())
        elif evidence < self.threshold:
            text, citations, abstained = self._abstention(query.language), [], True
        else:
            abstained = False
            result = None
            if self._llm is not None:
                result = self._llm.compose(asked, query.language, found.passages, found.scores, history or [])
                composer = "llm" if result is not None else "extractive-fallback"
            if result is None:
                result = self._extractive(asked, query, found, history or [])
            text, citations = result
            if not citations:
                text, abstained = self._abstention(query.language), True
        total_ms = (time.perf_counter() - started) * 1000
        vector = embedded.get(query.dense_text)
        return Answer(
            id=id, question=question, language=query.language, answer=text, abstained=abstained,
            citations=citations, retrieved=retrieved, composer=composer, evidence=evidence, approved_answer=reference,
            topics=topic_words(question, query.language, self.index.heading_tokens, self.index.names),
            vector=None if vector is None else [round(float(v), 4) for v in vector],
            timings_ms=Timings(retrieve=round(retrieved_ms, 1), compose=round(total_ms - retrieved_ms, 1),
                               total=round(total_ms, 1)),
        )

    def _extractive(self, question: str, query: Query, found: Retrieval,
                    history: list[Turn]) -> tuple[str, list[Citation]]:
        said = {compose_extractive.sentence_key(s) for turn in history for s in sentences(turn.answer)}
        shown, untranslated, outdated = self._in_language(found.passages, query.language)
        # What to say is chosen on the English sections, whose rules (a sentence leaning on the one before it, a
        # note about the knowledge base) are written for English; a translation keeps the English sentence order,
        # so each chosen sentence is then read in the asker's language.
        said |= {compose_extractive.sentence_key(english) for p, t in zip(found.passages, shown) if t is not p
                 for english, line in zip(p.text.split("\n"), t.text.split("\n"))
                 if compose_extractive.sentence_key(line) in said}
        chosen = compose_extractive.select(self.index, question, found.passages, found.scores, query.lexical_tokens,
                                           said, found.windows)
        numbering = Numbering(shown, found.scores)
        label = labels(query.language)

        def cited(c: compose_extractive.Sentence) -> str:
            return attach(shown[c.passage].text.split("\n")[c.position], [numbering.of(c.passage, c.position)])

        paragraphs = [" ".join(cited(c) for c in chosen.direct)]
        for heading, extra in ((label["what_to_do"], chosen.guidance), (label["example"], chosen.example),
                               (label["see_also"], chosen.related)):
            if extra is not None:
                paragraphs.append(f"**{heading}:** {cited(extra)}")
        if chosen.direct:
            quoted = {c.passage for c in (*chosen.direct, chosen.guidance, chosen.example, chosen.related) if c}
            paragraphs.append(_language_notes(query.language, quoted, untranslated, outdated))
        return "\n\n".join(p for p in paragraphs if p), numbering.citations

    def _approved(self, match: Match, language: str) -> tuple[str, list[Citation]]:
        """An approved answer, whole and marked as approved, in the asker's language where it is translated,
        then the knowledge base sections it is built on."""
        answer = match.answer
        sections = [self.index.passages[cid] for cid in answer.sections if cid in self.index.passages]
        shown, untranslated, outdated = self._in_language([answer.passage, *sections], language)
        numbering = Numbering(shown, [round(match.similarity, 4)] * len(shown))
        label = labels(language)
        lines = shown[0].text.split("\n")
        paragraphs = [f"_{label['approved'].format(date=answer.approval.approved_on.isoformat())}_",
                      " ".join(attach(line, [numbering.of(0, i)]) for i, line in enumerate(lines))]
        if sections:
            # The sections are pointed to, not quoted: their headings, each cited with the sources of its first
            # sentence that names one (an opening may be our own reading, which names none).
            named = "; ".join(f"{p.section.split(' > ')[-1]} [{numbering.of(i, _first_sourced(p))}]"
                              for i, p in enumerate(shown[1:], 1))
            paragraphs.append(f"**{label['see_also']}:** {named}")
        paragraphs.append(_language_notes(language, {0}, untranslated, outdated))
        return "\n\n".join(p for p in paragraphs if p), numbering.citations

    def _in_language(self, passages: list[Passage], language: str) -> tuple[list[Passage], set[int], set[int]]:
        """The sections in the asker's language where the knowledge base has them translated sentence for
        sentence, with the indexes of those left in English and of those whose translation may be out of date (the
        English changed since)."""
        shown, untranslated, outdated = [], set(), set()
        for i, passage in enumerate(passages):
            translated = self.index.translation(passage.id, language) if language != "en" else None
            if translated is not None and translated.passage.text.count("\n") != passage.text.count("\n"):
                translated = None  # not sentence for sentence (the splitter cut one differently): quote the English
            if translated is None:
                untranslated.add(i)
            elif not translated.current:
                outdated.add(i)
            shown.append(translated.passage if translated else passage)
        return shown, untranslated, outdated

    def _abstention(self, language: str) -> str:
        label = labels(language)
        by_type: dict[str, list[str]] = {}
        translated = self.index.titles_in.get(language, {})
        for doc_type, title in self.index.documents:
            by_type.setdefault(doc_type, []).append(translated.get(title, title))
        lines = [label["abstain"], "", label["can_help"]]
        for doc_type, titles in by_type.items():
            name = label["doc_types"].get(doc_type, doc_type)
            lines.append(f"- {name}: " + "; ".join(titles))
        return "\n".join(lines)


def _first_sourced(passage: Passage) -> int:
    return next((i for i, claim in enumerate(passage.claims) if claim.sources), 0)


def _language_notes(language: str, quoted: set[int], untranslated: set[int], outdated: set[int]) -> str:
    """The italic line under an answer in another language: the sources are in English, and, where it applies,
    part of the answer is quoted in English (Spanish and Italian answers are) or from a translation that may be
    out of date. Empty for English. `quoted`: indexes of the sections the answer quotes."""
    if language == "en":
        return ""
    label = labels(language)
    notes = [label["english_sources"]]
    if quoted & untranslated:
        notes.append(label["not_translated"])
    if quoted & outdated:
        notes.append(label["maybe_outdated"])
    return f"_{' '.join(notes)}_"
