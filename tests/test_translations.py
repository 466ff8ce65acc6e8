"""Answers in the asker's language from translations kept in the knowledge base, and translations kept in step
with the English: a real Chroma store on disk, the bundled model, files written by the test."""

from __future__ import annotations

import textwrap

import pytest

from ingest import pipeline
from ingest.loaders import load
from ingest.translations import section_hash
from tests.conftest import make_settings
from tests.test_attribution import FRONT

ENGLISH = FRONT.format(id="ottawa") + textwrap.dedent("""\
    ## Who led the gang strategy in Ottawa {#who-led}
    Crime Prevention Ottawa led the city's gang strategy as its backbone organisation [^cpo].
    The strategy was adopted in 2013 after a symposium in 2012 [^sun].

    ## What the strategy cost {#cost}
    The city funded the strategy from its crime prevention budget [^cpo].

    [^cpo]: Crime Prevention Ottawa, "About us", https://example.org/cpo/about, p. 2
    [^sun]: Ottawa Sun, 8 May 2013, https://example.org/sun
    """)


TRANSLATIONS = {
    "nl": ("Jeugdbendes in Ottawa", "Hoe Ottawa jeugdbendes aanpakte, voor de tests.",
           "Wie de bendestrategie in Ottawa leidde",
           "Crime Prevention Ottawa leidde de bendestrategie van de stad als backbone-organisatie [^cpo].\n"
           "De strategie werd in 2013 goedgekeurd na een symposium in 2012 [^sun].",
           "Wat de strategie kostte", "De stad financierde de strategie uit haar budget voor misdaadpreventie [^cpo]."),
    "fr": ("Les gangs de jeunes à Ottawa", "Comment Ottawa a agi contre les gangs de jeunes, pour les tests.",
           "Qui a dirigé la stratégie contre les gangs à Ottawa",
           "Crime Prevention Ottawa a dirigé la stratégie de la ville en tant qu'organisation de soutien [^cpo].\n"
           "La stratégie a été adoptée en 2013 après un symposium en 2012 [^sun].",
           "Ce que la stratégie a coûté", "La ville a financé la stratégie sur son budget de prévention [^cpo]."),
    "de": ("Jugendbanden in Ottawa", "Wie Ottawa gegen Jugendbanden vorging, für die Tests.",
           "Wer die Bandenstrategie in Ottawa leitete",
           "Crime Prevention Ottawa leitete die Bandenstrategie der Stadt als Backbone-Organisation [^cpo].\n"
           "Die Strategie wurde 2013 nach einem Symposium im Jahr 2012 beschlossen [^sun].",
           "Was die Strategie kostete", "Die Stadt finanzierte die Strategie aus ihrem Präventionshaushalt [^cpo]."),
}


def translation(language: str, who_led_hash: str, cost_hash: str) -> str:
    title, summary, led, led_text, cost, cost_text = TRANSLATIONS[language]
    return (f"---\ntranslation_of: ottawa.md\nlanguage: {language}\ntitle: {title}\nsummary: {summary}\n---\n"
            f"# {title}\n\n## {led} {{#who-led}}\nTranslated from: {who_led_hash}\n\n{led_text}\n\n"
            f"## {cost} {{#cost}}\nTranslated from: {cost_hash}\n\n{cost_text}\n")


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory):
    folder = tmp_path_factory.mktemp("translated") / "knowledge"
    folder.mkdir()
    (folder / "ottawa.md").write_text(ENGLISH)
    english = load(folder / "ottawa.md", folder)
    hashes = {b.anchor: section_hash(b) for b in english.blocks}
    for language in TRANSLATIONS:
        (folder / f"ottawa.{language}.md").write_text(translation(language, hashes["who-led"], hashes["cost"]))
    return folder


def test_current_translations_pass_check_and_a_missing_one_is_named_per_language(knowledge, tmp_path):
    import shutil

    assert pipeline.check(make_settings(knowledge, knowledge.parent / "store"))[1] == []
    folder = tmp_path / "knowledge"
    shutil.copytree(knowledge, folder)
    (folder / "ottawa.de.md").unlink()
    problems = pipeline.check(make_settings(folder, tmp_path / "store"))[1]
    assert [p.message for p in problems] == ["1 file(s) have no German translation: ottawa.md"]


def test_an_english_edit_makes_the_translation_stale_and_retranslating_clears_it(knowledge, tmp_path):
    import shutil

    folder = tmp_path / "knowledge"
    shutil.copytree(knowledge, folder)
    (folder / "ottawa.md").write_text(ENGLISH.replace("in 2013 after", "in May 2013 after"))
    _, problems = pipeline.check(make_settings(folder, tmp_path / "store"))
    assert sorted(p.path for p in problems) == ["ottawa.de.md", "ottawa.fr.md", "ottawa.nl.md"]
    for stale in problems:
        assert stale.severity == "warning" and stale.line == 9
        assert "“Who led the gang strategy in Ottawa” (ottawa.md, line 13) changed after it was translated" \
            in stale.message
    now = section_hash(next(b for b in load(folder / "ottawa.md", folder).blocks if b.anchor == "who-led"))
    assert f"set `Translated from: {now}`" in problems[0].fix
    for language in TRANSLATIONS:  # a colleague translates the change and records the new version
        path = folder / f"ottawa.{language}.md"
        old = path.read_text().split("Translated from: ")[1].split("\n")[0]
        path.write_text(path.read_text().replace(f"Translated from: {old}", f"Translated from: {now}")
                        .replace("2013", "mei 2013" if language == "nl" else "2013"))
    assert pipeline.check(make_settings(folder, tmp_path / "store"))[1] == []


@pytest.fixture(scope="module")
def translated_advisor(knowledge):
    from engine.advisor import Advisor

    # Two sections are too few for the abstention model's standing scores: these tests are about language.
    settings = make_settings(knowledge, knowledge.parent / "store", abstain_threshold=0.0)
    assert pipeline.ingest(settings).ok
    return Advisor(settings)


def test_a_dutch_question_is_answered_from_the_dutch_sections_with_the_english_sources(translated_advisor):
    answer = translated_advisor.ask("Wie leidde de aanpak van jeugdbendes in Ottawa?")
    assert answer.language == "nl" and not answer.abstained, answer.answer
    assert "Crime Prevention Ottawa leidde de bendestrategie" in answer.answer
    assert "led the city's gang strategy" not in answer.answer
    citation = answer.citations[0]
    assert (citation.title, citation.section) == ("Jeugdbendes in Ottawa", "Wie de bendestrategie in Ottawa leidde")
    assert citation.sources[0].url == "https://example.org/cpo/about"  # the original source, unchanged
    assert "nog niet vertaald" not in answer.answer


@pytest.mark.parametrize("question, language, words", [
    ("Qui dirigeait la stratégie contre les gangs à Ottawa ?", "fr", "a dirigé la stratégie de la ville"),
    ("Wer leitete die Strategie gegen Jugendbanden in Ottawa?", "de", "leitete die Bandenstrategie der Stadt"),
])
def test_french_and_german_questions_are_answered_in_their_language(translated_advisor, question, language, words):
    answer = translated_advisor.ask(question)
    assert answer.language == language and words in answer.answer, answer.answer


def test_a_spanish_question_is_answered_in_english_and_says_so(translated_advisor):
    answer = translated_advisor.ask("¿Quién dirigió la estrategia contra las pandillas en Ottawa?")
    assert answer.language == "es" and not answer.abstained, answer.answer
    assert "led the city's gang strategy" in answer.answer
    assert "aún no está traducida" in answer.answer


def test_an_english_question_stays_english(translated_advisor):
    answer = translated_advisor.ask("Who led the gang strategy in Ottawa?")
    assert "led the city's gang strategy" in answer.answer and "leidde" not in answer.answer


def test_a_dutch_abstention_lists_what_the_base_holds_by_its_dutch_titles(knowledge, translated_advisor):
    from engine.advisor import Advisor

    # The same store, with a threshold no question meets: every question is declined.
    declining = Advisor(make_settings(knowledge, knowledge.parent / "store", abstain_threshold=1.0),
                        index=translated_advisor.index, embedder=translated_advisor.embedder)
    answer = declining.ask("Wat kost een parkeervergunning in Mechelen?")
    assert answer.abstained and "Jeugdbendes in Ottawa" in answer.answer and "Youth gangs" not in answer.answer


def test_after_an_english_edit_answers_and_the_consultants_digest_say_the_translation_may_be_out_of_date(
        knowledge, tmp_path):
    import datetime as dt
    import shutil

    from digest.build import gaps_report, period_ending
    from digest.render import as_text
    from engine.advisor import Advisor
    from engine.question_log import QuestionLog

    folder = tmp_path / "knowledge"
    shutil.copytree(knowledge, folder)
    (folder / "ottawa.md").write_text(ENGLISH.replace("in 2013 after", "in May 2013 after"))
    settings = make_settings(folder, tmp_path / "store", abstain_threshold=0.0)
    assert pipeline.ingest(settings).ok
    advisor = Advisor(settings)
    answer = advisor.ask("Wie leidde de aanpak van jeugdbendes in Ottawa?")
    assert "leidde de bendestrategie" in answer.answer and "mogelijk verouderd" in answer.answer
    log = QuestionLog(f"sqlite:///{tmp_path / 'state.db'}", salt="test")
    report = gaps_report(log, advisor, period_ending(dt.datetime.now(dt.timezone.utc), "Europe/Brussels"), "en")
    assert report.stale_translations == ["ottawa.de.md — Wer die Bandenstrategie in Ottawa leitete",
                                         "ottawa.fr.md — Qui a dirigé la stratégie contre les gangs à Ottawa",
                                         "ottawa.nl.md — Wie de bendestrategie in Ottawa leidde"]
    assert "Translations to update" in as_text(report) and "ottawa.nl.md" in as_text(report)
