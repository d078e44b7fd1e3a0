"""Template filters that turn DICOM index strings into what a clinician reads."""

from django import template

from archive import display

register = template.Library()


register.filter(display.person_name)
register.filter(display.dicom_date)
register.filter(display.dicom_time)


@register.filter
def modalities(value: str) -> list[str]:
    return [code for code in (value or "").split("\\") if code]


@register.filter
def thousands(value: int) -> str:
    """12345 -> "12,345", whatever the locale (the list reads like the rest of the page)."""
    return f"{value:,}"
