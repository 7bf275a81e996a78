"""Help ▸ About this model: the checkpoint's own card, its numbers, and the warning every user must read."""
from __future__ import annotations

import html

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from model.clip_view import CLIP_SOURCE

from .results_model import percent

NOT_PROOF_WARNING = (
    "> **A score is not proof.** ConViTX gives a statistical estimate learned from examples. It can be wrong, "
    "most often on generators, edits and kinds of pictures it was not trained on, and on images that were "
    "heavily compressed, resized or screenshotted. Treat it as one clue among others (the source, the context, "
    "the provenance), never as the only evidence that a person faked something."
)


def _section(title: str, values: dict) -> str:
    if not values:
        return ""
    items = "\n".join(f"- **{key}:** {_plain(value)}" for key, value in values.items())
    return f"\n\n## {title}\n\n{items}"


def _plain(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    return str(value).replace("\n", " ")


def model_card_markdown(info, device_label: str = "") -> str:
    """The warning first (cards may omit it), then the card as the checkpoint carries it and its numbers."""
    card = info.card.strip() or f"# {info.name}\n\nThis model file has no description."
    thresholds = info.thresholds
    facts = {
        "Name": info.name,
        "Architecture": info.preset,
        "Says “AI” at or above": percent(thresholds.ai_above),
        "Says “Human” below": percent(thresholds.human_below),
        "Input": f"{info.preprocess.mode}, {info.preprocess.crop_size} px crops",
    }
    clip = info.preprocess.clip
    if clip is not None:
        reads = "embedding and class token" if clip.embedding else "class token"
        facts["CLIP view"] = f"{CLIP_SOURCE}; the whole image at 224 px, {reads} after blocks {_plain(clip.blocks)}"
    if device_label:
        facts["Running on"] = device_label
    return (NOT_PROOF_WARNING + "\n\n" + card + _section("This model", facts) + _section("Measured quality", info.metrics)
            + _section("Training", info.training) + "\n")


class ModelCardDialog(QDialog):
    """The card; after File ▸ Open model, also the offer to rescan the rows another model scored
    (``rescan_count`` of them): its button accepts the dialog."""

    def __init__(self, info, device_label: str = "", parent: QWidget | None = None, rescan_count: int = 0):
        super().__init__(parent)
        self.setWindowTitle(f"About this model — {info.name}")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(model_card_markdown(info, device_label))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        self.rescan_button = None
        if rescan_count:
            rows = f"{rescan_count} image{'s' if rescan_count != 1 else ''}"
            were = "were" if rescan_count != 1 else "was"
            offer = QLabel(f"<b>Now using {html.escape(info.name)}.</b> {rows} in the list {were} "
                           "scored by another model. Rescan them with this one? Each row keeps its current verdict "
                           "until its new one is ready, and the Model column shows which model scored it.")
            offer.setWordWrap(True)
            layout.addWidget(offer)
            self.rescan_button = buttons.addButton(f"Rescan {rows}", QDialogButtonBox.ButtonRole.AcceptRole)
            buttons.button(QDialogButtonBox.StandardButton.Close).setText("Not now")
            buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)
        self.resize(640, 560)
