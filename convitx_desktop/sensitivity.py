"""Sensitivity: move the model's calibrated AI/Human lines together, with a few named presets.

The offset is added to both thresholds (``Thresholds.shifted``): positive asks for more certainty
before saying "AI" (Cautious), negative flags more images (Strict). Rows relabel at once; nothing is rescored.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QWidget

from .results_model import percent
from .settings import SENSITIVITY_LIMIT

STEPS_PER_UNIT = 100  # slider steps per 1.0 of p_ai
PRESETS = {  # name -> (offset, what it means)
    "Cautious": (0.10, "Calls an image AI only when the model is very sure: fewer false accusations, more misses."),
    "Balanced": (0.0, "The model's calibrated thresholds."),
    "Strict": (-0.10, "Flags more images as AI: catches more, with more false alarms on real photos."),
}
CUSTOM = "Custom"


class SensitivityControl(QWidget):
    offset_changed = Signal(float)

    def __init__(self, offset: float = 0.0, parent=None):
        super().__init__(parent)
        self._base = None  # the loaded model's calibrated Thresholds
        limit = round(SENSITIVITY_LIMIT * STEPS_PER_UNIT)
        self.presets = QComboBox()
        self.presets.addItems([*PRESETS, CUSTOM])
        for number, (_, tip) in enumerate(PRESETS.values()):
            self.presets.setItemData(number, tip, Qt.ItemDataRole.ToolTipRole)
        self.presets.setAccessibleName("Sensitivity preset")
        # Slider to the right = stricter = lower thresholds, hence the minus sign.
        self.slider = QSlider(Qt.Orientation.Horizontal, minimum=-limit, maximum=limit)
        self.slider.setValue(round(-offset * STEPS_PER_UNIT))
        self.slider.setFixedWidth(140)
        self.slider.setToolTip("Left: cautious (say “AI” less often). Right: strict (flag more).")
        self.slider.setAccessibleName("Sensitivity")
        self.lines = QLabel()
        self.lines.setToolTip("Where the verdicts change at this sensitivity")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Sensitivity:"))
        layout.addWidget(self.presets)
        layout.addWidget(QLabel("Cautious"))
        layout.addWidget(self.slider)
        layout.addWidget(QLabel("Strict"))
        layout.addWidget(self.lines)
        self.presets.activated.connect(self._preset_chosen)
        self.slider.valueChanged.connect(self._slider_moved)
        self._slider_moved(self.slider.value())

    @property
    def offset(self) -> float:
        return -self.slider.value() / STEPS_PER_UNIT

    def set_offset(self, offset: float) -> None:
        self.slider.setValue(round(-offset * STEPS_PER_UNIT))

    def set_base_thresholds(self, thresholds) -> None:
        self._base = thresholds
        self._describe()

    def _preset_chosen(self, number: int) -> None:
        name = self.presets.itemText(number)
        if name in PRESETS:
            self.set_offset(PRESETS[name][0])

    def _slider_moved(self, _value: int) -> None:
        offset = self.offset
        names = [name for name, (value, _) in PRESETS.items() if abs(value - offset) < 1e-9]
        self.presets.setCurrentText(names[0] if names else CUSTOM)
        self.presets.setToolTip(PRESETS[names[0]][1] if names else "Your own setting")
        self._describe()
        self.offset_changed.emit(offset)

    def _describe(self) -> None:
        if self._base is None:
            self.lines.setText("")
            return
        current = self._base.shifted(self.offset)
        self.lines.setText(f"AI ≥ {percent(current.ai_above)} · Human < {percent(current.human_below)}")
