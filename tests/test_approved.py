"""Approved answers as consultants write them and officials receive them: the file type and what `advisor check`
says of it, and, on the shipped knowledge base with the bundled model, a differently worded question in another
language getting the approved answer, marked as approved, with its citations; a question it does not answer not
getting it; an answer past its review date not served."""

from __future__ import annotations

import datetime as dt
import textwrap

import numpy as np

from ingest import pipeline
from tests.conftest import make_settings

SECTION = textwrap.dedent("""\
    ---
    id: backbone
    title: Backbone organisation
    doc_type: model
    summary: What a backbone organisation does, for the tests.
    updated: 2026-11-25
    sources:
      - title: Test source
        url: https://example.org/backbone
    ---
    # Backbone organisation

    ## Role {#role}
    A backbone organisation coordinates the partners of a collective impact initiative [^paper].

    [^paper]: Backbone paper, https://example.org/backbone, p. 3
    """)


def approved(**fields: str) -> str:
    values = {"questions": '["Who coordinates the partners?", "Wie coördineert de partners?"]',
              "approved_by": "Jan Peeters", "approved_on": "2026-11-30", "review_by": "2027-05-31",
              "sections": "[backbone.md#role]", **fields}
    front = "".join(f"{k}: {v}\n" for k, v in values.items() if v)
    return ("---\nid: approved-coordination\ntitle: Who coordinates the partners?\ndoc_type: approved_answer\n"
            "summary: Approved answer on who coordinates the partners.\nupdated: 2026-11-30\n"
            f"sources:\n  - title: Test source\n    url: https://example.org/backbone\n{front}---\n"
            "# Who coordinates the partners?\n\nA dedicated backbone team coordinates the partners [^paper].\n\n"
            "[^paper]: Backbone paper, https://example.org/backbone, p. 3\n")


def problems_of(tmp_path, text: str, name: str = "answer.md"):
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir(exist_ok=True)
    (knowledge / "backbone.md").write_text(SECTION)
    (knowledge / name).write_text(text)
    docs, problems = pipeline.check(make_settings(knowledge, tmp_path / "store"))
    # Leave out the one-line notes on files not yet translated (every file of the test lacks translations).
    return {d.path for d in docs}, [p for p in problems if p.path == name and "translation:" not in p.message]


def test_a_valid_approved_answer_passes_check(tmp_path):
    docs, problems = problems_of(tmp_path, approved())
    assert "answer.md" in docs
    assert [p for p in problems if p.is_error] == []


def test_check_names_the_field_and_line_of_a_broken_approved_answer(tmp_path):
    _, problems = problems_of(tmp_path, approved(review_by=""))
    assert [(p.field, p.line, p.message) for p in problems] == [
        ("review_by", 2, "an approved answer needs review_by")]  # absent: reported where the front matter starts

    _, problems = problems_of(tmp_path, approved(review_by="2026-11-01"))
    assert [(p.field, p.message) for p in problems] == [
        ("review_by", "2026-11-01 must come after approved_on (2026-11-30)")]
    assert problems[0].line == 13  # the review_by line

    _, problems = problems_of(tmp_path, approved(questions='["Only one way to ask it?"]'))
    assert [p.field for p in problems] == ["questions"] and "at least two phrasings" in problems[0].message


def test_approval_fields_on_an_ordinary_file_are_refused(tmp_path):
    ordinary = SECTION.replace("updated: 2026-11-25\n", "updated: 2026-11-25\napproved_by: Jan Peeters\n")
    _, problems = problems_of(tmp_path, ordinary, name="other.md")
    assert [(p.field, p.message) for p in problems if p.is_error] == [
        ("approved_by", "only an approved answer (doc_type: approved_answer) has approved_by")]


def test_an_approved_answer_is_one_section(tmp_path):
    two = approved().replace("[^paper].\n\n", "[^paper].\n\n## More\n\nA second section [^paper].\n\n")
    _, problems = problems_of(tmp_path, two)
    assert len(problems) == 1 and "one section" in problems[0].message and problems[0].line is not None


def test_check_warns_of_unknown_sections_and_a_passed_review_date(tmp_path):
    _, problems = problems_of(tmp_path, approved(sections="[backbone.md#no-such-section]", approved_on="2025-01-01",
                                                 review_by="2025-06-30"))
    assert {(p.field, p.severity) for p in problems} == {("sections", "warning"), ("review_by", "warning")}
    assert any("no longer served" in p.message for p in problems)


# -- served to officials (the shipped knowledge base has approved answers in knowledge/answers/) ---------------


def test_a_differently_worded_question_in_another_language_gets_the_approved_answer(advisor):
    answer = advisor.ask("Welke organisatie moet bij ons alle partners aansturen en samenbrengen?")
    assert answer.composer == "approved" and not answer.abstained
    assert answer.approved_answer is not None
    assert answer.approved_answer.source == "answers/who-coordinates-the-partners.md"
    assert answer.answer.startswith(f"_Goedgekeurd door de consultants op {answer.approved_answer.approved_on}._")
    # The Dutch translation is quoted, cited first, then the knowledge base sections it is built on.
    assert answer.citations[0].source == "answers/who-coordinates-the-partners.nl.md"
    assert answer.citations[0].sources, "the approved answer's own sources are shown"
    assert {c.source for c in answer.citations[1:]} >= {"model/backbone-organisation.nl.md"}
    assert "[1]" in answer.answer and "[2]" in answer.answer


def test_a_question_the_approved_answer_does_not_answer_does_not_get_it(advisor):
    # Close in words to "how do we tell whether it is working", but asks for something else.
    answer = advisor.ask("How long does it take before a collective impact approach shows results?")
    assert answer.approved_answer is None and answer.composer == "extractive"
    assert answer.citations[0].section == "How long collective impact takes"


def test_an_approved_answer_past_its_review_date_is_not_served(advisor):
    vector = advisor.embedder.embed_query("Who should coordinate all the partners in our city?")
    vector = vector / np.linalg.norm(vector)
    served = advisor.index.approved.match(vector)
    assert served is not None
    review_by = served.answer.approval.review_by
    assert advisor.index.approved.match(vector, today=review_by + dt.timedelta(days=1)) is None
    assert served.answer in advisor.index.approved.expired(review_by + dt.timedelta(days=1))


def test_the_consultants_report_lists_approved_answers_past_their_review_date(tmp_path):
    from digest.build import gaps_report, period_ending
    from digest.render import as_text
    from engine.advisor import Advisor
    from engine.question_log import QuestionLog

    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "backbone.md").write_text(SECTION)
    (knowledge / "answer.md").write_text(approved(approved_on="2025-01-01", review_by="2025-06-30"))
    settings = make_settings(knowledge, tmp_path / "store")
    assert pipeline.ingest(settings).ok  # a passed review date is a warning: the file stays indexed
    advisor = Advisor(settings)
    assert advisor.ask("Who coordinates the partners?").approved_answer is None
    log = QuestionLog(f"sqlite:///{tmp_path / 'state.db'}", salt="test")
    report = gaps_report(log, advisor, period_ending(dt.datetime.now(dt.timezone.utc), "Europe/Brussels"), "en")
    assert report.expired_approved_answers == ["answer.md (review by 2025-06-30)"]
    assert "Approved answers past their review date" in as_text(report)
