"""The one path converter for database ids in every app's routes: ``<id64:name>``."""

from __future__ import annotations

from django.urls import register_converter

MAX_ID = 2**63 - 1


class Id64Converter:
    """A positive id that fits the database's 64-bit integer; anything larger does not match (404),
    where ``<int:…>`` would hand the database a number it cannot bind (a 500)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError("id out of range")
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(Id64Converter, "id64")
