"""Pagination: every list is paginated and ``page_size`` is clamped, never obeyed past the maximum."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import ForeignKey, ForeignObjectRel, Model, QuerySet
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView


class PageNumberPagination(pagination.PageNumberPagination):
    """Numbered pages; ``?page_size=`` above ``API_MAX_PAGE_SIZE`` is clamped to it."""

    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE


class CursorPagination(pagination.CursorPagination):
    """Cursor pages for huge, append-only tables: no COUNT(*), stable under inserts."""

    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE
    ordering = "-id"
    model: type[Model] | None = None

    def paginate_queryset(
        self, queryset: QuerySet[Any, Any] | Sequence[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        self.model = getattr(queryset, "model", None)
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        """A cursor's position goes into a filter on the first ordering field, so a position that field
        cannot hold (not of its type, out of its column's range) is an invalid cursor (404), never a 500."""
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None or self.model is None:
            return cursor
        try:
            field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
        except FieldDoesNotExist:
            return cursor
        if isinstance(field, ForeignObjectRel):
            return cursor
        if isinstance(field, ForeignKey):
            field = field.target_field
        try:
            field.clean(cursor.position, None)
        except ValidationError:
            raise NotFound(self.invalid_cursor_message) from None
        return cursor
