"""The rule modules, string in and string out: sentence splitting, the language of a question, whether a question
continues the conversation or asks for contact details, and which knowledge-base sentences may stand in an
answer, and how the composer keeps an enumeration whole."""

from __future__ import annotations

import pytest

from engine import compose_extractive
from engine.abstention import asks_for_contact_details
from engine.conversation import is_follow_up
from engine.language import detect_language
from engine.models import Passage
from engine.text import tokens
from ingest.sentence_rules import enumeration_item, leans_on_previous, talks_about_knowledge_base
from ingest.sentences import split_sentences


@pytest.mark.parametrize("text, expected", [
    ("Kania and Kramer (2011, p. 36) define it. It has five conditions.",
     ["Kania and Kramer (2011, p. 36) define it.", "It has five conditions."]),
    ("Turner et al. studied six backbones. They found six activities.",
     ["Turner et al. studied six backbones.", "They found six activities."]),
    ("It cost $1.2 million in 2023. The U.S. Department of Justice paid.",
     ["It cost $1.2 million in 2023.", "The U.S. Department of Justice paid."]),
    ("- First item of a list\n- Second item. With two sentences.",
     ["First item of a list", "Second item.", "With two sentences."]),
])
def test_sentences_split_on_sentence_ends_only(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize("question, language", [
    ("Hoeveel kost zo'n organisatie ongeveer per jaar?", "nl"),  # was taken for Italian by function words alone
    ("¿Qué es una organización troncal?", "es"),
    ("Qui devrait jouer le rôle de backbone dans une ville belge ?", "fr"),
    ("Welche Rolle spielte Crime Prevention Ottawa bei der Bandenstrategie?", "de"),
    ("Che cosa ha ottenuto la riforma di New York?", "it"),
    ("What does a backbone organisation actually do day to day?", "en"),
    ("Wie viele Tötungsdelikte wurden 2023 in Belgien registriert?", "de"),
    ("Wie betaalde Operation: Safe Community in Memphis?", "nl"),  # English names in a Dutch question
    ("Qui a financé Operation: Safe Community ?", "fr"),
    ("How do I reset my Outlook password?", "en"),  # without its name, Lingua takes it for Italian
])
def test_language_of_a_question(question, language):
    assert detect_language(question) == language


def test_language_without_words_is_the_default():
    assert detect_language("?!", default="nl") == "nl"


@pytest.mark.parametrize("question, continues", [
    ("And who paid for it?", True),
    ("En wie betaalde dat?", True),
    ("Does that body still exist?", True),
    ("What is the backbone?", False),  # short, but a topic of its own
    ("How did Memphis organise its crime commission?", False),
])
def test_follow_up_markers(question, continues):
    assert is_follow_up(question) is continues


@pytest.mark.parametrize("sentence, leans", [
    ("They found six activities.", True),
    ("Because they come from European practice rather than the North American CI literature, they are useful.", True),
    ("The other four conditions follow from it.", True),
    ("However, the evidence is thin.", True),
    ("Secondly, fund the backbone.", True),
    ("A backbone organisation coordinates the partners.", False),
    ("Theory and practice diverge in Memphis.", False),  # "The…" is not "they"
    ("There are three preconditions for collective impact.", False),
    ("The three preconditions are a champion, money and urgency.", False),  # an opening, not a back-reference
    ("In their account the three together give people a reason to join.", True),
    ("A fourth is a foundation-led structure, as in Denmark.", True),
    ("A city could ask local foundations to fund the early phase in the same way.", True),
    ("The first Ottawa Gang Strategy was approved in May 2013.", False),
    ("The final Action Plan of the Partnership was published in 2020.", False),
    ("The third option is a foundation.", True),
])
def test_sentences_that_lean_on_the_one_before(sentence, leans):
    assert leans_on_previous(sentence) is leans


@pytest.mark.parametrize("sentence, place", [
    ("First, an existing advisory body can act as the convenor.", 1),
    ("A first option is a dedicated body inside local government.", 1),
    ("Secondly, fund the backbone.", 2),
    ("A third is a body at a higher level of government.", 3),
    ("Finally, report results with their period and baseline.", 11),  # after any numbered item
    ("Fifty people came to the summit.", None),
    ("The backbone coordinates the partners.", None),
])
def test_items_of_an_enumeration(sentence, place):
    assert enumeration_item(sentence) == place


@pytest.mark.parametrize("sentence, editorial", [
    ("The report's own description of the backbone organisation could not be read.", True),
    ("For the full list, see the document \"ci-evolution\".", True),
    ("Everything in this document about the backbone comes from the FSG study.", True),
    ("Officials can check these pages in the PDF.", True),
    ("The practices below come from other publications, not from the report.", True),
    ('For readiness checks, the document "preconditions-and-phases" has more.', True),
    ("This list comes from the essay; the full article could be read only in part.", True),
    ("For the report's own advice, read pages 26 to 28 of the PDF.", True),
    ("Violent crime fell below its 2006 level.", False),
    ("FSG says CI can produce impact at scale; that statement is theirs and was not checked here.", True),
    ("The six backbone activities come from a study by FSG.", False),
    ("Homicides fell by 20.2% between 2006 and 2011.", False),
])
def test_notes_about_the_knowledge_base_are_not_advice(sentence, editorial):
    assert talks_about_knowledge_base(sentence) is editorial


@pytest.mark.parametrize("question, contact", [
    ("Quelle est l'adresse e-mail de la personne de l'Efus qui coordonne le partenariat ?", True),
    ("What is the phone number of Crime Prevention Ottawa?", True),
    ("Wat zijn de openingsuren van de preventiedienst in Mechelen?", True),
    ("Wie lautet die Telefonnummer der Koordinierungsstelle?", True),
    ("How do we address youth gangs around the station?", False),  # the verb, not a street address
    ("Who coordinates the Partnership on Security in Public Spaces?", False),
    ("How did the partners keep in contact between meetings?", False),
])
def test_questions_for_contact_details(question, contact):
    assert asks_for_contact_details(question) is contact


class _Idf:
    """What the composer needs of the index: word weights (all equal here)."""

    @staticmethod
    def idf(token: str) -> float:
        return 1.0


def _section(*lines: str) -> Passage:
    return Passage(id="s", text="\n".join(lines), doc_id="d", source="cases/x.md", title="X", section="Lessons",
                   url="https://example.org", doc_type="case_study")


def test_an_enumeration_item_comes_with_the_items_before_it():
    # A long section, so the composer picks sentences rather than quoting it whole.
    filler = [f"Filler sentence number {i} talks about something unrelated to the matter at hand today." for i in range(12)]
    section = _section(
        "The case offers several lessons for a European city.",
        *filler,
        "First, an advisory body can act as the convenor.",
        "Second, private foundations paid for the strategy work.",
        "A city could ask local foundations to fund the early phase in the same way.",
        "Third, a shared vision joins youth success with public safety and brings levels of government together.",
    )
    chosen = compose_extractive.select(_Idf(), "how to bring levels of government together", [section], [1.0],
                                       tokens("how to bring levels of government together"))
    said = [s.text for s in chosen.direct]
    assert said[0] == "The case offers several lessons for a European city."
    assert said[-4:] == section.text.split("\n")[-4:]  # "Third" with everything back to "First"


TOPICS = set(tokens("backbone funding data period police budget partners Partner Finanzierung"))
TOPICS |= set(tokens("Finanzierung Partner", "de"))


@pytest.mark.parametrize("question, language, words", [
    ("What is the GDPR retention period for police data?", "en", ["period", "police", "data"]),
    ("How did Ottawa fund its backbone?", "en", ["fund", "backbone"]),  # "Ottawa": a name of the knowledge base
    ("Can Jan Peeters tell us about the backbone budget for 2024?", "en", ["backbone", "budget"]),
    ("Wie regelt die Finanzierung der Partner in Hamburg?", "de", ["finanzierung", "partner"]),  # German nouns
    ("What's the capital of Australia?", "en", []),
])
def test_topic_words_are_the_knowledge_bases_words_without_names_or_numbers(question, language, words):
    from engine.topics import topic_words

    assert topic_words(question, language, TOPICS, known_names={"ottawa", "hamburg"}) == words


def test_names_are_words_the_knowledge_base_capitalises_inside_sentences():
    from engine.topics import names_in

    texts = ["The strategy in Ottawa was led by Crime Prevention Ottawa.", "Its impact on crime was small.",
             "In Ottawa the Collective Impact Forum met; the impact was collective."]
    assert names_in(texts) == {"ottawa", "prevent", "forum"}  # "impact", "crime", "collective" are mostly lower case


def test_a_section_continuing_a_definition_does_not_define_the_term_again():
    glossary = _section("A common agenda is a shared definition of the problem and a joint approach to it.")
    section = Passage(id="t", text="\n".join([
        "A common agenda means that all partners settle on one understanding of the problem and one approach.",
        "In the security cases this agreement was built step by step over several years of meetings.",
        "The Danish Bo trygt partnership shows that framing decides which partners join the collaboration.",
    ]), doc_id="m", source="model/x.md", title="Model", section="Common agenda", url="https://example.org",
        doc_type="model")
    chosen = compose_extractive.select(_Idf(), "what is a common agenda", [glossary, section], [1.0, 0.9],
                                       tokens("what is a common agenda"))
    said = [s.text for s in chosen.direct]
    assert said[0].startswith("A common agenda is") and not any(s.startswith("A common agenda means") for s in said)
    assert "In the security cases this agreement was built step by step over several years of meetings." in said
