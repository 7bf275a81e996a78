"""The short fuzz run (`make fuzz` is the long one): hostile files of every format, one row each."""
from PIL import Image

import fuzz
from model.files import IMAGE_SUFFIXES


def test_500_mutated_files_give_500_rows_and_no_decoder_crash_or_hang(tmp_path, tiny_model_path):
    paths = fuzz.write_corpus(tmp_path / "fuzz", 500, near_limit=False)
    writable = {s for s in IMAGE_SUFFIXES if Image.registered_extensions().get(s) in Image.SAVE}
    assert {p.suffix for p in paths} == writable and {".jpg", ".png", ".webp", ".heic"} <= writable
    report = fuzz.scan(paths, str(tiny_model_path))
    assert report.rows == report.files == 500
    assert (report.crashes, report.hangs) == (0, 0), report.reasons
    assert 0 < report.scored < 500 and all(report.reasons)  # every error row says why
