"""Language-aware text handling shared by retrieval and composition: function words, tokens for BM25, names
and sentences. Pure functions; no model needed.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import snowballstemmer

from ingest.sentences import split_sentences

LANGUAGES = ("en", "nl", "fr", "de", "es", "it")
_STEMMER_NAMES = {"en": "english", "nl": "dutch", "fr": "french", "de": "german", "es": "spanish", "it": "italian"}

# Function words per language. They identify the language of a question and carry no topic, so BM25 skips them.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("""a about after all also am an and any are as at be been before being but by can could did do
        does doing for from had has have having he her here how i if in into is it its just me more most my no not
        now of on once only or other our out over own same she should so some such than that the their them then
        there these they this those through to too under until up very was we were what when where which while who
        whom why will with would you your yours tell give show explain please much many kind kinds way ways""".split()),
    "nl": frozenset("""de het een en van in op is dat die voor met zijn niet aan er maar om ook als dan bij nog
        naar wat wie waar hoe welke wij we ik je jij u uw ons onze hun hebben heeft had kan kunnen moet moeten
        wordt worden werd door over tot uit of geen meer veel deze dit zo al wel waarom wanneer""".split()),
    "fr": frozenset("""le la les un une des du de d l et est en que qui dans pour par sur au aux ce cette ces
        il elle ils elles nous vous je on ne pas plus se sont être avoir a ont comment quel quelle quels quelles
        quoi pourquoi quand où notre nos votre vos leur leurs avec sans mais ou donc faut peut""".split()),
    "de": frozenset("""der die das ein eine einen einem einer und ist in zu den dem des von mit für auf nicht
        sich es wir ihr sie ich du auch als an bei wie was wer wo warum wann welche welcher welches unsere unser
        ihre sind hat haben wird werden kann können muss müssen oder aber noch nach über um""".split()),
    "es": frozenset("""el la los las un una unos unas y es en de del que qué por para con se su sus al lo como
        cómo cuál cuáles cuándo dónde quién porque pero o no más nuestro nuestra nuestros son está están hay ser
        tiene tienen puede pueden debe deben""".split()),
    "it": frozenset("""il lo la i gli le un una uno e è di del della dei degli delle in che per con su al alla
        ai come cosa quale quali quando dove chi perché ma o non più nostro nostra nostri sono ha hanno essere
        può possono deve devono si""".split()),
}

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)


def fold(text: str) -> str:
    """Lowercase without accents, so `sécurité` and `securite` meet."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# French and Italian elide articles and prepositions into the next word (l'impact, dell'impatto); the word
# itself is what retrieval and the glossary need.
_ELISION = re.compile(r"\b(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu|dell|dall|nell|sull|all|coll|un|quest|quell)['’]",
                      re.IGNORECASE)


def words(text: str) -> list[str]:
    return _WORD.findall(_ELISION.sub(" ", text.lower()))


_local = threading.local()


def _stemmer(lang: str):
    # A Snowball stemmer keeps state between calls, so every thread (front doors answer concurrently) has its own.
    stemmers = _local.__dict__.setdefault("stemmers", {})
    if lang not in stemmers:
        stemmers[lang] = snowballstemmer.stemmer(_STEMMER_NAMES.get(lang, "english"))
    return stemmers[lang]


def _us_to_uk(word: str) -> str:
    return re.sub(r"iz(e|es|ed|ing|ation|ations)$", r"is\1", word)


@lru_cache(maxsize=100_000)
def _token(word: str, lang: str) -> str:
    # Stemming is most of the cost of tokenising, and a knowledge base reuses a few thousand words: remember them.
    return fold(_stemmer(lang).stemWord(_us_to_uk(word)))


def tokens(text: str, lang: str = "en") -> list[str]:
    """BM25 tokens: content words, British spelling, stemmed with the language's Snowball stemmer, folded."""
    stop = STOPWORDS.get(lang, STOPWORDS["en"]) | STOPWORDS["en"]
    return [_token(w, lang) for w in words(text) if w not in stop and (len(w) > 1 or w.isdigit())]


_ENDS_SENTENCE = re.compile(r"[.!?][\"”’)]*$")


def names(text: str) -> list[str]:
    """Capitalised words that do not open a sentence: in English and most of our languages, the names of places,
    people and organisations (German capitalises every noun; callers decide)."""
    split = text.split()
    return [w for prev, w in zip(["."] + split, split) if w[:1].isupper() and not _ENDS_SENTENCE.search(prev)]


def sentences(text: str, lang: str = "en") -> list[str]:
    """Sentences of a text (an answer, a passage); list items and lines stay separate."""
    return split_sentences(text, lang)
