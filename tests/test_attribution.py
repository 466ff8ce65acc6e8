"""Every claim to its own source: footnote references in knowledge Markdown, the attribution lint of
`advisor check`, the `sources` of each citation in the JSON contract, and what the front doors show of them.
Real parts: files written by the test, a Chroma store on disk, the bundled model."""

from __future__ import annotations

import textwrap

import pytest

from engine.models import Answer, Citation, CitedSource, Timings
from ingest import pipeline
from ingest.footnotes import parse_source, references
from tests.conftest import make_settings


@pytest.mark.parametrize("sentence, text, keys", [
    ("The rate fell by 20.2% [^mscc-h].", "The rate fell by 20.2%.", ["mscc-h"]),
    ("Launched in 2006 [^yg-about][^mscc-h].", "Launched in 2006.", ["yg-about", "mscc-h"]),
    ("A list item without a full stop [^rpt-p17]", "A list item without a full stop", ["rpt-p17"]),
    ("For a city, the practical reading is simple [^advisor].", "For a city, the practical reading is simple.",
     ["advisor"]),
    ("No reference at all.", "No reference at all.", []),
])
def test_footnote_references_leave_the_sentence_clean(sentence, text, keys):
    assert references(sentence) == (text, keys)


@pytest.mark.parametrize("definition, title, url, page", [
    ('Memphis Shelby Crime Commission, "History", https://memphiscrime.org/history/, p. 3',
     'Memphis Shelby Crime Commission, "History"', "https://memphiscrime.org/history/", "p. 3"),
    ("Ecorys (2021), The Collective Impact model, https://example.org/report.pdf, pp. 17-19",
     "Ecorys (2021), The Collective Impact model", "https://example.org/report.pdf", "pp. 17-19"),
    ("FSG blog, https://www.fsg.org/blog/x/.", "FSG blog", "https://www.fsg.org/blog/x/", None),
    ("Printed annual report 2019, p. 12", "Printed annual report 2019", None, "p. 12"),
])
def test_footnote_definition_gives_title_link_and_page(definition, title, url, page):
    source = parse_source(definition)
    assert (source.title, source.url, source.page) == (title, url, page)


FRONT = """\
---
id: {id}
title: Youth gangs in Ottawa
doc_type: case_study
summary: How Ottawa worked on youth gangs, for the tests.
updated: 2026-11-25
sources:
  - title: Ottawa strategy
    url: https://example.org/strategy
---
# Youth gangs in Ottawa

"""

SOURCED = FRONT.format(id="ottawa") + textwrap.dedent("""\
    ## Who led the gang strategy in Ottawa
    Crime Prevention Ottawa led the city's gang strategy as its backbone organisation [^cpo].
    The strategy was adopted in 2013 after a symposium in 2012 [^sun].
    For a European city, the lesson is to give one body the mandate to coordinate [^advisor].

    Editor's note: the 2012 symposium report was not read for this file.
    Questions: Who coordinated Ottawa's gang strategy?

    [^cpo]: Crime Prevention Ottawa, "About us", https://example.org/cpo/about, p. 2
    [^sun]: Ottawa Sun, 8 May 2013, https://example.org/sun
    """)


def write(folder, name: str, text: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_a_well_sourced_file_passes_the_lint(tmp_path):
    write(tmp_path / "knowledge", "ottawa.md", SOURCED)
    docs, problems = pipeline.check(make_settings(tmp_path / "knowledge", tmp_path / "store"))
    assert problems == []
    assert docs[0].blocks[0].note == "the 2012 symposium report was not read for this file."
    assert "not read" not in docs[0].blocks[0].text  # the note is for consultants, never quoted


LINT_CASES = [
    # (text after the heading, line of the problem, words of the message, severity)
    ("Ottawa adopted its strategy in 2013.\n", 14, "no source for “Ottawa adopted its strategy in 2013.”", "error"),
    ("Ottawa adopted it in 2013 [^sun].\n\n[^sun]: Ottawa Sun\n", 16, "neither a link nor a page", "error"),
    ("Ottawa adopted it in 2013 [^sun].\n", 14, "[^sun] is used but not defined", "error"),
    ("Ottawa adopted it in 2013 [^cpo].\n\n[^cpo]: CPO, https://example.org/cpo\n[^old]: Old, https://example.org/o\n",
     17, "[^old] is defined but never used", "error"),
    ("They adopted it in 2013 [^cpo].\n\n[^cpo]: CPO, https://example.org/cpo\n", 14, "leans on text before it",
     "warning"),
    ("Ottawa adopted it in 2013 [^cpo]. The report's own chapter could not be read [^cpo].\n\n"
     "[^cpo]: CPO, https://example.org/cpo\n", 14, "is a note about the knowledge base", "warning"),
    (" ".join(["Ottawa adopted its gang strategy in May 2013 after years of joint work [^cpo]."] * 30)
     + "\n\n[^cpo]: CPO, https://example.org/cpo\n", 14, "the section has 390 words", "warning"),
]


@pytest.mark.parametrize("body, line, message, severity", LINT_CASES)
def test_the_lint_names_file_line_and_what_to_do(tmp_path, body, line, message, severity):
    write(tmp_path / "knowledge", "case.md", FRONT.format(id="case") + "## Ottawa\n" + body)
    _, problems = pipeline.check(make_settings(tmp_path / "knowledge", tmp_path / "store"))
    found = [p for p in problems if message in p.message]
    assert found, [str(p) for p in problems]
    assert (found[0].path, found[0].line, found[0].severity) == ("case.md", line, severity)
    assert found[0].fix


@pytest.fixture(scope="module")
def sourced_advisor(tmp_path_factory):
    from engine.advisor import Advisor

    root = tmp_path_factory.mktemp("sourced")
    write(root / "knowledge", "ottawa.md", SOURCED)
    settings = make_settings(root / "knowledge", root / "store")
    assert pipeline.ingest(settings).ok
    return Advisor(settings)


def test_a_citation_lists_the_sources_of_the_sentences_it_quotes(sourced_advisor):
    answer = sourced_advisor.ask("Who coordinated the gang strategy in Ottawa?")
    assert not answer.abstained, answer.answer
    citation = answer.citations[0]
    assert [s.url for s in citation.sources] == ["https://example.org/cpo/about", "https://example.org/sun"]
    assert citation.sources[0].page == "p. 2"
    assert citation.url == "https://example.org/cpo/about"  # the first of them, for older clients
    assert citation.reading  # the last sentence is the knowledge base's own reading
    assert "[^" not in answer.answer and "not read" not in answer.answer
    payload = answer.model_dump(mode="json")["citations"][0]
    assert payload["sources"][1] == {"title": "Ottawa Sun, 8 May 2013", "url": "https://example.org/sun", "page": None}


def _answer(citation: Citation) -> Answer:
    return Answer(question="Who led?", language="en", answer="Crime Prevention Ottawa led [1].", abstained=False,
                  citations=[citation], retrieved=[], timings_ms=Timings(retrieve=1, compose=1, total=2))


CITED = Citation(n=1, source="cases/ottawa.md", title="Youth gangs in Ottawa", section="Who led",
                 url="https://example.org/cpo/about", score=1.0, reading=True,
                 sources=[CitedSource(title="Crime Prevention Ottawa, About us", url="https://example.org/cpo/about",
                                      page="p. 2"),
                          CitedSource(title="Ottawa Sun", url="https://example.org/sun")])


def test_front_doors_show_those_sources_and_only_those():
    from rich.console import Console

    from bot.slack.blocks import answer_message
    from bot.teams.cards import source_line
    from bot.terminal import render
    from engine.messages import labels

    slack = str(answer_message(_answer(CITED), consultant=False, share=False).blocks)
    assert "<https://example.org/cpo/about|Crime Prevention Ottawa, About us>, p. 2" in slack
    assert "<https://example.org/sun|Ottawa Sun>" in slack and "our reading of the sources" in slack
    assert "example.org/strategy" not in slack  # the document's first bibliography entry is not shown
    teams = source_line(CITED, labels("en")["our_reading"])
    assert "[Crime Prevention Ottawa, About us](https://example.org/cpo/about), p. 2; [Ottawa Sun](https://example.org/sun)" in teams
    console = Console(width=200, record=True)
    console.print(render(_answer(CITED)))
    text = console.export_text()
    assert "Crime Prevention Ottawa, About us, p. 2" in text and "https://example.org/sun" in text


# -- the consultant's command line ------------------------------------------------------------------------------


@pytest.fixture
def sourced_cli(tmp_path, monkeypatch):
    from advisor.settings import get_settings

    write(tmp_path / "knowledge", "ottawa.md", SOURCED)
    monkeypatch.setenv("ADVISOR_KNOWLEDGE_DIR", str(tmp_path / "knowledge"))
    monkeypatch.setenv("ADVISOR_STORE_DIR", str(tmp_path / "store"))
    get_settings.cache_clear()
    yield tmp_path / "knowledge"
    get_settings.cache_clear()


def test_sources_scripts_well_as_json_and_when_piped(sourced_cli):
    import json

    from click.testing import CliRunner

    from advisor.cli import main

    assert CliRunner().invoke(main, ["ingest"]).exit_code == 0
    listed = json.loads(CliRunner().invoke(main, ["sources", "--json"]).output)
    assert listed == [{"id": "ottawa", "title": "Youth gangs in Ottawa", "type": "case_study", "updated": "2026-11-25",
                       "chunks": listed[0]["chunks"], "file": "ottawa.md"}]
    piped = CliRunner().invoke(main, ["sources"]).output  # CliRunner's output is not a terminal
    assert piped.splitlines() == [f"ottawa\tYouth gangs in Ottawa\tcase_study\t2026-11-25\t{listed[0]['chunks']}\tottawa.md"]


def test_unsupported_files_are_reported_not_ignored_and_ask_says_so_in_one_line(sourced_cli):
    from click.testing import CliRunner

    from advisor.cli import main

    (sourced_cli / "notes.txt").write_text("Minutes of the steering group.")
    (sourced_cli / "plan.odt").write_bytes(b"PK\x03\x04")
    checked = CliRunner().invoke(main, ["check"])
    assert "notes.txt: warning: skipped: .txt is not a format the advisor reads" in checked.output
    assert "plan.odt: warning: skipped: .odt" in checked.output and "convert it to .md, .pdf or .docx" in checked.output
    ingested = CliRunner().invoke(main, ["ingest"])
    assert "notes.txt" in ingested.output and ingested.exit_code == 0
    (sourced_cli / "broken.md").write_text(SOURCED.replace("doc_type: case_study", "doc_type: casestudy"))
    asked = CliRunner().invoke(main, ["ask", "Who coordinated the gang strategy in Ottawa?"])
    assert asked.exit_code == 0
    notices = [line for line in asked.output.splitlines() if "knowledge file" in line]
    assert notices == ["3 knowledge file(s) have problems; answering from what is indexed. Run `advisor check` for "
                       "details."]
    assert "casestudy" not in asked.output


def test_a_pdf_heading_stays_apart_from_the_first_sentence():
    from ingest.loaders import _clean_pdf_text
    from ingest.sentences import split_sentences

    page = ("2.2 Key concepts and terms\nThe backbone organisation coordinates the part-\nners of the initiative and "
            "keeps them\naligned. It has six activities.")
    assert split_sentences(_clean_pdf_text(page)) == [
        "2.2 Key concepts and terms", "The backbone organisation coordinates the partners of the initiative and keeps "
        "them aligned.", "It has six activities."]


def test_the_same_claim_with_two_figures_in_two_files_is_flagged_unless_a_section_says_they_differ(tmp_path):
    claim = "The New York rearrest rate for young people leaving state custody was {} within two years [^ny]."
    definition = "\n\n[^ny]: FSG, https://example.org/ny\n"
    write(tmp_path / "knowledge", "case.md", FRONT.format(id="case") + "## New York\n" + claim.format("60%") + definition)
    write(tmp_path / "knowledge", "figures.md", FRONT.format(id="figures") + "## Figures\n" + claim.format("66%")
          + definition)
    settings = make_settings(tmp_path / "knowledge", tmp_path / "store")
    found = [p for p in pipeline.check(settings)[1] if "for what reads as the same claim" in p.message]
    assert len(found) == 1 and found[0].severity == "warning" and found[0].line == 13
    assert "gives 60 where figures.md (line 13) gives 66" in found[0].message
    write(tmp_path / "knowledge", "figures.md", FRONT.format(id="figures") + "## Figures\n" + claim.format("66%")
          + " The two sources disagree on this figure [^advisor]." + definition)
    assert not [p for p in pipeline.check(settings)[1] if "for what reads as the same claim" in p.message]
