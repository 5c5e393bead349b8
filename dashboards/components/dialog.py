"""The in-page confirmation dialog (never the browser's native confirm()).

An action that changes many things at once — a bulk resolve or replay, resolving an incident with
its exceptions — says first what will happen, in counts, and waits for a yes. ``prefix`` names the
parts a page's callbacks fill and read: ``<prefix>`` (hidden until asked), ``<prefix>-title``,
``<prefix>-body``, ``<prefix>-no`` and ``<prefix>-yes``.
"""

from __future__ import annotations

from dash import html


def confirm_dialog(prefix: str) -> html.Div:
    """A hidden modal with a title, a body and Cancel / Confirm buttons, styled by ``.fw-dialog``."""
    return html.Div(
        id=prefix,
        className="fw-dialog-backdrop",
        hidden=True,
        children=[
            html.Div(
                className="fw-dialog",
                role="alertdialog",
                **{"aria-modal": "true", "aria-labelledby": f"{prefix}-title"},
                children=[
                    html.H2(id=f"{prefix}-title"),
                    html.Div(id=f"{prefix}-body", className="fw-dialog-body"),
                    html.Div(
                        className="fw-dialog-actions",
                        children=[
                            html.Button("Cancel", id=f"{prefix}-no", className="button-quiet", n_clicks=0),
                            html.Button("Confirm", id=f"{prefix}-yes", className="button-primary", n_clicks=0),
                        ],
                    ),
                ],
            )
        ],
    )
