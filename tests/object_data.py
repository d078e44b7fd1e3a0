"""Objects a clinic stores besides plain images, made in the test setup (nothing downloaded):
a SEG and a TID 1500 SR over a CT series (highdicom), a playable H.264 film (PyAV), deflated
and big endian copies, and palette colour. Small, so the browser tests stay fast on 2 cores."""

import io

import highdicom as hd
import numpy as np
import pydicom
from dicom_data import _base, _pixels, uid
from pydicom.encaps import encapsulate
from pydicom.sr.codedict import codes
from pydicom.uid import (
    MPEG4HP41,
    DeflatedExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    VideoPhotographicImageStorage,
)

# The square every SEG and SR here marks: rows and columns 32..63 of a 128 x 128 slice.
SQUARE = (slice(32, 64), slice(32, 64))


def segmentation(series: list, *, label: str = "Square") -> pydicom.Dataset:
    """A binary SEG of one segment (a square on every slice) over ``series``."""
    mask = np.zeros((len(series), series[0].Rows, series[0].Columns), dtype=bool)
    mask[(slice(None), *SQUARE)] = True
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=label,
        segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Tissue,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=series,
        pixel_array=mask,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=uid(),
        series_number=90,
        sop_instance_uid=uid(),
        instance_number=1,
        manufacturer="ohifsite tests",
        manufacturer_model_name="object_data",
        software_versions="1",
        device_serial_number="1",
        series_description="Square SEG",
    )
    return _readable(seg)


def length_report(series: list, *, millimetres: float = 22.4) -> pydicom.Dataset:
    """A TID 1500 measurement report with one length (a two-point polyline) on the middle slice,
    the kind OHIF's measurement tracking writes and reads back."""
    image = series[len(series) // 2]
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=np.array([[32.0, 32.0], [64.0, 64.0]]),
        source_image=hd.sr.SourceImageForRegion(
            referenced_sop_class_uid=image.SOPClassUID,
            referenced_sop_instance_uid=image.SOPInstanceUID,
        ),
    )
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=uid(), identifier="Length 1"),
        referenced_region=region,
        measurements=[
            hd.sr.Measurement(
                name=codes.SCT.Length,
                value=millimetres,
                unit=codes.UCUM.Millimeter,
            )
        ],
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_person_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Person,
                observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                    name="Reader^Rita"
                ),
            )
        ),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[group],
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[image],
        content=report[0],
        series_instance_uid=uid(),
        series_number=91,
        sop_instance_uid=uid(),
        instance_number=1,
        manufacturer="ohifsite tests",
        series_description="Length SR",
    )
    return _readable(sr)


def h264_video(*, frames: int = 24, size: int = 64, **kw) -> pydicom.Dataset:
    """A Video Photographic instance holding a real H.264 film (a bright bar sweeping across a
    dark field, one second at 24 frames/s) that browsers play."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "profile": "high"}
        for index in range(frames):
            picture = np.full((size, size, 3), 20, dtype=np.uint8)
            column = index * size // frames
            picture[:, column : column + size // 8] = 230
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    film = buffer.getvalue()
    kw.setdefault("modality", "XC")
    kw.setdefault("series_description", "Film")
    ds = _base(VideoPhotographicImageStorage, **kw)
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    ds.Rows = ds.Columns = size
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime, ds.FrameIncrementPointer = 1000 / 24, (0x0018, 0x1063)
    ds.CineRate = 24
    ds.PixelData = encapsulate([film + (b"\0" if len(film) % 2 else b"")])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


def palette_image(**kw) -> pydicom.Dataset:
    """PALETTE COLOR: 8-bit indices through 16-bit red, green and blue lookup tables."""
    kw.setdefault("modality", "OT")
    ds = _base(SecondaryCaptureImageStorage, **kw)
    y, x = np.mgrid[0:96, 0:128]
    _pixels(ds, ((x * 2 + y) % 256).astype(np.uint8), photometric="PALETTE COLOR")
    ramp = np.arange(256, dtype=np.uint16)
    for colour, values in (("Red", ramp * 257), ("Green", (255 - ramp) * 257), ("Blue", ramp * 0)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", values.astype("<u2").tobytes())
    return ds


def deflated(ds: pydicom.Dataset) -> pydicom.Dataset:
    """The same instance in Deflated Explicit VR Little Endian."""
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return ds


def _readable(ds: pydicom.Dataset) -> pydicom.Dataset:
    """highdicom's object as a plain pydicom dataset read back from its Part-10 bytes."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def pdf_document(text: str = "Report for the archive", **kw) -> pydicom.Dataset:
    """An Encapsulated PDF holding a real one-page PDF (written here, byte offsets and all)
    that a browser's PDF viewer opens; a comment pads it past DICOM JSON's inline limit, so
    viewers fetch it by URL."""
    from pydicom.uid import EncapsulatedPDFStorage

    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body, offsets = b"%PDF-1.4\n%" + b"~" * 1200 + b"\n", []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, content)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    kw.setdefault("modality", "DOC")
    kw.setdefault("series_description", "Report PDF")
    ds = _base(EncapsulatedPDFStorage, **kw)
    ds.EncapsulatedDocument = body + (b"\n" if len(body) % 2 else b"")
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.DocumentTitle = text
    ds.BurnedInAnnotation = "NO"
    return ds
