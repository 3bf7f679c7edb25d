"""Admin for episodic memory: episodes with their segments inline, read-only interactions and access log.

Interactions, segments and the access log are history: the admin shows them and never edits them.
The tables grow to millions of rows, so lists skip the full COUNT and use raw-id widgets.
"""

from __future__ import annotations

from django.contrib import admin

from atom.admin import ReadOnlyAdminMixin
from episodes.models import Episode, EpisodeAccess, Interaction, Segment


class SegmentInline(ReadOnlyAdminMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = Segment
    fields = ("order", "kind", "seq_start", "seq_end", "started_at", "ended_at", "preview")
    readonly_fields = fields
    ordering = ["order"]
    extra = 0
    max_num = 0
    show_change_link = False


@admin.register(Episode)
class EpisodeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "title", "agent", "status", "outcome", "interaction_count", "segment_count", "importance", "decay", "started_at"]
    list_filter = [("agent", admin.RelatedOnlyFieldListFilter), "status", "outcome", "started_at"]
    list_select_related = ["agent"]
    search_fields = ["title"]
    date_hierarchy = "started_at"
    show_full_result_count = False
    exclude = ["embedding"]
    readonly_fields = [field.name for field in Episode._meta.fields if field.name != "embedding"]
    inlines = [SegmentInline]


@admin.register(Interaction)
class InteractionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "agent", "session", "seq", "role", "timestamp"]
    list_filter = [("agent", admin.RelatedOnlyFieldListFilter), "role", "timestamp"]
    list_select_related = ["agent", "session"]
    date_hierarchy = "timestamp"
    show_full_result_count = False
    readonly_fields = ["agent", "session", "seq", "role", "content", "timestamp", "metadata", "created_at"]


@admin.register(EpisodeAccess)
class EpisodeAccessAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "created_at", "agent", "actor", "mode", "result_count", "request_id"]
    list_filter = [("agent", admin.RelatedOnlyFieldListFilter), "mode", "created_at"]
    list_select_related = ["agent", "actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = ["agent", "actor", "mode", "query", "params", "result_ids", "result_count", "request_id", "created_at"]
