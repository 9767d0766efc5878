"""The Markdown comparison report: jinja2 templates, Markdown escaping, the comment size limit."""

from mlci.report.markdown import escape, safe_url
from mlci.report.render import COMMENT_LIMIT, MARKER_TEMPLATE, STEP_SUMMARY_LIMIT, environment, marker, render

__all__ = [
    "COMMENT_LIMIT",
    "MARKER_TEMPLATE",
    "STEP_SUMMARY_LIMIT",
    "environment",
    "escape",
    "marker",
    "render",
    "safe_url",
]
