"""The names of an experiment directory's files: one definition for everything that writes or
reads them (the runner, resume, status, analysis, the web UI, the pytest plugin).

``{output_directory}/{name}_{YYYYMMDD_HHMMSS}/`` holds what the runner writes
(:mod:`fluxloop.runner.artifacts` says how): :data:`TRACE_SUMMARY_FILE` (one line per finished
run, written last: the commit record of a run), :data:`TRACES_FILE`, :data:`OBSERVATIONS_FILE`,
:data:`SUMMARY_FILE`, :data:`ERRORS_FILE` and :data:`CONFIG_FILE`; ``fluxloop parse`` adds
:data:`PARSE_DIR` and ``fluxloop evaluate`` :data:`EVALUATION_DIR` (each with a
:data:`PER_TRACE_FILE`; the evaluation also a :data:`SUMMARY_FILE` and :data:`REPORT_HTML_FILE`).
"""

from __future__ import annotations

__all__ = [
    "CONFIG_FILE",
    "ERRORS_FILE",
    "EVALUATION_DIR",
    "OBSERVATIONS_FILE",
    "PARSE_DIR",
    "PER_TRACE_FILE",
    "REPORT_HTML_FILE",
    "SUMMARY_FILE",
    "TRACES_FILE",
    "TRACE_SUMMARY_FILE",
]

SUMMARY_FILE = "summary.json"
TRACE_SUMMARY_FILE = "trace_summary.jsonl"
TRACES_FILE = "traces.jsonl"
OBSERVATIONS_FILE = "observations.jsonl"
ERRORS_FILE = "errors.json"
CONFIG_FILE = "config.yaml"
EVALUATION_DIR = "evaluation"
PARSE_DIR = "per_trace_analysis"
PER_TRACE_FILE = "per_trace.jsonl"
REPORT_HTML_FILE = "report.html"
