"""The validation report of a cohort: a verdict, then every error with its fix, then the warnings."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from crl.data import Problem, ValidationReport
from crl.data.loaders import plural
from crl.ui.markdown import escape_markdown

MAX_BOXES = 8  # problems drawn as boxes; the rest are in the table below them


def _problem_text(problem: Problem) -> str:
    text = f"**{escape_markdown(problem.where)}**: {escape_markdown(problem.message)}"
    if problem.fix:
        text += f"  \n**How to fix:** {escape_markdown(problem.fix)}"
    return text


def problems_table(problems: list[Problem]) -> pd.DataFrame:
    """Every problem as a row (a table cell shows text as it is, so nothing needs escaping)."""
    return pd.DataFrame(
        [
            {"severity": p.severity, "where": p.where, "problem": p.message, "how to fix": p.fix}
            for p in problems
        ],
        columns=["severity", "where", "problem", "how to fix"],
    )


def draw_verdict(report: ValidationReport) -> None:
    """One line saying whether the cohort can be trained on."""
    name = escape_markdown(report.name)
    if report.ok:
        extra = f" {plural(len(report.warnings), 'warning')} to look at below." if report.warnings else ""
        st.success(
            f"**{name}** can be trained on: {plural(report.n_subjects, 'subject')} in "
            f"{plural(report.n_modalities, 'modality', 'modalities')}.{extra}",
            icon=":material/check_circle:",
        )
    else:
        st.error(
            f"**{name}** cannot be trained on yet: {plural(len(report.errors), 'problem')} to fix "
            "(each with how to fix it below).",
            icon=":material/block:",
        )


def draw_problems(report: ValidationReport) -> None:
    """Errors first, each with its fix, open; warnings after them, folded away when the cohort is usable."""
    errors, warnings = report.errors, report.warnings
    for problem in errors[:MAX_BOXES]:
        st.error(_problem_text(problem), icon=":material/error:")
    if len(errors) > MAX_BOXES:
        st.caption(f"{len(errors) - MAX_BOXES} more errors are in the table of all problems below.")
    if warnings:
        label = f"{plural(len(warnings), 'warning')}: the cohort can be used, but have a look"
        with st.expander(label, expanded=not report.ok and len(warnings) <= 3, icon=":material/warning:"):
            for problem in warnings[:MAX_BOXES]:
                st.warning(_problem_text(problem))
            if len(warnings) > MAX_BOXES:
                st.caption(f"{len(warnings) - MAX_BOXES} more are in the table of all problems below.")
    if len(report.problems) > 1:
        with st.expander("All problems as a table (to copy or sort)", icon=":material/table_rows:"):
            st.dataframe(problems_table(report.problems), hide_index=True, width="stretch")
