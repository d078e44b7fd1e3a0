"""OHIF's DICOM JSON document: what OHIF reads for CT, PET (SUV), RGB and multi-frame images,
typed as OHIF expects and ordered by number."""

import json
from urllib.parse import parse_qs, urlsplit

from dicom_data import ct_series, multiframe, pet_slice, rgb_image, to_bytes, uid
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from archive import dicomjson, ohifjson

ROOT = "http://host/wado"


def dicom_json(ds, tmp_path) -> dict:
    path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
    path.write_bytes(to_bytes(ds))
    return dicomjson.to_json(dicomjson.read(path), dicomjson.bulk_path)


def series_attrs(ds) -> dict:
    return {
        "SeriesInstanceUID": ds.SeriesInstanceUID,
        "SeriesNumber": int(ds.SeriesNumber),
        "SeriesDescription": ds.SeriesDescription,
        "Modality": ds.Modality,
        "SeriesDate": ds.SeriesDate,
        "SeriesTime": ds.SeriesTime,
    }


def study_attrs(ds) -> dict:
    return {keyword: str(ds.get(keyword, "")) for keyword in ohifjson.STUDY_KEYWORDS}


def one_series_doc(datasets, tmp_path) -> dict:
    series = ohifjson.series(
        series_attrs(datasets[0]), [dicom_json(ds, tmp_path) for ds in datasets], ROOT
    )
    return ohifjson.document(study_attrs(datasets[0]), [series])


def test_ct_study_series_and_instance_fields(tmp_path):
    datasets = ct_series(3, rows=16, columns=16, patient_name="Smith^John", patient_id="P7")
    doc = one_series_doc(list(reversed(datasets)), tmp_path)
    json.dumps(doc, allow_nan=False)

    (study,) = doc["studies"]
    assert study["StudyInstanceUID"] == datasets[0].StudyInstanceUID
    assert study["PatientName"] == "Smith^John"
    assert study["PatientID"] == "P7"
    assert study["StudyDate"] == "20240115"
    assert study["AccessionNumber"] == "ACC001"
    assert study["NumInstances"] == 3
    assert study["Modalities"] == "CT"
    (series,) = study["series"]
    assert series["SeriesNumber"] == 1
    assert series["Modality"] == "CT"
    assert series["SliceThickness"] == 1.0
    assert [i["metadata"]["InstanceNumber"] for i in series["instances"]] == [1, 2, 3]

    first = series["instances"][0]["metadata"]
    assert first["Rows"] == 16 and first["Columns"] == 16
    assert first["BitsAllocated"] == 16 and first["BitsStored"] == 12 and first["HighBit"] == 11
    assert first["PixelRepresentation"] == 0 and first["SamplesPerPixel"] == 1
    assert first["PhotometricInterpretation"] == "MONOCHROME2"
    assert first["PixelSpacing"] == [0.7, 0.7]
    assert first["ImageOrientationPatient"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert first["ImagePositionPatient"] == [0.0, 0.0, 0.0]
    assert first["ImageType"] == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert first["RescaleIntercept"] == -1024.0 and first["RescaleSlope"] == 1.0
    assert first["WindowCenter"] == 40.0 and first["WindowWidth"] == 400.0
    assert first["SOPClassUID"] == datasets[0].SOPClassUID
    assert first["SOPInstanceUID"] == datasets[0].SOPInstanceUID
    assert first["FrameOfReferenceUID"] == datasets[0].FrameOfReferenceUID
    assert "PixelData" not in first and "7FE00010" not in first


def test_instance_url_is_wado_uri_for_the_whole_file(tmp_path):
    ds = ct_series(1, rows=8, columns=8)[0]
    doc = one_series_doc([ds], tmp_path)
    url = doc["studies"][0]["series"][0]["instances"][0]["url"]
    assert url.startswith("dicomweb:" + ROOT + "?")
    query = parse_qs(urlsplit(url.removeprefix("dicomweb:")).query)
    assert query == {
        "requestType": ["WADO"],
        "studyUID": [ds.StudyInstanceUID],
        "seriesUID": [ds.SeriesInstanceUID],
        "objectUID": [ds.SOPInstanceUID],
        "contentType": ["application/dicom"],
    }


def test_pet_carries_what_suv_needs(tmp_path):
    doc = one_series_doc([pet_slice(0), pet_slice(1)], tmp_path)
    metadata = doc["studies"][0]["series"][0]["instances"][0]["metadata"]

    assert metadata["Units"] == "BQML"
    assert metadata["DecayCorrection"] == "START"
    assert metadata["CorrectedImage"] == ["ATTN", "DECY"]
    assert metadata["PatientWeight"] == 70.0
    assert metadata["PatientSize"] == 1.7
    assert metadata["ActualFrameDuration"] == 120000
    assert metadata["AcquisitionDate"] == "20240115"
    assert metadata["AcquisitionTime"] == "101600"
    assert metadata["SeriesDate"] == "20240115" and metadata["SeriesTime"] == "101600"
    assert metadata["RescaleSlope"] == 0.5
    (drug,) = metadata["RadiopharmaceuticalInformationSequence"]
    assert drug == {
        "RadiopharmaceuticalStartTime": "093000",
        "RadionuclideTotalDose": 370000000.0,
        "RadionuclideHalfLife": 6586.2,
        "RadiopharmaceuticalStartDateTime": "20240115093000",
    }


def test_rgb_has_planar_configuration(tmp_path):
    doc = one_series_doc([rgb_image()], tmp_path)
    metadata = doc["studies"][0]["series"][0]["instances"][0]["metadata"]
    assert metadata["PhotometricInterpretation"] == "RGB"
    assert metadata["SamplesPerPixel"] == 3
    assert metadata["PlanarConfiguration"] == 0
    assert (metadata["Rows"], metadata["Columns"], metadata["BitsAllocated"]) == (120, 160, 8)


def test_multiframe_gives_one_entry_per_frame(tmp_path):
    ds = multiframe(frames=4)
    doc = one_series_doc([ds], tmp_path)
    study = doc["studies"][0]
    entries = study["series"][0]["instances"]

    assert study["NumInstances"] == 1
    assert len(entries) == 4
    assert [e["url"].rsplit("&", 1)[1] for e in entries] == [f"frame={n}" for n in (1, 2, 3, 4)]
    assert {e["url"].rsplit("&", 1)[0] for e in entries} == {entries[0]["url"][:-8]}
    for entry in entries:
        # OHIF 3.13 reads the frame count from the entries of one SOP Instance UID
        assert entry["metadata"]["NumberOfFrames"] == 4
        assert entry["metadata"]["SOPInstanceUID"] == ds.SOPInstanceUID
        assert entry["metadata"]["FrameTime"] == 40.0


def test_enhanced_multiframe_frames_get_their_own_position(tmp_path):
    ds = multiframe(frames=3, modality="MR")
    shared = Dataset()
    orientation = Dataset()
    orientation.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    shared.PlaneOrientationSequence = Sequence([orientation])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for n in range(3):
        item, position = Dataset(), Dataset()
        position.ImagePositionPatient = [0, 0, n * 2.5]
        item.PlanePositionSequence = Sequence([position])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)

    entries = one_series_doc([ds], tmp_path)["studies"][0]["series"][0]["instances"]
    assert [e["metadata"]["ImagePositionPatient"] for e in entries] == [
        [0.0, 0.0, 0.0],
        [0.0, 0.0, 2.5],
        [0.0, 0.0, 5.0],
    ]
    assert all(e["metadata"]["ImageOrientationPatient"] == [0, 1, 0, 0, 0, -1] for e in entries)
    # the functional groups themselves go once, into the first entry (the one OHIF keeps)
    first = entries[0]["metadata"]
    assert first["SharedFunctionalGroupsSequence"] == [
        {"PlaneOrientationSequence": [{"ImageOrientationPatient": [0, 1, 0, 0, 0, -1]}]}
    ]
    assert len(first["PerFrameFunctionalGroupsSequence"]) == 3
    assert not any("PerFrameFunctionalGroupsSequence" in e["metadata"] for e in entries[1:])


def test_series_sorted_by_number_and_modalities_listed(tmp_path):
    study_uid = uid()
    ct = ct_series(2, rows=8, columns=8, study_uid=study_uid, series_number=7)
    pet = [pet_slice(0, study_uid=study_uid, series_number=2)]
    rgb = [rgb_image(study_uid=study_uid, series_number=None)]
    del rgb[0].SeriesNumber
    series_docs = []
    for datasets in (ct, rgb, pet):
        attrs = series_attrs(pet[0]) | {
            "SeriesInstanceUID": datasets[0].SeriesInstanceUID,
            "SeriesNumber": datasets[0].get("SeriesNumber"),
            "Modality": datasets[0].Modality,
        }
        instances = [dicom_json(ds, tmp_path) for ds in datasets]
        series_docs.append(ohifjson.series(attrs, instances, ROOT))
    study = ohifjson.document(study_attrs(ct[0]), series_docs)["studies"][0]

    assert [s["SeriesInstanceUID"] for s in study["series"]] == [
        pet[0].SeriesInstanceUID,
        ct[0].SeriesInstanceUID,
        rgb[0].SeriesInstanceUID,
    ]
    assert study["Modalities"] == "PT/CT/OT"
    assert study["NumInstances"] == 4
    assert "SeriesNumber" not in study["series"][2]


def test_cr_and_us_calibration_fields(tmp_path):
    cr = ct_series(1, rows=8, columns=8, modality="CR")[0]
    del cr.PixelSpacing
    cr.ImagerPixelSpacing = [0.139, 0.139]
    cr.PhotometricInterpretation = "MONOCHROME1"
    cr.ViewPosition = "PA"
    us = multiframe(frames=2)
    region = Dataset()
    region.RegionSpatialFormat = 1
    region.PhysicalDeltaX = 0.01
    region.PhysicalDeltaY = 0.01
    region.PhysicalUnitsXDirection = 3
    us.SequenceOfUltrasoundRegions = Sequence([region])

    cr_meta = one_series_doc([cr], tmp_path)["studies"][0]["series"][0]["instances"][0]
    us_meta = one_series_doc([us], tmp_path)["studies"][0]["series"][0]["instances"][0]

    assert cr_meta["metadata"]["ImagerPixelSpacing"] == [0.139, 0.139]
    assert "PixelSpacing" not in cr_meta["metadata"]
    assert cr_meta["metadata"]["PhotometricInterpretation"] == "MONOCHROME1"
    assert cr_meta["metadata"]["ViewPosition"] == "PA"
    assert us_meta["metadata"]["SequenceOfUltrasoundRegions"] == [
        {
            "RegionSpatialFormat": 1,
            "PhysicalUnitsXDirection": 3,
            "PhysicalDeltaX": 0.01,
            "PhysicalDeltaY": 0.01,
        }
    ]
