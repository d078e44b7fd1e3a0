"""QIDO-RS query translation, without HTTP: parameters -> QidoQuery -> matching index rows.

Rows are made directly in the index (no files): search reads nothing else.
"""

import itertools

import pytest

from archive.dicomweb.qidosql import search
from archive.dicomweb.query import Level, QidoQuery, QueryError, like_pattern
from archive.models import Instance, Series, Study

_numbers = itertools.count(1)


def make_study(**fields) -> Study:
    n = next(_numbers)
    name = fields.pop("patient_name", "Doe^Jane")
    modalities = fields.pop("modalities", ["CT"])
    study = Study.objects.create(
        study_instance_uid=f"1.2.3.{n}",
        patient_name=name,
        patient_name_key=name.upper(),
        patient_id=fields.pop("patient_id", f"PID{n}"),
        study_date=fields.pop("study_date", "20240115"),
        study_time=fields.pop("study_time", "101500"),
        modalities_in_study="\\".join(sorted(modalities)),
        number_of_study_related_series=len(modalities),
        **fields,
    )
    for number, modality in enumerate(modalities, 1):
        series = Series.objects.create(
            study=study,
            series_instance_uid=f"1.2.3.{n}.{number}",
            modality=modality,
            series_number=number,
        )
        Instance.objects.create(
            series=series,
            sop_instance_uid=f"1.2.3.{n}.{number}.1",
            sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
            instance_number=1,
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            file_path="x",
            file_size=1,
            sha256="0",
        )
    return study


def found(params: dict, level=Level.STUDY, **kw) -> list[str]:
    query = QidoQuery.from_params(params, level, **kw)
    key = {
        Level.STUDY: "StudyInstanceUID",
        Level.SERIES: "SeriesInstanceUID",
        Level.INSTANCE: "SOPInstanceUID",
    }
    return [row[key[level]] for row in search(query).rows]


def uids(*studies) -> list[str]:
    return [s.study_instance_uid for s in studies]


def test_wildcards_are_escaped_for_like():
    assert like_pattern("*smi?h*") == "%smi_h%"
    assert like_pattern("100%_a\\b") == "100\\%\\_a\\\\b"


def test_parameters_by_keyword_and_by_tag_are_the_same():
    by_keyword = QidoQuery.from_params({"PatientID": "X"}, Level.STUDY)
    by_tag = QidoQuery.from_params({"00100020": "X"}, Level.STUDY)
    assert by_keyword.matches == by_tag.matches
    assert by_keyword.matches[0].attribute.field == "patient_id"


def test_control_parameters():
    query = QidoQuery.from_params(
        {
            "limit": "101",
            "offset": "100",
            "fuzzymatching": "true",
            "includefield": ["00081030,00080060", "PatientAge"],
        },
        Level.STUDY,
        max_limit=1000,
    )
    assert (query.limit, query.offset, query.fuzzy) == (101, 100, True)
    assert query.includefields == {"StudyDescription", "Modality", "PatientAge"}
    assert QidoQuery.from_params({"includefield": "all"}, Level.STUDY).include_all


def test_limit_defaults_to_and_is_clamped_at_the_maximum():
    assert QidoQuery.from_params({}, Level.STUDY, max_limit=50).limit == 50
    clamped = QidoQuery.from_params({"limit": "100000"}, Level.STUDY, max_limit=50)
    assert clamped.limit == 50


@pytest.mark.parametrize(
    "params, parameter, reason",
    [
        ({"Nonsense": "1"}, "Nonsense", "neither a DICOM keyword nor a tag"),
        ({"PatientComments": "x"}, "PatientComments", "not a supported query key"),
        ({"SOPInstanceUID": "1.2"}, "SOPInstanceUID", "instance-level attribute"),
        ({"limit": "-1"}, "limit", "whole number"),
        ({"limit": "ten"}, "limit", "whole number"),
        ({"offset": "99999999999"}, "offset", "at most"),
        ({"offset": "1e3"}, "offset", "whole number"),
        ({"fuzzymatching": "maybe"}, "fuzzymatching", "true or false"),
        ({"includefield": "NoSuchThing"}, "includefield", "neither a DICOM keyword"),
        ({"StudyDate": "20241301"}, "StudyDate", "not a valid DA"),
        ({"StudyDate": "2024-01-01"}, "StudyDate", "not a DA value or range"),
        ({"StudyDate": "20240101-20230101"}, "StudyDate", "ends before it starts"),
        ({"StudyTime": "2500"}, "StudyTime", "not a valid TM"),
        ({"StudyInstanceUID": "1.2.*"}, "StudyInstanceUID", "not a valid UID"),
        ({"StudyInstanceUID": "1.2,../etc"}, "StudyInstanceUID", "not a valid UID"),
        ({"NumberOfStudyRelatedSeries": "x"}, "NumberOfStudyRelatedSeries", "not an integer"),
        ({"PatientID": ["a", "b"]}, "PatientID", "more than once"),
        ({"00081110.00081150": "1.2"}, "00081110.00081150", "inside sequences"),
        ({"StudyInstanceUID": ",".join(["1.2"] * 1001)}, "StudyInstanceUID", "limited to 1000"),
    ],
)
def test_bad_parameters_name_the_parameter_and_the_reason(params, parameter, reason):
    with pytest.raises(QueryError) as error:
        QidoQuery.from_params(params, Level.STUDY)
    assert error.value.parameter == parameter
    assert reason in error.value.reason


def test_attributes_without_index_only_narrow_indexed_searches():
    with pytest.raises(QueryError) as error:
        QidoQuery.from_params({"PatientSex": "F"}, Level.STUDY)
    assert (error.value.parameter, error.value.reason[:12]) == ("PatientSex", "has no index")
    with pytest.raises(QueryError):
        QidoQuery.from_params({"00280010": "512"}, Level.INSTANCE)

    QidoQuery.from_params({"PatientSex": "F", "PatientID": "P1"}, Level.STUDY)
    QidoQuery.from_params({"Rows": "512"}, Level.INSTANCE, study_uid="1.2.3")


@pytest.mark.django_db
def test_person_names_ignore_case_and_wildcards_match_substrings():
    smith = make_study(patient_name="Smith^John")
    smithers = make_study(patient_name="Smithers^Waylon")
    make_study(patient_name="Jones^Ann")
    # Just past every name starting SMITH: the end of the key range SQLite reads for smith*.
    smiti = make_study(patient_name="Smiti^Ann")

    assert found({"PatientName": "smith^john"}) == uids(smith)
    assert sorted(found({"PatientName": "smith*"})) == sorted(uids(smith, smithers))
    assert found({"PatientName": "SMITI*"}) == uids(smiti)
    assert sorted(found({"PatientName": "*MITH*"})) == sorted(uids(smith, smithers))
    assert found({"PatientName": "Smith?rs*"}) == uids(smithers)
    assert found({"PatientName": "smith"}) == []  # single value matching is whole-value


@pytest.mark.django_db
def test_percent_and_underscore_are_literal():
    odd = make_study(patient_id="A%_1")
    make_study(patient_id="AB01")
    make_study(patient_id="A%x1")
    assert found({"PatientID": "A%_*"}) == uids(odd)
    assert found({"PatientID": "A%_1"}) == uids(odd)


@pytest.mark.django_db
def test_fuzzy_matching_is_a_prefix_of_any_name_component():
    smith = make_study(patient_name="Smith^John")
    johnson = make_study(patient_name="Johnson^Mary")
    make_study(patient_name="Blacksmith^Anna")

    assert found({"PatientName": "smi", "fuzzymatching": "true"}) == uids(smith)
    assert sorted(found({"PatientName": "jo", "fuzzymatching": "true"})) == sorted(
        uids(smith, johnson)
    )
    assert found({"PatientName": "smi^jo", "fuzzymatching": "true"}) == uids(smith)
    assert found({"PatientName": "smith^", "fuzzymatching": "true"}) == uids(smith)
    assert found({"PatientName": "smi", "fuzzymatching": "false"}) == []


@pytest.mark.django_db
def test_date_ranges_open_and_closed():
    old = make_study(study_date="20230601")
    mid = make_study(study_date="20240115")
    new = make_study(study_date="20250301")

    assert found({"StudyDate": "20240101-20241231"}) == uids(mid)
    assert found({"StudyDate": "-20240115"}) == uids(mid, old)  # newest first
    assert found({"StudyDate": "20240116-"}) == uids(new)
    assert found({"StudyDate": "20230601"}) == uids(old)


@pytest.mark.django_db
def test_time_ranges_cover_partial_times():
    morning = make_study(study_time="0930")
    ten = make_study(study_time="101500.123")
    make_study(study_time="143000")

    day = {"StudyDate": "20240115"}  # StudyTime has no index of its own
    assert found({**day, "StudyTime": "09-10"}) == uids(ten, morning)
    assert found({**day, "StudyTime": "1015"}) == uids(ten)
    assert found({**day, "StudyTime": "-0959"}) == uids(morning)


@pytest.mark.django_db
def test_date_and_time_ranges_together_are_one_datetime_range():
    late_first_day = make_study(study_date="20240101", study_time="230000")
    make_study(study_date="20240101", study_time="080000")
    middle_day = make_study(study_date="20240102", study_time="030000")
    early_last_day = make_study(study_date="20240103", study_time="050000")
    make_study(study_date="20240103", study_time="120000")

    result = found({"StudyDate": "20240101-20240103", "StudyTime": "220000-060000"})
    assert result == uids(early_last_day, middle_day, late_first_day)
    # One time (not a range) with a date range: that time of day, on any of the days.
    assert found({"StudyDate": "20240101-20240103", "StudyTime": "05"}) == uids(early_last_day)


@pytest.mark.django_db
def test_uid_lists_with_commas_or_backslashes():
    a, b, _ = make_study(), make_study(), make_study()
    assert sorted(
        found({"StudyInstanceUID": f"{a.study_instance_uid},{b.study_instance_uid}"})
    ) == (sorted(uids(a, b)))
    assert found({"StudyInstanceUID": f"{a.study_instance_uid}\\9.9"}) == uids(a)


@pytest.mark.django_db
def test_modalities_in_study_matches_any_listed():
    ct = make_study(modalities=["CT"], study_date="20240103")
    mr_pt = make_study(modalities=["MR", "PT"], study_date="20240102")
    make_study(modalities=["US"], study_date="20240101")

    assert found({"ModalitiesInStudy": "CT,MR"}) == uids(ct, mr_pt)
    assert found({"ModalitiesInStudy": "PT"}) == uids(mr_pt)
    assert found({"00080061": "CT\\PT"}) == uids(ct, mr_pt)
    assert found({"Modality": "MR"}) == uids(mr_pt)  # Modality in a study search


@pytest.mark.django_db
def test_empty_and_star_values_match_everything():
    a, b = make_study(study_date="20240102"), make_study(study_date="20240101")
    assert found({"PatientName": "", "AccessionNumber": "*"}) == uids(a, b)


@pytest.mark.django_db
def test_limit_and_offset_page_newest_first_and_report_truncation():
    studies = [make_study(study_date=f"202401{day:02d}") for day in range(1, 8)]
    newest_first = uids(*reversed(studies))

    first = search(QidoQuery.from_params({"limit": "3"}, Level.STUDY))
    last = search(QidoQuery.from_params({"limit": "3", "offset": "6"}, Level.STUDY))
    assert [r["StudyInstanceUID"] for r in first.rows] == newest_first[:3]
    assert first.truncated
    assert [r["StudyInstanceUID"] for r in last.rows] == newest_first[6:]
    assert not last.truncated


@pytest.mark.django_db
def test_series_and_instances_match_on_their_own_and_study_attributes():
    study = make_study(patient_name="Smith^John", modalities=["CT", "MR"])
    make_study(patient_name="Jones^Ann", modalities=["MR"])
    uid = study.study_instance_uid

    assert found({"PatientName": "SMITH*", "Modality": "MR"}, Level.SERIES) == [f"{uid}.2"]
    assert found({}, Level.SERIES, study_uid=uid) == [f"{uid}.1", f"{uid}.2"]
    assert found({"SeriesNumber": "2"}, Level.SERIES, study_uid=uid) == [f"{uid}.2"]
    assert found({"Modality": "CT"}, Level.INSTANCE, study_uid=uid) == [f"{uid}.1.1"]
    assert found({}, Level.INSTANCE, study_uid=uid, series_uid=f"{uid}.2") == [f"{uid}.2.1"]
    assert found(
        {"PatientName": "jones*", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.2"}, Level.INSTANCE
    )[0].endswith(".1.1")


@pytest.mark.django_db
def test_wildcard_searches_have_trigram_indexes_on_postgresql():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("pg_trgm indexes exist on PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexdef LIKE '%gin_trgm_ops%'"
        )
        indexes = dict(cursor.fetchall())
    assert {"study_pname_trgm", "study_pid_trgm", "study_accession_trgm"} <= set(indexes)
    assert "(patient_name_key gin_trgm_ops)" in indexes["study_pname_trgm"]


@pytest.mark.django_db
@pytest.mark.parametrize("level", list(Level))
def test_a_search_is_one_statement_that_reads_no_cache_columns(level):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    study = make_study(patient_name="Smith^John", modalities=["CT", "MR"])
    params = {"PatientName": "smi*", "ModalitiesInStudy": "CT", "StudyDate": "20240101-"}
    if level is Level.STUDY:
        params["includefield"] = "all"
    with CaptureQueriesContext(connection) as queries:
        page = search(QidoQuery.from_params(params, level))

    assert len(page.rows) == {Level.STUDY: 1, Level.SERIES: 2, Level.INSTANCE: 2}[level]
    assert page.rows[0]["StudyInstanceUID"] == study.study_instance_uid
    (query,) = queries.captured_queries
    for column in ("ohif_json", "metadata_json", "frame_offsets", '"metadata"'):
        assert column not in query["sql"]


@pytest.mark.django_db
def test_series_and_instances_without_a_number_come_last():
    study = make_study(modalities=["CT", "MR", "SR"])
    first, second, third = Series.objects.filter(study=study).order_by("series_number")
    Series.objects.filter(pk=first.pk).update(series_number=None)
    Instance.objects.filter(series=second).update(instance_number=None)
    Instance.objects.create(
        series=second,
        sop_instance_uid=f"{second.series_instance_uid}.2",
        instance_number=7,
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        file_path="x",
        file_size=1,
        sha256="0",
    )
    uid = study.study_instance_uid

    assert found({}, Level.SERIES, study_uid=uid) == [f"{uid}.2", f"{uid}.3", f"{uid}.1"]
    series_uid = second.series_instance_uid
    assert found({}, Level.INSTANCE, study_uid=uid, series_uid=series_uid) == [
        f"{series_uid}.2",
        f"{series_uid}.1",
    ]


@pytest.mark.django_db
def test_searches_by_uid_are_prepared_and_wildcard_searches_planned_each_time():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    study = make_study(patient_name="Smith^John", modalities=["CT", "MR"])
    uid = study.study_instance_uid

    for _ in range(3):
        assert found({}, Level.SERIES, study_uid=uid) == [f"{uid}.1", f"{uid}.2"]
        assert found({"PatientID": study.patient_id}) == [uid]
        assert found({"PatientName": "smi*"}) == [uid]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        prepared = [statement for (statement,) in cursor.fetchall()]
    # (The connection may hold statements of earlier tests too: look for these two kinds.)
    assert [s for s in prepared if 'FROM "archive_series" INNER JOIN' in s]
    assert [s for s in prepared if '"archive_study"."patient_id" = $1' in s]
    assert not [s for s in prepared if "LIKE" in s]
