"""The detail pane shows the copy's history, the reliability note and the provenance-beside-pixels line."""
from __future__ import annotations

from PIL import Image

from convitx_desktop.detail_pane import DetailPane
from model.imageio import load_image
from model.results import ScanResult, copy_columns
from provenance.copy_history import read_copy_history
from test_copy_history import camera_exif, photo_like

CREDENTIALS = ("C2PA: ChatGPT, signature intact, signer not on trust list; AI-generated, by a trained "
               "algorithm (trainedAlgorithmicMedia)")


def scanned(path, p_ai=0.329, **fields) -> ScanResult:
    decoded = load_image(path)
    columns = copy_columns(read_copy_history(path, decoded.image), {})
    return ScanResult(path=str(path), verdict="uncertain", p_ai=p_ai, width=decoded.width, height=decoded.height,
                      model="m", **columns, **fields)


def test_history_reliability_and_summary_are_shown_and_cleared(qtbot, tmp_path):
    photo_like(768, 1024).save(tmp_path / "web.jpg", quality=60, exif=camera_exif(size=(3024, 4032)))
    Image.new("RGB", (64, 64), (10, 200, 30)).save(tmp_path / "plain.png")
    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.show_result(scanned(tmp_path / "web.jpg", provenance="ai-declared", provenance_detail=CREDENTIALS))
    history = pane.history.text()
    assert pane.history.isVisibleTo(pane) and history.count("• ") == 2
    assert "JPEG quality about 60" in history and "EXIF records 3024×4032" in history
    assert pane.reliability.isVisibleTo(pane) and "only 0.8 MP, JPEG quality about 60" in pane.reliability.text()
    assert pane.summary.isVisibleTo(pane)
    assert "declare this image AI-generated; the pixels alone score 32%" in pane.summary.text()

    pane.show_result(scanned(tmp_path / "plain.png", p_ai=0.9, provenance="none"))
    assert "no EXIF" in pane.history.text() and not pane.summary.isVisibleTo(pane)
    error = ScanResult(path=str(tmp_path / "bad.jpg"), verdict="error", error="file is truncated or damaged")
    pane.show_result(error)
    assert not any(label.isVisibleTo(pane) for label in (pane.history, pane.reliability, pane.summary))
    pane.show_result(None)
    assert not pane.history.isVisibleTo(pane) and pane.history.text() == ""
