"""Report and PACS-object rendering time in a warm process (kaleido's Chromium already started).

    .venv/bin/python benchmarks/report_render.py                       # the bundled example, 10 repetitions
    .venv/bin/python benchmarks/report_render.py FILE --masks LABELS --repeat 20

The image is analysed once; then each output is produced ``--repeat`` times and the median and the worst
time are printed: the PDF report (page built and printed), the HTML report, the annotated image of the
Secondary Capture, the three DICOM objects (built and written), and everything ``dxr analyze --report
pdf,html,dicom`` writes after the analysis. The first render, which starts Chromium, is printed apart.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dxr.analysis.intake import read_dicom_header
from dxr.serving.dicom_outputs import write_dicom_outputs
from dxr.serving.outputs import REPORT_FORMATS, write_outputs
from dxr.serving.pipeline import AnalysisRequest, Pipeline
from dxr.serving.report import annotated_image, report_html, report_pdf

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def timed(name: str, action: Callable[[], object], repeat: int) -> None:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    print(f"{name:<44} median {statistics.median(seconds):6.3f} s   worst {max(seconds):6.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(EXAMPLES / "phantom_hand.dcm"))
    parser.add_argument("--masks", default=None, help="label map (default: the example's, or the network)")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    masks = args.masks or (
        str(EXAMPLES / "phantom_hand_labels.png") if args.file.endswith("phantom_hand.dcm") else None
    )
    segmenter = None
    if masks is None:
        from dxr.models.runtime import Segmenter

        segmenter = Segmenter()
    pipeline = Pipeline.load(segmenter=segmenter)
    result = pipeline.analyze(args.file, masks, AnalysisRequest())
    document, pixels = result.document, result.radiograph.pixels
    print(f"{args.file}: {pixels.shape[1]} x {pixels.shape[0]} px, status {document['status']}, {args.repeat} runs")
    started = time.perf_counter()
    pdf = report_pdf(document, tables=pipeline.tables, pixels=pixels)
    print(f"{'first PDF (starts Chromium)':<44} {time.perf_counter() - started:13.3f} s")
    source = read_dicom_header(args.file)
    rgb = annotated_image(document, pixels)
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory)
        timed(
            "PDF report (build + print)",
            lambda: report_pdf(document, tables=pipeline.tables, pixels=pixels),
            args.repeat,
        )
        timed("HTML report", lambda: report_html(document, tables=pipeline.tables, pixels=pixels), args.repeat)
        timed("annotated image (Secondary Capture pixels)", lambda: annotated_image(document, pixels), args.repeat)
        timed(
            "DICOM SR + SC + PDF objects, built and written",
            lambda: write_dicom_outputs(document, source, out, "bench", rgb=rgb, pdf=pdf),
            args.repeat,
        )
        timed(
            "all outputs (JSON, PDF, HTML, DICOM)",
            lambda: write_outputs(result, args.file, out, formats=REPORT_FORMATS, tables=pipeline.tables),
            args.repeat,
        )


if __name__ == "__main__":
    main()
