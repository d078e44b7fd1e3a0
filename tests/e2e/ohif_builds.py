"""The OHIF builds the browser tests can run against: the product's pin (package.json, the
default) and a second one installed beside it for the tests only (tests/e2e/ohif314/, by
scripts/setup.sh test), served by pointing OHIF_BUILD_DIR at its dist/. A test opts in with
``@pytest.mark.parametrize("ohif_build", OHIF_BUILDS, indirect=True)``; the ``ohif_build``
fixture (conftest.py) does the pointing."""

import json
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent.parent
SECOND = Path(__file__).resolve().parent / "ohif314"


def _pin(folder: Path) -> str:
    return json.loads((folder / "package.json").read_text())["dependencies"]["@ohif/app"]


PINNED = _pin(_ROOT)
NEXT = _pin(SECOND)
OHIF_BUILDS = [PINNED, NEXT]
# For the object-kind tests: both data sources with the pin, DICOMweb alone with the next.
SOURCES_AND_BUILDS = [("dicomweb", PINNED), ("dicomjson", PINNED), ("dicomweb", NEXT)]
SECOND_DIST = SECOND / "node_modules" / "@ohif" / "app" / "dist"
