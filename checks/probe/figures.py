"""Record every matplotlib figure a notebook draws: shown, saved, closed or left open.

A figure is captured when it is saved, when it is closed (the inline backend closes
figures after showing them) and at the end of every cell while it stays open. One record
is kept per figure and cell, updated to the figure's latest state in that cell.
"""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from .events import EventLog

MAX_FIGURES = 200
MAX_ARRAY_ELEMENTS = 1_000_000
MAX_ARRAYS_PER_FIGURE = 128  # an 8 x 8 bank of filters, each panel compared with a model's weights
MAX_ELEMENTS_PER_FIGURE = 8_000_000  # what bounds the disk a figure takes, with MAX_FIGURES
MAX_LINE_POINTS = 10_000
PNG_DPI = 72


def _text(artist) -> str:
    return artist.get_text() if artist is not None else ""


def _cmap_name(mappable) -> str | None:
    cmap = mappable.get_cmap() if hasattr(mappable, "get_cmap") else None
    return getattr(cmap, "name", None)


def _finite_list(values) -> list[float | None]:
    array = np.asarray(values, dtype=float).ravel()[:MAX_LINE_POINTS]
    return [float(v) if np.isfinite(v) else None for v in array]


class FigureRecorder:
    def __init__(self, folder: Path, log: EventLog) -> None:
        self.folder = folder
        self.log = log
        self.records: dict[tuple[int, Any], dict[str, Any]] = {}
        self._serials = itertools.count(1)
        self._arrays_written = 0
        self._capturing = False

    def install(self) -> None:
        import matplotlib.figure
        from matplotlib._pylab_helpers import Gcf

        self.folder.mkdir(parents=True, exist_ok=True)
        recorder = self
        original_savefig = matplotlib.figure.Figure.savefig
        original_destroy = Gcf.destroy.__func__
        original_destroy_all = Gcf.destroy_all.__func__
        self._original_savefig = original_savefig

        def savefig(figure, fname, *args, **kwargs):
            result = original_savefig(figure, fname, *args, **kwargs)
            target = fname if isinstance(fname, (str, Path)) else getattr(fname, "name", "<buffer>")
            recorder.capture(figure, saved_to=str(target))
            return result

        def destroy(cls, num):
            manager = cls.figs.get(num) if not hasattr(num, "canvas") else num
            if manager is not None:
                recorder.capture(manager.canvas.figure, shown=True)
            return original_destroy(cls, num)

        def destroy_all(cls):
            for manager in list(cls.figs.values()):
                recorder.capture(manager.canvas.figure, shown=True)
            return original_destroy_all(cls)

        matplotlib.figure.Figure.savefig = savefig
        Gcf.destroy = classmethod(destroy)
        Gcf.destroy_all = classmethod(destroy_all)

    def capture_open_figures(self) -> None:
        from matplotlib._pylab_helpers import Gcf

        for manager in Gcf.get_all_fig_managers():
            self.capture(manager.canvas.figure)

    def capture(self, figure, saved_to: str | None = None, shown: bool = False) -> None:
        if self._capturing:
            return
        self._capturing = True
        try:
            self._capture(figure, saved_to, shown)
        except Exception as error:  # a broken student figure must not break their cell
            self.log.record("figure_capture_failed", error=f"{type(error).__name__}: {error}")
        finally:
            self._capturing = False

    def _capture(self, figure, saved_to: str | None, shown: bool) -> None:
        """``shown``: the inline backend has just displayed the figure; a change the description
        does not see (a tight layout) must still reach the PNG the grader matches with it."""
        serial = getattr(figure, "_xaigrader_serial", None)
        if serial is None:
            serial = next(self._serials)
            figure._xaigrader_serial = serial
        key = (serial, self.log.cell)
        previous = self.records.get(key)
        if previous is None and len(self.records) >= MAX_FIGURES:
            return
        description = describe_figure(figure)
        saved = list(previous["saved_to"]) if previous else []
        if saved_to and saved_to not in saved:
            saved.append(saved_to)
        fingerprint = json.dumps(description, sort_keys=True, default=str)
        if previous and previous["fingerprint"] == fingerprint and saved == previous["saved_to"]:
            if shown:
                self._write_png(figure, self.folder / previous["png"])
            return
        if previous is None and self._unchanged_since_last_cell(serial, fingerprint) and not saved_to:
            return
        name = f"fig-{serial:03d}-cell-{self.log.cell}"
        self._write_arrays(figure, description, name)
        self._write_png(figure, self.folder / f"{name}.png")
        self.records[key] = {
            "figure": serial,
            "cell": self.log.cell,
            "png": f"{name}.png",
            "saved_to": saved,
            "fingerprint": fingerprint,
            **description,
        }
        self._write_index()

    def _write_png(self, figure, path: Path) -> None:
        """The PNG the notebook displays for the figure (the shell's own formatter), so the grader
        can match the record with an image in the notebook's output."""
        from IPython import get_ipython

        shell = get_ipython()
        formatter = shell.display_formatter.formatters.get("image/png") if shell is not None else None
        png = formatter(figure) if formatter is not None else None
        if isinstance(png, str):
            png = base64.b64decode(png)
        if isinstance(png, bytes) and png:
            path.write_bytes(png)
        else:
            self._original_savefig(figure, path, format="png", dpi=PNG_DPI)

    def _unchanged_since_last_cell(self, serial: int, fingerprint: str) -> bool:
        earlier = [record for (s, _), record in self.records.items() if s == serial]
        return bool(earlier) and earlier[-1]["fingerprint"] == fingerprint

    def _write_arrays(self, figure, description: dict[str, Any], name: str) -> None:
        """Save the arrays shown with imshow, so a check can compare them with a reference."""
        written, elements = 0, 0
        for axes_index, axes in enumerate(figure.axes):
            for image_index, image in enumerate(axes.images):
                entry = description["axes"][axes_index]["images"][image_index]
                array = np.ma.getdata(image.get_array())
                if (
                    array is None
                    or array.size > MAX_ARRAY_ELEMENTS
                    or written >= MAX_ARRAYS_PER_FIGURE
                    or elements + array.size > MAX_ELEMENTS_PER_FIGURE
                ):
                    continue
                file_name = f"{name}-ax{axes_index}-im{image_index}.npy"
                np.save(self.folder / file_name, np.asarray(array), allow_pickle=False)
                entry["array"] = file_name
                written, elements = written + 1, elements + array.size

    def _write_index(self) -> None:
        records = [{k: v for k, v in r.items() if k != "fingerprint"} for r in self.records.values()]
        temporary = self.folder / "index.json.partial"
        temporary.write_text(json.dumps(records, default=str), encoding="utf-8")
        temporary.replace(self.folder / "index.json")


def describe_figure(figure) -> dict[str, Any]:
    return {
        "suptitle": _text(getattr(figure, "_suptitle", None)),
        "size_inches": [float(v) for v in figure.get_size_inches()],
        "axes": [describe_axes(axes) for axes in figure.axes],
    }


def describe_axes(axes) -> dict[str, Any]:
    legend = axes.get_legend()
    mappables = list(axes.images) + [
        c for c in axes.collections if hasattr(c, "get_cmap") and c.get_array() is not None
    ]
    return {
        "title": axes.get_title(),
        "title_left": axes.get_title("left"),
        "title_right": axes.get_title("right"),
        "xlabel": axes.get_xlabel(),
        "ylabel": axes.get_ylabel(),
        "xscale": axes.get_xscale(),
        "yscale": axes.get_yscale(),
        "legend": [text.get_text() for text in legend.get_texts()] if legend else [],
        "is_colorbar": hasattr(axes, "_colorbar"),
        "has_colorbar": any(getattr(m, "colorbar", None) is not None for m in mappables),
        "visible": axes.get_visible() and axes.axison,
        "grid": _grid_of(axes),
        "images": [
            {
                "cmap": _cmap_name(image),
                "shape": list(np.shape(image.get_array())),
                "vmin": _maybe_float(image.norm.vmin),
                "vmax": _maybe_float(image.norm.vmax),
                "norm": type(image.norm).__name__,
            }
            for image in axes.images
        ],
        "collections": [
            {"cmap": _cmap_name(c), "shape": list(np.shape(c.get_array())), "type": type(c).__name__}
            for c in mappables
            if c not in axes.images
        ],
        "lines": [
            {
                "label": line.get_label(),
                "x": _finite_list(line.get_xdata()),
                "y": _finite_list(line.get_ydata()),
            }
            for line in axes.lines
        ],
    }


def _grid_of(axes) -> list[int] | None:
    """[rows, columns] of the subplot grid the axes belongs to, if it was made by subplots."""
    spec = axes.get_subplotspec() if hasattr(axes, "get_subplotspec") else None
    return list(spec.get_gridspec().get_geometry()) if spec is not None else None


def _maybe_float(value) -> float | None:
    return None if value is None else float(value)
