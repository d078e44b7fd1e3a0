"""DICOM index strings as a person reads them, the same on the worklist and in the admin:
names as "DOE, JANE", dates as 2024-01-15. Pure functions."""


def person_name(value: str) -> str:
    """PN "Doe^Jane^M^Dr^" -> "DOE, DR JANE M": capitals and a comma after the family name, as
    PACS lists show names, so family and given names are never confused. The first non-empty
    component group wins (alphabetic before ideographic and phonetic)."""
    group = next((g for g in (value or "").split("=") if g.strip("^ ")), "")
    parts = [p.strip() for p in group.split("^")] + [""] * 5
    family, given, middle, prefix, suffix = parts[:5]
    rest = " ".join(p for p in (prefix, given, middle) if p)
    name = f"{family}, {rest}" if family and rest else family or rest
    return (f"{name}, {suffix}" if suffix else name).upper()


def dicom_date(value: str) -> str:
    """DA "20240115" -> "2024-01-15"; anything else is shown as stored."""
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or ""


def dicom_time(value: str) -> str:
    """TM "101500.123" -> "10:15"; anything else is shown as stored."""
    digits = (value or "").split(".")[0].replace(":", "")
    if len(digits) >= 4 and digits[:4].isdigit():
        return f"{digits[:2]}:{digits[2:4]}"
    return value or ""
