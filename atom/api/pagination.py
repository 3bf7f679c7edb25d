"""Pagination: every list is paginated and ``page_size`` is clamped, never obeyed past the maximum."""

from __future__ import annotations

from django.conf import settings
from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """Numbered pages; ``?page_size=`` above ``API_MAX_PAGE_SIZE`` is clamped to it."""

    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE


class CursorPagination(pagination.CursorPagination):
    """Cursor pages for huge, append-only tables: no COUNT(*), stable under inserts."""

    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE
    ordering = "-id"
