"""Render a report in headless Chromium and save a PNG, to check that it displays.

    python -m pipeline.evaluation.screenshot out/xquad_r/report.html docs/img/xquad-r-report.png

Uses Debian's ``chromium`` (or ``chromium-browser`` / ``google-chrome``);
the page is opened from disk with JavaScript off, as the report needs none.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from pivotrec.pipeline.errors import PivotrecError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 2400, timeout_s: float = 120) -> Path:
    browser = find_browser()
    if browser is None:
        raise PivotrecError(f"no headless browser found (looked for {', '.join(BROWSERS)}); on Debian: apt-get install chromium")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        # No shell: arguments go to the browser as a list.
        subprocess.run(
            [
                browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-javascript", "--hide-scrollbars",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={png.resolve()}",
                html.resolve().as_uri(),
            ],
            check=True, capture_output=True, timeout=timeout_s,
        )
    if not png.is_file():
        raise PivotrecError(f"{browser} wrote no screenshot for {html}")
    return png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    print(screenshot(args.html, args.png, args.width, args.height))


if __name__ == "__main__":
    main()
