"""The optional language-model composer (switched on by `ADVISOR_LLM_MODEL`), through langchain's
`init_chat_model`: OpenAI-compatible servers, Azure OpenAI, Mistral, Ollama.

The model's answer is never trusted as is: each sentence must cite a passage that was retrieved and that shares
its key words. Sentences that fail are dropped; if too little survives, the caller falls back to the extractive
composer. The user's text reaches the model only as delimited data.
"""

from __future__ import annotations

import logging

from advisor.settings import Settings
from engine.citations import Numbering, attach, closest_line, numbers_in, supported
from engine.messages import prompt
from engine.models import Citation, Passage, Turn
from engine.text import sentences

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"en": "English", "nl": "Dutch", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian"}
MIN_SUPPORT = 0.3  # share of an English sentence's content words that its cited passages must contain
MIN_KEPT_SHARE = 0.5


def _as_data(text: str) -> str:
    # Angle brackets would let a question close its own <question> tag and pose as instructions.
    return text.replace("<", "‹").replace(">", "›")


class LLMComposer:
    def __init__(self, settings: Settings):
        from langchain.chat_models import init_chat_model

        kwargs = {"temperature": 0, "timeout": settings.llm_timeout_s, "max_retries": 1}
        if settings.llm_base_url:
            kwargs["base_url"] = settings.llm_base_url
        if settings.llm_api_key is not None:
            kwargs["api_key"] = settings.llm_api_key.get_secret_value()
        self.model = init_chat_model(settings.llm_model, **kwargs)

    def compose(self, question: str, language: str, passages: list[Passage], scores: list[float],
                history: list[Turn]) -> tuple[str, list[Citation]] | None:
        """A verified answer and its citations, or None when the extractive composer should answer instead."""
        if not passages:
            return None
        numbered = "\n\n".join(f"[{i}] {p.title} — {p.section}\n{p.text}" for i, p in enumerate(passages, start=1))
        system = prompt("answer_system.md").format(language_name=LANGUAGE_NAMES.get(language, "English"))
        user = prompt("answer_user.md").format(
            passages=numbered,
            history="\n".join(_as_data(t.question) for t in history[-3:]),
            question=_as_data(question),
        )
        try:
            reply = self.model.invoke([("system", system), ("human", user)])
        except Exception as exc:  # any provider error: the extractive answer is still good advice
            log.warning("language model unavailable, using the extractive composer: %s", type(exc).__name__)
            return None
        return verify(str(reply.content), language, passages, scores)


def verify(text: str, language: str, passages: list[Passage],
           scores: list[float]) -> tuple[str, list[Citation]] | None:
    """Keep the sentences whose citations are real and supportive; renumber them in order of first use."""
    if "NOT_COVERED" in text:
        return None
    candidates = [s for s in sentences(text) if s.strip()]
    kept: list[tuple[str, list[int]]] = []
    for sentence in candidates:
        numbers = numbers_in(sentence)
        if not numbers or any(n < 1 or n > len(passages) for n in numbers):
            continue
        cited = [passages[n - 1] for n in numbers]
        if language == "en" and not supported(sentence, [f"{p.title} {p.section} {p.text}" for p in cited], MIN_SUPPORT):
            continue
        kept.append((sentence, list(dict.fromkeys(numbers))))
    if not kept or len(kept) < MIN_KEPT_SHARE * len(candidates):
        return None
    numbering = Numbering(passages, scores)
    out = []
    for sentence, numbers in kept:
        out.append(attach(sentence, [numbering.of(n - 1, closest_line(sentence, passages[n - 1])) for n in numbers]))
    return " ".join(out), numbering.citations

