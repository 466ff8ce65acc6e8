"""Ingest and start-up figures, each the median of several runs in fresh processes (as a user meets them):

- full ingest of `knowledge/` into an empty store (the `advisor ingest` command, model load included);
- a no-change re-ingest (target: under 1.5 s, without loading the model);
- a generated PDF (300 pages by default): pages per second and peak memory, for one or several embedding batch
  sizes in one run (`--batches 16,32,64`; the batch size matters for sentence-transformers models);
- `advisor ask` from a cold start.

Run: python benchmarks/ingest_bench.py [--runs 3] [--pages 300] [--batches 16]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
ADVISOR = shutil.which("advisor", path=str(Path(sys.executable).parent)) or "advisor"

PDF_RUN = """
import json, resource, sys, time
from pathlib import Path
from ingest.pipeline import ingest
from advisor.settings import Settings
s = Settings(_env_file=None, knowledge_dir=Path(sys.argv[1]), store_dir=Path(sys.argv[2]), embedding_batch_size=int(sys.argv[3]))
t = time.perf_counter(); report = ingest(s); seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "chunks": report.chunks,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=PROJECT)
    return time.perf_counter() - start


def env_for(knowledge: Path, store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_")}
    return env | {"ADVISOR_KNOWLEDGE_DIR": str(knowledge), "ADVISOR_STORE_DIR": str(store), "HF_HUB_OFFLINE": "1"}


def make_pdf(folder: Path, pages: int) -> None:
    from fpdf import FPDF

    sentences = [
        "The backbone organisation convenes partners, tracks shared measures and keeps the common agenda alive.",
        "City officials in {n} districts reported fewer incidents of drug nuisance after joint patrols and outreach.",
        "Youth workers, police and schools met every month to align their activities around one set of indicators.",
        "Residents took part in neighbourhood meetings where the partnership presented data on safety and cohesion.",
    ]
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for n in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, " ".join(s.format(n=n) for s in sentences * 4))
    pdf.output(str(folder / "generated.pdf"))
    (folder / "generated.pdf.yaml").write_text(
        f"id: generated\ntitle: Generated report\ndoc_type: report\nsummary: A generated {pages}-page report.\n"
        "updated: 2026-11-25\nsources:\n  - title: Generated\n    url: https://example.org/generated.pdf\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--batches", default="16", help="comma-separated embedding batch sizes for the PDF run")
    args = parser.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        knowledge = PROJECT / "knowledge"

        full, nochange, cold = [], [], []
        for run in range(args.runs):
            store = tmp_path / f"store-{run}"
            env = env_for(knowledge, store)
            full.append(timed([ADVISOR, "ingest"], env))
            nochange.append(timed([ADVISOR, "ingest"], env))
            cold.append(timed([ADVISOR, "ask", "What does a backbone organisation do?"], env))
        results["full_ingest_s"] = statistics.median(full)
        results["no_change_ingest_s"] = statistics.median(nochange)
        results["ask_cold_start_s"] = statistics.median(cold)

        pdf_dir = tmp_path / "pdf"
        pdf_dir.mkdir()
        make_pdf(pdf_dir, args.pages)
        batches = [int(b) for b in args.batches.split(",")]
        for batch in batches:
            runs = []
            for run in range(args.runs):
                out = subprocess.run([sys.executable, "-c", PDF_RUN, str(pdf_dir), str(tmp_path / f"pdf-{batch}-{run}"),
                                      str(batch)], check=True, capture_output=True, text=True, cwd=PROJECT).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
            results[f"pdf_batch_{batch}"] = {
                "pages_per_s": round(args.pages / statistics.median(r["seconds"] for r in runs), 1),
                "seconds": round(statistics.median(r["seconds"] for r in runs), 2),
                "chunks": runs[0]["chunks"],
                "peak_mib": round(statistics.median(r["peak_mib"] for r in runs)),
            }
    print(f"Medians of {args.runs} runs each ({os.cpu_count()} cores):")
    print(f"  full ingest of knowledge/ (advisor ingest, fresh store): {results['full_ingest_s']:.2f} s")
    print(f"  no-change re-ingest:                                     {results['no_change_ingest_s']:.2f} s")
    print(f"  advisor ask, cold start:                                 {results['ask_cold_start_s']:.2f} s")
    for batch in batches:
        r = results[f"pdf_batch_{batch}"]
        print(f"  {args.pages}-page PDF, batch {batch:>2}: {r['pages_per_s']:6.1f} pages/s ({r['seconds']} s, "
              f"{r['chunks']} chunks, peak {r['peak_mib']} MiB)")


if __name__ == "__main__":
    main()
