"""Rules on single sentences of the knowledge base, deciding what may stand in an answer. String in, verdict out.

- A sentence that leans on the one before it ("They …", "Because they come from …", "The other four …", "A fourth
  is …", "… in the same way") may only follow that sentence; alone it reads as nonsense.
- An item of an enumeration ("Second, …", "A third option is …", "Finally, …") may only follow the items before
  it, back to the first: "Third, …" after an unrelated sentence reads as a list with its head cut off.
- A sentence that talks about the knowledge base or its own reading of a source ("could not be read", "see the
  document x", "this document") is a note for consultants, not advice, and never reaches an official.
"""

from __future__ import annotations

import re

_LEANING = re.compile(
    r"^(?:because\s+(?:they|it|this|these|those)\b|"
    r"(?:they|them|it|its|this|these|those|such|he|she|his|her|their|theirs|both|neither|either|here|thus|hence|"
    r"however|instead|moreover|furthermore|likewise|similarly|otherwise|still|yet|also|besides|meanwhile|later|"
    r"then|therefore|accordingly|consequently|nevertheless|nonetheless|second|secondly|third|thirdly|fourth|"
    r"fifth|finally|lastly|next)\b|"
    r"the\s+(?:other|same|latter|former|remaining|rest)\b|"
    r"(?:these|those)\s+(?:other|same|two|three|four|five|six|latter|former|remaining|rest)\b|"
    r"(?:in|for|of|by|with|from|to|on|at|like|unlike|under|after|before)\s+(?:their|its|his|her|this|these|those|that|such|them|it)\b|"
    r"(?:in addition|as a result|for this reason|for that reason|on the other hand|by contrast|in contrast|"
    r"at the same time|in the same way|in turn|even so|after that|that is why|this is why)\b|"
    # "A fourth is …", "The third option …"; not "The second plan (2012–2016) …", a name of its own.
    r"an?\s+(?:second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|final)\b|"
    r"the\s+(?:second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|final)\s+"
    r"(?:is|was|one|option|step|stage|point|lesson|reason)\b|"
    # "… in the same way" at the end points back as surely as at the start.
    r".*\b(?:in the same way|likewise|the same applies)\W*$)",
    re.IGNORECASE,
)
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
_ENUMERATION_ITEM = re.compile(
    rf"^(?:(?:an?|the)\s+)?({'|'.join(_ORDINALS)}|firstly|secondly|thirdly|finally|lastly)\b", re.IGNORECASE)
_ABOUT_KNOWLEDGE_BASE = re.compile(
    r"\b(?:could not be (?:read|opened|consulted|accessed)|not readable|"
    r"knowledge base|this (?:advisor|document|section|file|page|overview)|the advisor(?:'s)?\b|"
    r"see the document|the document [\"“][\w-]+[\"”]|(?:other|these) documents|officials can check|"
    r"could (?:only )?be read|read only in part|(?:not|never) (?:checked|verified|read) here|"
    r"(?:below|above)[.,;:)]|see (?:below|above)|"
    r"\b(?:sections?|practices|documents?|files?|lists?|tables?|parts?|chapters?|pages?)\s+(?:below|above)\b|"
    r"(?:in|of) the pdf\b)",
    re.IGNORECASE,
)


def leans_on_previous(sentence: str) -> bool:
    """Whether the sentence needs the one before it to make sense."""
    return _LEANING.match(sentence.lstrip("\"“‘'(*_ ")) is not None


def enumeration_item(sentence: str) -> int | None:
    """The place of a sentence in an enumeration it opens or continues: 1 for "First, …" or "A first option …",
    2 for "Second, …", and so on; "Finally, …" counts as later than any. None for any other sentence."""
    match = _ENUMERATION_ITEM.match(sentence.lstrip("\"“‘'(*_ "))
    if match is None:
        return None
    word = match.group(1).lower().removesuffix("ly")
    return _ORDINALS.index(word) + 1 if word in _ORDINALS else len(_ORDINALS) + 1


def talks_about_knowledge_base(sentence: str) -> bool:
    """Whether the sentence is an editorial note about the knowledge base rather than advice."""
    return _ABOUT_KNOWLEDGE_BASE.search(sentence) is not None
