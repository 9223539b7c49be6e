"""What a notebook printed: the text a cell's outputs show, and the whole notebook's."""

from __future__ import annotations

import nbformat


def cell_output_text(cell: nbformat.NotebookNode) -> str:
    """Streams and the plain-text form of displayed values, as a reader of the notebook sees them."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def notebook_output_text(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook printed, for checks that compare printed claims."""
    return "\n".join(cell_output_text(cell) for cell in notebook.cells if cell.cell_type == "code")
