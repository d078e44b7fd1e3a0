"""System checks: the OHIF build the site serves is installed and is the pinned version.
They run at every manage.py command and server start, so a missing build is an error with the
fix, not a blank page."""

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Warning, register

from . import build


@register()
def ohif_build_installed(app_configs, **kwargs):
    build_dir = Path(settings.OHIF_BUILD_DIR)
    root = Path(settings.BASE_DIR)
    pinned = build.pinned_version(root)
    installed = build.installed_version(build_dir)
    if installed is None:
        return [
            Error(
                f"The OHIF viewer build is missing ({build_dir}/index.html).",
                hint=f"Install the pinned @ohif/app {pinned}: {build.INSTALL_COMMAND} "
                "(runs npm ci --ignore-scripts).",
                id="viewerconfig.E001",
            )
        ]
    if installed != pinned:
        return [
            Error(
                f"The installed OHIF build is @ohif/app {installed}, package.json pins {pinned}.",
                hint=f"Reinstall the pinned version: {build.INSTALL_COMMAND}",
                id="viewerconfig.E002",
            )
        ]
    if not build.is_precompressed(build_dir):
        return [
            Warning(
                "The OHIF build has no precompressed (.gz) files: bundles go out uncompressed.",
                hint="Run: .venv/bin/python manage.py compress_ohif",
                id="viewerconfig.W001",
            )
        ]
    return []
