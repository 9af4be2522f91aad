"""The gallery in docs/ is what the tool renders today (a layout golden file: the generated code's
behaviour is tested elsewhere by running it)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_gallery_is_current():
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "make_gallery.py"), "--check"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
