"""DICOMweb routes under /dicom-web/ (PS3.18 §10: Studies Service resources, Table 10.4.1-1,
10.5.1-1, 10.6.1-2). Views are named after the PS3.18 transactions."""

urlpatterns = [
    # QIDO-RS (qido.py)
    # WADO-RS (wado.py)
    # STOW-RS and deletion (stow.py)
    # OHIF DICOM JSON (ohifjson views)
]
