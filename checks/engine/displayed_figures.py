"""Which figure records stand for a figure the notebook really displayed.

The probe's records describe a figure (titles, axes, the arrays behind its images), and
its PNG is rendered by the same formatter that displays the figure in the notebook. A
record whose PNG is not among the images its cell displayed was not drawn by the
notebook (or was only saved, which the grader cannot see): it is set aside and earns
nothing, and the submission says so.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from checks.engine.exchange_records import FigureRecord
from checks.engine.notebook import cell_number


@dataclass
class FigureAudit:
    shown: list[FigureRecord] = field(default_factory=list)
    set_aside: list[FigureRecord] = field(default_factory=list)

    def flags(self) -> list[str]:
        """One line per record set aside from the notebook's cells (a grader call's drawing is not one)."""
        lines = []
        for record in self.set_aside:
            if isinstance(record["cell"], str):
                continue
            saved = record["saved_to"]
            how = (
                f"was saved to {', '.join(saved)} but never displayed"
                if saved
                else "matches no image the notebook displayed"
            )
            lines.append(f"a figure recorded for {cell_number(record['cell'])} {how}: it was not graded")
        return lines


def displayed_images(notebook) -> dict[int, set[str]]:
    """The sha256 of every PNG each code cell displayed."""
    shown: dict[int, set[str]] = {}
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data", {}).get("image/png") if isinstance(output.get("data"), dict) else None
            if isinstance(data, str):
                try:
                    png = base64.b64decode(data, validate=False)
                except (binascii.Error, ValueError):
                    continue
                shown.setdefault(index, set()).add(hashlib.sha256(png).hexdigest())
    return shown


def audit_figures(figures: list[FigureRecord], notebook, figure_dir: Path) -> FigureAudit:
    """Split copied records into those whose PNG their cell displayed and the rest."""
    shown = displayed_images(notebook)
    audit = FigureAudit()
    for record in figures:
        png = figure_dir / record["png"] if record["png"] else None
        digest = hashlib.sha256(png.read_bytes()).hexdigest() if png and png.is_file() else None
        cell = record["cell"]
        displayed = isinstance(cell, int) and digest is not None and digest in shown.get(cell, set())
        (audit.shown if displayed else audit.set_aside).append(record)
    return audit
