"""The signed-in user's exports page."""

from __future__ import annotations

from flask import Blueprint, render_template

from .auth import login_required

bp = Blueprint("exports", __name__)


@bp.get("/")
@login_required
def index() -> str:
    """Show the export form and the user's archives."""
    return render_template("exports/index.html")
