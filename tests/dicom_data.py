"""Test data made with pydicom + numpy, and pydicom's own bundled files. Nothing is downloaded.

Each factory returns a ``pydicom.Dataset`` with file meta, ready for ``to_bytes``; pixel values
are deterministic (seeded) so a test can compare what it gets back with what it sent.
"""

import io
from datetime import date

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    PositronEmissionTomographyImageStorage,
    RLELossless,
    SecondaryCaptureImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's UID root, as generate_uid uses


def uid() -> str:
    return generate_uid(prefix=ROOT)


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def receive_one(data: Dataset | bytes, **options):
    """One instance through the ingest pipeline (``archive.ingest.receive``), as any door
    hands it over; returns its ``IngestResult``."""
    from archive.ingest import Arrival, receive

    raw = data if isinstance(data, bytes) else to_bytes(data)
    return receive([Arrival.from_stream(io.BytesIO(raw), **options)])[0]


def receive_file(path, **options):
    from archive.ingest import Arrival, receive

    return receive([Arrival.from_path(path, **options)])[0]


def _base(
    sop_class: str,
    *,
    study_uid=None,
    series_uid=None,
    patient_name="Doe^Jane",
    patient_id="PID001",
    study_date="20240115",
    modality="CT",
    series_number=1,
    instance_number=1,
    description="Generated study",
    series_description="Generated",
    accession="ACC001",
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study_uid or uid()
    ds.SeriesInstanceUID = series_uid or uid()
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyDate = study_date
    ds.StudyTime = "101500"
    ds.SeriesDate = study_date
    ds.SeriesTime = "101600"
    ds.AccessionNumber = accession
    ds.StudyID = "1"
    ds.StudyDescription = description
    ds.SeriesDescription = series_description
    ds.ReferringPhysicianName = "Referrer^Rita"
    ds.Modality = modality
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.FrameOfReferenceUID = ROOT + "1"
    return ds


def _pixels(ds: Dataset, array: np.ndarray, *, photometric="MONOCHROME2") -> Dataset:
    if array.ndim == 2:
        ds.Rows, ds.Columns = array.shape
        samples = 1
    elif photometric == "RGB" and array.ndim == 3:
        ds.Rows, ds.Columns, samples = array.shape
    elif photometric == "RGB":
        _, ds.Rows, ds.Columns, samples = array.shape
        ds.NumberOfFrames = array.shape[0]
    else:
        _, ds.Rows, ds.Columns = array.shape
        ds.NumberOfFrames = array.shape[0]
        samples = 1
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = array.dtype.itemsize * 8
    ds.BitsStored = ds.BitsAllocated if ds.BitsAllocated == 8 else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if array.dtype.kind == "i" else 0
    ds.PixelData = np.ascontiguousarray(array).tobytes()
    return ds


def ct_slice(index: int = 0, *, rows=512, columns=512, seed=None, **kw) -> Dataset:
    ds = _base(CTImageStorage, instance_number=index + 1, **kw)
    rng = np.random.default_rng(index if seed is None else seed)
    array = rng.integers(0, 2000, size=(rows, columns), dtype=np.uint16)
    array[rows // 4 : rows // 2, columns // 4 : columns // 2] = 1800  # a bright square to see
    _pixels(ds, array)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 1.0
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0, 0, float(index)]
    return ds


def ct_series(count: int, *, rows=512, columns=512, **kw) -> list[Dataset]:
    kw.setdefault("study_uid", uid())
    kw.setdefault("series_uid", uid())
    return [ct_slice(i, rows=rows, columns=columns, **kw) for i in range(count)]


def mr_slice(index: int = 0, **kw) -> Dataset:
    kw.setdefault("modality", "MR")
    ds = _base(MRImageStorage, instance_number=index + 1, **kw)
    rng = np.random.default_rng(100 + index)
    _pixels(ds, rng.integers(0, 4000, size=(256, 256), dtype=np.uint16))
    ds.PixelSpacing = [1, 1]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0, 0, float(index) * 5]
    ds.SliceThickness = 5
    return ds


def pet_slice(index: int = 0, **kw) -> Dataset:
    kw.setdefault("modality", "PT")
    ds = _base(PositronEmissionTomographyImageStorage, instance_number=index + 1, **kw)
    rng = np.random.default_rng(200 + index)
    _pixels(ds, rng.integers(0, 30000, size=(128, 128), dtype=np.uint16))
    ds.PixelSpacing = [4, 4]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0, 0, float(index) * 4]
    ds.Units = "BQML"
    ds.DecayCorrection = "START"
    ds.CorrectedImage = ["ATTN", "DECY"]
    ds.PatientWeight = 70
    ds.PatientSize = 1.7
    ds.AcquisitionDate = ds.SeriesDate
    ds.AcquisitionTime = "101600"
    ds.ActualFrameDuration = 120000
    ds.RescaleSlope = 0.5
    ds.RescaleIntercept = 0
    drug = Dataset()
    drug.RadionuclideHalfLife = 6586.2
    drug.RadionuclideTotalDose = 370000000
    drug.RadiopharmaceuticalStartTime = "093000"
    drug.RadiopharmaceuticalStartDateTime = ds.SeriesDate + "093000"
    ds.RadiopharmaceuticalInformationSequence = Sequence([drug])
    return ds


def rgb_image(**kw) -> Dataset:
    kw.setdefault("modality", "OT")
    ds = _base(SecondaryCaptureImageStorage, **kw)
    y, x = np.mgrid[0:120, 0:160]
    array = np.stack([x * 255 // 159, y * 255 // 119, np.full_like(x, 128)], axis=-1)
    _pixels(ds, array.astype(np.uint8), photometric="RGB")
    return ds


def multiframe(frames: int = 10, **kw) -> Dataset:
    kw.setdefault("modality", "US")
    ds = _base(UltrasoundMultiFrameImageStorage, **kw)
    rng = np.random.default_rng(300)
    array = rng.integers(0, 255, size=(frames, 64, 80), dtype=np.uint8)
    _pixels(ds, array)
    ds.FrameTime = 40
    ds.FrameIncrementPointer = (0x0018, 0x1063)
    return ds


def compressed(ds: Dataset, transfer_syntax: str = RLELossless) -> Dataset:
    """Re-encode the pixel data with pydicom's encoders (RLE natively, JPEG-LS / JPEG 2000
    through pyjpegls / pylibjpeg-openjpeg)."""
    ds.compress(transfer_syntax, generate_instance_uid=False)
    return ds


def bundled_files() -> list[str]:
    """Every file pydicom ships for its own tests (some deliberately broken)."""
    from pydicom.data import get_testdata_files

    return sorted(get_testdata_files())


def today() -> str:
    return date.today().strftime("%Y%m%d")


__all__ = [
    "bundled_files",
    "compressed",
    "ct_series",
    "ct_slice",
    "mr_slice",
    "multiframe",
    "pet_slice",
    "rgb_image",
    "to_bytes",
    "uid",
    "pydicom",
]


def ct_blocks_series(count: int, *, size=128, blocks=8, **kw) -> list[Dataset]:
    """A CT series whose slices are ``blocks`` x ``blocks`` tiles of distinct HU values inside
    the default window (WC 40 / WW 400), in a different order per slice: a viewer showing the
    right slice, unsaturated, can be checked tile by tile against pydicom's decoding."""
    kw.setdefault("study_uid", uid())
    kw.setdefault("series_uid", uid())
    kw.setdefault("series_description", "Blocks")
    levels = np.linspace(-150, 230, blocks * blocks).round().astype(np.int16)
    tile = size // blocks
    series = []
    for index in range(count):
        ds = ct_slice(index, rows=size, columns=size, **kw)
        order = np.random.default_rng(1000 + index).permutation(levels).reshape(blocks, blocks)
        hu = np.kron(order, np.ones((tile, tile), dtype=np.int16))
        _pixels(ds, (hu + 1024).astype(np.uint16))
        series.append(ds)
    return series


def encapsulated_pdf(size: int = 4000, **kw) -> Dataset:
    """An Encapsulated PDF instance (no pixel data); the document is ``size`` bytes (even),
    large enough to be given as a BulkDataURI in DICOM JSON."""
    from pydicom.uid import EncapsulatedPDFStorage

    kw.setdefault("modality", "DOC")
    ds = _base(EncapsulatedPDFStorage, **kw)
    body = b"%PDF-1.4\n" + bytes(np.random.default_rng(400).integers(32, 127, size - 16, np.uint8))
    ds.EncapsulatedDocument = (body + b"\n%%EOF\n")[: size - (size % 2)]
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.DocumentTitle = "Generated report"
    ds.BurnedInAnnotation = "YES"
    return ds


def mpeg4_video(size: int = 6000, **kw) -> tuple[Dataset, bytes]:
    """A Video Photographic instance in MPEG-4 AVC/H.264 (1.2.840.10008.1.2.4.102) and the
    stream it carries, split in two fragments. The bytes are not a playable film (nothing here
    encodes video), only what a server must hand back unchanged."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import MPEG4HP41, VideoPhotographicImageStorage

    kw.setdefault("modality", "XC")
    ds = _base(VideoPhotographicImageStorage, **kw)
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    noise = np.random.default_rng(500).integers(0, 256, size - 16, np.uint8).tobytes()
    stream = (b"\x00\x00\x00\x18ftypmp42" + noise)[: size - (size % 2)]
    ds.Rows, ds.Columns, ds.NumberOfFrames = 16, 16, 10
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = (
        3,
        "YBR_PARTIAL_420",
        0,
    )
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime, ds.FrameIncrementPointer = 40, (0x0018, 0x1063)
    ds.PixelData = encapsulate([stream], fragments_per_frame=2)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds, stream
