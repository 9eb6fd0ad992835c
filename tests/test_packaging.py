"""The package installs under one import root, ``pivotrec``."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from .test_demo import REPO


def test_the_wheel_installs_only_under_pivotrec(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp_path), str(REPO)],
        check=True, capture_output=True,
    )
    [wheel] = tmp_path.glob("pivotrec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    roots = {name.split("/")[0] for name in names if not name.startswith("pivotrec-")}
    assert roots == {"pivotrec"}, f"top-level names besides pivotrec: {sorted(roots - {'pivotrec'})}"
    for packaged in ("pivotrec/pipeline/runner.py", "pivotrec/pipeline/py.typed", "pivotrec/plugins/translators/router.py", "pivotrec/models/marian.yaml"):
        assert packaged in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "pivotrec.pipeline.cli:main" in entry_points and "= plugins." not in entry_points


def test_a_user_module_named_models_does_not_shadow_pivotrec(tmp_path):
    """A user's own models.py (or pipeline.py, plugins.py) in the working directory used to break the marian plugin."""
    for name in ("models", "pipeline", "plugins"):
        (tmp_path / f"{name}.py").write_text("raise ImportError('the user module was imported')\n", encoding="utf-8")
    script = "from pivotrec.pipeline.registry import load; load('translator', 'marian'); load('translator', 'apertium'); print('ok')"
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
