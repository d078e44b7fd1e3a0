"""The benchmark's data: generate_studies writes listable studies with counts, quickly."""

import re

from django.core.management import call_command

from archive.models import Study


def test_generated_studies_are_listed_and_searchable(client_as):
    call_command("generate_studies", 120, "--batch", "50", "--seed", "7")
    assert Study.objects.count() == 120
    study = Study.objects.order_by("pk").first()
    assert study.patient_name_key == study.patient_name.upper()
    assert study.number_of_study_related_series >= 1
    assert study.number_of_study_related_instances >= study.number_of_study_related_series
    client = client_as("reader")
    html = client.get("/").content.decode()
    assert len(re.findall(r'<tr class="study"', html)) == 50
    family = study.patient_name.split("^")[0]
    found = client.get("/", {"name": family.lower()}).content.decode()
    assert f'data-uid="{study.study_instance_uid}"' in found or 'rel="next"' in found
    call_command("generate_studies", 10, "--seed", "7")  # appends, UIDs stay unique
    assert Study.objects.count() == 130
