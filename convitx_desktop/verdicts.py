"""How verdicts look: words, badge colours and order. Colour always comes with the word, never alone."""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter

VERDICT_ORDER = ("ai", "uncertain", "human", "error")
LABELS = {"ai": "AI", "human": "Human", "uncertain": "Uncertain", "error": "Error"}
# (fill, text): saturated fills with the text colour chosen for contrast, readable on light and dark palettes.
COLOURS = {
    "ai": ("#c62828", "#ffffff"),
    "human": ("#2e7d32", "#ffffff"),
    "uncertain": ("#f9a825", "#1a1a1a"),
    "error": ("#616161", "#ffffff"),
}
PROVENANCE_LABELS = {
    "ai-declared": "AI declared",
    "camera-signed": "Camera signed",
    "edited": "Edited",
    "none": "None found",
    "unreadable": "Unreadable",
}


def label(verdict: str) -> str:
    return LABELS.get(verdict, verdict.title())


def badge_width(verdict: str, font: QFont) -> int:
    return QFontMetrics(font).horizontalAdvance(label(verdict)) + 18


def paint_badge(painter: QPainter, rect: QRectF, verdict: str, font: QFont) -> None:
    """A rounded pill with the verdict's word, centred vertically in ``rect`` and left-aligned."""
    fill, text = COLOURS.get(verdict, COLOURS["error"])
    metrics = QFontMetrics(font)
    height = min(rect.height() - 4, metrics.height() + 6)
    pill = QRectF(rect.left(), rect.center().y() - height / 2, min(badge_width(verdict, font), rect.width()), height)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(fill))
    painter.drawRoundedRect(pill, height / 2, height / 2)
    painter.setPen(QColor(text))
    painter.setFont(font)
    painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, label(verdict))
    painter.restore()
