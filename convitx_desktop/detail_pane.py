"""The detail pane: the selected image with its heatmap, the verdict in words, provenance and hints, and
the copy's history with a reliability note when the copy is far from an original.

Heatmaps arrive from the worker as a working-size image plus a map; blending them for the opacity
slider is a small numpy job (model.heatmap.overlay), debounced so dragging stays smooth.
"""
from __future__ import annotations

import html
import os

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QSizePolicy, QSlider, QToolButton, QVBoxLayout, \
    QWidget

from model.results import summary
from provenance import NOTE_SEPARATOR

from . import verdicts
from .results_model import percent
from .settings import VIEW_MODES
from .thumbnails import to_qimage

MODE_TITLES = {"overlay": "Heatmap", "original": "Original", "side-by-side": "Side by side"}
NOT_PROOF = "A score is an estimate, not proof."
MISSING_NOTE = ("<b>File missing:</b> it was moved or deleted after it was scored. The verdict below is "
                "from then.<br>")
HEATMAP_NOTE = ("Warm colours mark the regions that weighed most in the score. The heatmap shows where the model "
                "looked; it does not prove that a region was generated or edited.")


def explain(result, thresholds) -> str:
    """The verdict in one or two plain sentences, with the lines that produced it."""
    if result.verdict == "error":
        return f"This file could not be scored: {result.error}"
    score = f"The model rates this image <b>{percent(result.p_ai)}</b> likely to be AI-generated"
    if thresholds is None:
        return f"{score}. {NOT_PROOF}"
    low, high = percent(thresholds.human_below), percent(thresholds.ai_above)
    if result.verdict == "ai":
        why = f"at or above the {high} line for “AI” at this sensitivity"
    elif result.verdict == "human":
        why = f"below the {low} line for “Human”: it found no strong sign of AI generation"
    else:
        why = f"between {low} and {high}: the model cannot tell. Look for other evidence"
    return f"{score}, {why}. {NOT_PROOF}"


def provenance_html(found) -> str:
    """Says signed or unsigned whenever there is a claim: unsigned metadata is easy to forge or strip."""
    detail = html.escape(found.detail.rstrip("."))
    if found.status == "none" and not found.signed:
        extra = "" if found.detail == "No provenance metadata" else f" {detail}."
        return f"<b>Provenance:</b> none found in the file.{extra}"
    status = html.escape(verdicts.PROVENANCE_LABELS.get(found.status, found.status))
    kind = "signed: C2PA signature intact" if found.signed else "unsigned"
    return f"<b>Provenance:</b> {status} ({kind}). {detail}."


def history_html(result) -> str:
    """The copy's history, one finding a line: how far this file is from an original, and how sure."""
    if not result.copy_note:
        return ""
    items = "<br>".join(f"• {html.escape(item)}" for item in result.copy_note.split(NOTE_SEPARATOR))
    return f"<b>Copy history</b> (read from the file; signs, not proof):<br>{items}"


def reliability_html(result) -> str:
    return f"<b>Reliability:</b> {html.escape(result.reliability_note)}" if result.reliability_note else ""


def summary_html(result) -> str:
    """The provenance claim beside the pixel score, in one line (empty without a claim)."""
    line = summary(result)
    return f"<b>Provenance and pixels:</b> {html.escape(line)}." if line else ""


def hints_html(hints: dict[str, str]) -> str:
    if not hints:
        return ""
    items = " · ".join(f"{html.escape(key)}: {html.escape(value)}" for key, value in hints.items())
    return f"<b>Metadata hints</b> (not evidence, easy to edit or strip): {items}"


class ImageView(QWidget):
    """One image, or two side by side, scaled to fit with their aspect ratio, or a message."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pixmaps: list[QPixmap] = []
        self._message = ""
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def show_images(self, pixmaps: list[QPixmap], message: str = "") -> None:
        self._pixmaps, self._message = pixmaps, message
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(420, 360)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.AlternateBase))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        gap, count = 8, max(1, len(self._pixmaps))
        slot_width = (self.width() - gap * (count + 1)) / count
        for number, pixmap in enumerate(self._pixmaps):
            slot = QRectF(gap + number * (slot_width + gap), gap, slot_width, self.height() - 2 * gap)
            size = pixmap.size().toSizeF().scaled(slot.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRectF(0, 0, size.width(), size.height())
            target.moveCenter(slot.center())
            painter.drawPixmap(target, pixmap, QRectF(pixmap.rect()))
        if self._message:
            painter.setPen(self.palette().color(QPalette.ColorRole.Text))
            box = self.rect().adjusted(12, 12, -12, -12)
            flags = Qt.AlignmentFlag.AlignCenter if not self._pixmaps else \
                Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter
            if self._pixmaps:  # a readable strip over the picture
                metrics = painter.fontMetrics()
                strip = QRectF(0, self.height() - metrics.height() - 20, self.width(), metrics.height() + 20)
                painter.fillRect(strip, self.palette().color(QPalette.ColorRole.Window))
            painter.drawText(box, flags | Qt.TextFlag.TextWordWrap, self._message)


class VerdictBadge(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._verdict = ""
        font = QFont(self.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.setFont(font)

    def set_verdict(self, verdict: str) -> None:
        self._verdict = verdict
        self.setAccessibleName(f"Verdict: {verdicts.label(verdict)}" if verdict else "")
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(verdicts.badge_width(self._verdict or "uncertain", self.font()),
                     self.fontMetrics().height() + 10)

    def paintEvent(self, event) -> None:
        if self._verdict:
            painter = QPainter(self)
            verdicts.paint_badge(painter, QRectF(self.rect()), self._verdict, self.font())


def _wrapping_label(object_name: str = "") -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setObjectName(object_name)
    return label


class DetailPane(QWidget):
    opacity_changed = Signal(float)
    mode_changed = Signal(str)

    def __init__(self, opacity: float = 0.5, mode: str = "overlay", parent=None):
        super().__init__(parent)
        self.setObjectName("DetailPane")
        self._result = None
        self._thumbnail: QPixmap | None = None
        self._heatmap = None
        self._original: QPixmap | None = None
        self._overlay: QPixmap | None = None
        self._layer: QPixmap | None = None
        self._heatmap_message = ""
        self._render_timer = QTimer(self, singleShot=True, interval=30)
        self._render_timer.timeout.connect(self._render_overlay)
        self._build(opacity, mode)
        self.show_result(None)

    # --- layout ----------------------------------------------------------------------------

    def _build(self, opacity: float, mode: str) -> None:
        self.file_name = QLabel(objectName="fileName")
        self.file_name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder = QLabel(objectName="folderName")
        self.folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.image = ImageView()

        self.mode_buttons = QButtonGroup(self)
        self.image_controls = QWidget()
        modes = QHBoxLayout(self.image_controls)
        modes.setContentsMargins(0, 0, 0, 0)
        modes.setSpacing(0)
        for number, key in enumerate(VIEW_MODES):
            button = QToolButton(text=MODE_TITLES[key], checkable=True, autoRaise=False)
            button.setToolTip(f"{MODE_TITLES[key]} (Ctrl+{number + 1})")
            self.mode_buttons.addButton(button, number)
            modes.addWidget(button)
        self.mode_buttons.button(VIEW_MODES.index(mode)).setChecked(True)
        self.mode_buttons.idToggled.connect(self._mode_toggled)
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=round(opacity * 100))
        self.opacity.setToolTip("How strongly the heatmap is painted over the image")
        self.opacity.setAccessibleName("Heatmap opacity")
        self.opacity_value = QLabel()
        self.opacity_value.setMinimumWidth(self.opacity_value.fontMetrics().horizontalAdvance("100%") + 4)
        self.opacity.valueChanged.connect(self._opacity_moved)
        modes.addSpacing(16)
        modes.addWidget(QLabel("Opacity"))
        modes.addWidget(self.opacity, 1)
        modes.addWidget(self.opacity_value)

        self.badge = VerdictBadge()
        self.score = QLabel(objectName="score")
        verdict_row = QHBoxLayout()
        verdict_row.addWidget(self.badge)
        verdict_row.addWidget(self.score, 1)
        self.explanation = _wrapping_label("explanation")
        self.reliability = _wrapping_label("reliability")
        self.model_line = _wrapping_label("modelLine")
        self.provenance = _wrapping_label("provenance")
        self.summary = _wrapping_label("provenanceSummary")
        self.hints = _wrapping_label("hints")
        self.history = _wrapping_label("copyHistory")
        self.note = _wrapping_label("note")
        self.note.setText(HEATMAP_NOTE)

        layout = QVBoxLayout(self)
        layout.addWidget(self.file_name)
        layout.addWidget(self.folder)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.image_controls)
        layout.addSpacing(6)
        layout.addLayout(verdict_row)
        for label in (self.explanation, self.reliability, self.model_line, self.provenance, self.summary, self.hints,
                      self.history, self.note):
            layout.addWidget(label)
        self._opacity_moved(self.opacity.value())

    # --- what is shown ---------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return VIEW_MODES[max(0, self.mode_buttons.checkedId())]

    def set_mode(self, mode: str) -> None:
        self.mode_buttons.button(VIEW_MODES.index(mode)).setChecked(True)

    @property
    def current_path(self) -> str | None:
        return self._result.path if self._result is not None else None

    def has_heatmap(self) -> bool:
        return self._heatmap is not None

    def show_result(self, result, thumbnail: QPixmap | None = None, thresholds=None, missing: bool = False) -> None:
        """Show a row (None: the empty state). The same path again only refreshes the verdict.
        ``missing``: the file is no longer there (a reopened session); its verdict is from when it was."""
        same = result is not None and self._result is not None and result.path == self._result.path
        self._result = result
        for widget in (self.badge, self.score, self.explanation, self.model_line, self.note):
            widget.setVisible(result is not None)
        self.image_controls.setVisible(result is not None and result.ok and not missing)
        self.note.setVisible(result is not None and result.ok and not missing)
        for label, text in ((self.reliability, reliability_html), (self.summary, summary_html),
                            (self.history, history_html)):
            label.setText(text(result) if result is not None else "")
            label.setVisible(bool(label.text()))
        if result is None:
            self.file_name.setText("No image selected")
            self.folder.setText("")
            self.provenance.clear()
            self.hints.clear()
            self._thumbnail = None
            self._clear_images("Select a row to see the image and its heatmap.")
            return
        self.file_name.setText(os.path.basename(result.path))
        self.folder.setText(os.path.dirname(result.path))
        self.folder.setToolTip(result.path)
        self.badge.set_verdict(result.verdict)
        self.score.setText("" if result.p_ai is None else f"AI likelihood {percent(result.p_ai)}")
        self.explanation.setText((MISSING_NOTE if missing else "") + explain(result, thresholds))
        self.model_line.setText(f"<b>Scored by:</b> {html.escape(result.model)}" if result.model else "")
        self.model_line.setVisible(bool(result.model) and result.ok)
        if same:
            return
        self._thumbnail = thumbnail
        label = verdicts.PROVENANCE_LABELS.get(result.provenance, result.provenance)
        self.provenance.setText(f"<b>Provenance:</b> {html.escape(label)}. {html.escape(result.provenance_detail)}"
                                if label else "")
        self.hints.clear()
        self._clear_images("No heatmap: the file is missing." if missing else
                           "Computing heatmap…" if result.ok else "No heatmap: the file could not be read.")

    def set_provenance(self, path: str, found) -> None:
        if path == self.current_path:
            self.provenance.setText(provenance_html(found))
            self.hints.setText(hints_html(found.hints))

    def set_heatmap(self, path: str, heatmap) -> None:
        if path != self.current_path:
            return
        self._heatmap = heatmap
        self._original = QPixmap.fromImage(to_qimage(heatmap.image))
        layer = heatmap.layer  # RGBA, coloured in the worker thread
        self._layer = QPixmap.fromImage(QImage(layer.tobytes(), layer.width, layer.height, 4 * layer.width,
                                               QImage.Format.Format_RGBA8888).copy())
        self._render_overlay()

    def set_heatmap_failed(self, path: str, reason: str) -> None:
        if path == self.current_path:
            self._heatmap_message = f"No heatmap: {reason}"
            self._show()

    # --- internals -------------------------------------------------------------------------

    def _clear_images(self, message: str) -> None:
        self._heatmap = self._original = self._overlay = self._layer = None
        self._heatmap_message = message
        self._show()

    def _opacity_moved(self, value: int) -> None:
        self.opacity_value.setText(f"{value}%")
        if self._heatmap is not None:
            self._render_timer.start()
        self.opacity_changed.emit(value / 100)

    def _mode_toggled(self, button_id: int, checked: bool) -> None:
        if checked:
            self._show()
            self.mode_changed.emit(VIEW_MODES[button_id])

    def _render_overlay(self) -> None:
        """Paint the heat layer over the image at the slider's opacity (Qt blends; no numpy here)."""
        if self._heatmap is None:
            return
        self._overlay = QPixmap(self._original)
        painter = QPainter(self._overlay)
        painter.setOpacity(self.opacity.value() / 100)
        painter.drawPixmap(0, 0, self._layer)
        painter.end()
        self._show()

    def _show(self) -> None:
        if self._original is None:
            pixmaps = [self._thumbnail] if self._thumbnail is not None else []
            self.image.show_images(pixmaps, self._heatmap_message)
            return
        chosen = {"overlay": [self._overlay], "original": [self._original],
                  "side-by-side": [self._original, self._overlay]}[self.mode]
        self.image.show_images([p for p in chosen if p is not None])
