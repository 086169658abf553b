"""The run report: a self-contained HTML page and a short Markdown summary.

- :mod:`~recsys_core.report.inputs`: :class:`ReportInputs` (everything the page shows),
  :class:`GateCheck`, the settings diff, the input-file changes, the NDCG gate's numbers;
- :mod:`~recsys_core.report.records`: per-run records kept in the history, the trends frame;
- :mod:`~recsys_core.report.html`: :func:`build_report`, :func:`markdown_summary`,
  :func:`table_at_k`;
- :mod:`~recsys_core.report.header`, :mod:`~recsys_core.report.sections`,
  :mod:`~recsys_core.report.charts`, :mod:`~recsys_core.report.tables`,
  :mod:`~recsys_core.report.glossary`, :mod:`~recsys_core.report.format`: the page's parts.
"""
