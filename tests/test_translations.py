"""Answers in the asker's language from translations kept in the knowledge base, and translations kept in step
with the English: a real Chroma store on disk, the bundled model, files written by the test."""

from __future__ import annotations

import textwrap

import pytest

from ingest import pipeline
from ingest.loaders import load
from ingest.translations import section_hash
from tests.conftest import make_settings

ENGLISH = textwrap.dedent("""\
    ---
    id: ottawa
    title: Youth gangs in Ottawa
    doc_type: case_study
    summary: How Ottawa worked on youth gangs, for the tests.
    updated: 2026-11-25
    sources:
      - title: Ottawa strategy
        url: https://example.org/strategy
    ---
    # Youth gangs in Ottawa

    ## Who led the gang strategy in Ottawa {#who-led}
    Crime Prevention Ottawa led the city's gang strategy as its backbone organisation [^cpo].
    The strategy was adopted in 2013 after a symposium in 2012 [^sun].

    ## What the strategy cost {#cost}
    The city funded the strategy from its crime prevention budget [^cpo].

    [^cpo]: Crime Prevention Ottawa, "About us", https://example.org/cpo/about, p. 2
    [^sun]: Ottawa Sun, 8 May 2013, https://example.org/sun
    """)


def dutch(who_led_hash: str, cost_hash: str) -> str:
    return textwrap.dedent(f"""\
        ---
        translation_of: ottawa.md
        language: nl
        title: Jeugdbendes in Ottawa
        summary: Hoe Ottawa jeugdbendes aanpakte, voor de tests.
        ---
        # Jeugdbendes in Ottawa

        ## Wie de bendestrategie in Ottawa leidde {{#who-led}}
        Translated from: {who_led_hash}

        Crime Prevention Ottawa leidde de bendestrategie van de stad als backbone-organisatie [^cpo].
        De strategie werd in 2013 goedgekeurd na een symposium in 2012 [^sun].

        ## Wat de strategie kostte {{#cost}}
        Translated from: {cost_hash}

        De stad financierde de strategie uit haar budget voor misdaadpreventie [^cpo].
        """)


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory):
    folder = tmp_path_factory.mktemp("translated") / "knowledge"
    folder.mkdir()
    (folder / "ottawa.md").write_text(ENGLISH)
    english = load(folder / "ottawa.md", folder)
    hashes = {b.anchor: section_hash(b) for b in english.blocks}
    (folder / "ottawa.nl.md").write_text(dutch(hashes["who-led"], hashes["cost"]))
    return folder


def test_a_current_translation_passes_check_and_others_are_named_per_language(knowledge):
    _, problems = pipeline.check(make_settings(knowledge, knowledge.parent / "store"))
    messages = [p.message for p in problems]
    assert not [m for m in messages if "Dutch" in m or "ottawa.nl.md" in m]
    assert "1 file(s) have no French translation: ottawa.md" in messages
    assert "1 file(s) have no German translation: ottawa.md" in messages


def test_an_english_edit_makes_the_translation_stale_and_retranslating_clears_it(knowledge, tmp_path):
    import shutil

    folder = tmp_path / "knowledge"
    shutil.copytree(knowledge, folder)
    (folder / "ottawa.md").write_text(ENGLISH.replace("in 2013 after", "in May 2013 after"))
    _, problems = pipeline.check(make_settings(folder, tmp_path / "store"))
    stale = [p for p in problems if p.path == "ottawa.nl.md"]
    assert len(stale) == 1 and stale[0].severity == "warning" and stale[0].line == 9
    assert "“Who led the gang strategy in Ottawa” (ottawa.md, line 13) changed after it was translated" in stale[0].message
    now = section_hash(next(b for b in load(folder / "ottawa.md", folder).blocks if b.anchor == "who-led"))
    assert f"set `Translated from: {now}`" in stale[0].fix
    translated = (folder / "ottawa.nl.md").read_text()
    old = translated.split("Translated from: ")[1].split("\n")[0]
    (folder / "ottawa.nl.md").write_text(translated.replace(f"Translated from: {old}", f"Translated from: {now}")
                                         .replace("in 2013 goedgekeurd", "in mei 2013 goedgekeurd"))
    _, problems = pipeline.check(make_settings(folder, tmp_path / "store"))
    assert not [p for p in problems if p.path == "ottawa.nl.md"]


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


def test_a_french_question_without_a_translation_is_answered_in_english_and_says_so(translated_advisor):
    answer = translated_advisor.ask("Qui dirigeait la stratégie contre les gangs à Ottawa ?")
    assert answer.language == "fr" and not answer.abstained, answer.answer
    assert "led the city's gang strategy" in answer.answer
    assert "pas encore traduite" in answer.answer


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
