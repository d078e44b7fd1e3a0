"""The system check fails loudly, with the command to fix it, when the OHIF build is missing or
is not the pinned version."""

import json

from django.conf import settings

from viewerconfig import build
from viewerconfig.checks import ohif_build_installed


def fake_build(root, version: str):
    dist = root / "@ohif" / "app" / "dist"
    dist.mkdir(parents=True)
    (dist / "index.html").write_text("<html></html>")
    (dist.parent / "package.json").write_text(json.dumps({"version": version}))
    return dist


def test_installed_pinned_build_passes():
    pinned = build.pinned_version(settings.BASE_DIR)
    assert (
        pinned
        == json.loads((settings.BASE_DIR / "package-lock.json").read_text())["packages"][
            "node_modules/@ohif/app"
        ]["version"]
    )
    assert build.installed_version(settings.OHIF_BUILD_DIR) == pinned
    assert [m for m in ohif_build_installed(None) if m.is_serious()] == []


def test_missing_build_is_e001_with_the_fix(settings, tmp_path):
    settings.OHIF_BUILD_DIR = tmp_path / "nothing"
    (message,) = ohif_build_installed(None)
    assert message.id == "viewerconfig.E001"
    assert message.is_serious()
    assert "bash scripts/setup.sh" in message.hint


def test_other_version_is_e002(settings, tmp_path):
    settings.OHIF_BUILD_DIR = fake_build(tmp_path, "3.9.0")
    (message,) = ohif_build_installed(None)
    assert message.id == "viewerconfig.E002"
    assert "3.9.0" in message.msg and build.pinned_version(settings.BASE_DIR) in message.msg


def test_precompression_is_idempotent(settings, tmp_path):
    dist = fake_build(tmp_path, build.pinned_version(settings.BASE_DIR))
    (dist / "big.js").write_text("let a = 1;\n" * 1000)
    (dist / "tiny.js").write_text("x")
    settings.OHIF_BUILD_DIR = dist
    assert ohif_build_installed(None)[0].id == "viewerconfig.W001"
    assert build.precompress(dist) == 1
    assert (dist / "big.js.gz").is_file() and not (dist / "tiny.js.gz").exists()
    assert build.precompress(dist) == 0
    assert ohif_build_installed(None) == []
