"""The dashboard's HTML pages: every tester's tile, and one tester with its controls."""

from __future__ import annotations

from flask import Blueprint, render_template

from .context import channel_or_404

bp = Blueprint("pages", __name__)


@bp.get("/")
def dashboard():
    return render_template("dashboard.html")


@bp.get("/tester/<tester_id>")
def tester_page(tester_id):
    channel_or_404(tester_id)
    return render_template("tester.html", tester_id=tester_id)
