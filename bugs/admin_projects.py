"""The projects' admin: list, search, create and edit under the repository rules, link commits now, and
the webhook deliveries received.

Every write goes through bugs.services.projects, the same checks as the API. Secrets are never shown:
the credential appears by its NAME, the webhook secret as set or not (a blank field keeps it).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from atom.admin import ReadOnlyAdminMixin, permission_check
from atom.errors import DomainError
from bugs import report
from bugs.models import Project, WebhookDelivery
from bugs.services.projects import (
    PROJECT_FIELDS,
    credential_names,
    project_commits_link,
    project_create,
    project_fields_clean,
    project_update,
    slug_validate,
)


class ProjectForm(forms.ModelForm):  # type: ignore[type-arg]
    """Checks every field with the service's rules and shows each refusal beside its field."""

    cleaned_values: dict[str, str]

    credential = forms.ChoiceField(
        required=False, help_text="The NAME of a configured git credential (ATOM_GIT_CREDENTIAL_<NAME>); its value is never shown."
    )
    webhook_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Shared secret of the push webhooks (16 characters or more). Left blank, the current secret is kept.",
    )
    clear_webhook_secret = forms.BooleanField(required=False, help_text="Remove the secret: the project's webhooks are refused.")

    class Meta:
        model = Project
        fields = ["slug", "name", "repository", "default_branch", "credential", "webhook_secret", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.credential if self.instance and self.instance.pk else ""
        names = credential_names()
        if current and current not in names:
            names.append(current)  # shown so the form opens; saving it again is refused until it is configured
        choices = [("", "— none —"), *[(name, name) for name in sorted(names)]]
        self.fields["credential"].choices = choices  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        values = {name: data.get(name, "") for name in PROJECT_FIELDS if name in self.fields}
        if self.instance.pk:
            if data.get("clear_webhook_secret"):
                values["webhook_secret"] = ""
            elif not values.get("webhook_secret"):
                values.pop("webhook_secret", None)  # blank keeps the stored secret
        try:
            if not self.instance.pk:
                slug_validate(str(data.get("slug") or ""))
            self.cleaned_values = project_fields_clean(**values)
        except DomainError as exc:
            field = exc.details.get("field")
            self.add_error(field if field in self.fields else None, exc.message)
        return data


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ProjectForm
    list_display = ["slug", "name", "repository", "default_branch", "credential", "webhooks", "commits_linked_at", "link_state"]
    search_fields = ["slug", "name", "repository", "description"]
    readonly_fields = ["created_at", "commits_linked_at", "commits_link_error"]
    actions = ["link_commits_now", "export_triage_report"]
    has_link_project_commits_permission = permission_check("bugs.link_project_commits")
    has_export_triage_report_permission = permission_check("bugs.export_triage_report")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The slug names the project in URLs and webhook addresses: it never changes.
        return [*self.readonly_fields, "slug"] if obj is not None else self.readonly_fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = ["slug", "name", "repository", "default_branch", "credential", "webhook_secret", "description"]
        if obj is not None:
            fields.insert(fields.index("webhook_secret") + 1, "clear_webhook_secret")
        return [*fields, *self.readonly_fields]

    @admin.display(description="webhooks", boolean=True)
    def webhooks(self, obj: Project) -> bool:
        return bool(obj.webhook_secret)

    @admin.display(description="last link")
    def link_state(self, obj: Project) -> str:
        if obj.commits_link_error:
            return f"error: {obj.commits_link_error[:120]}"
        return "ok" if obj.commits_linked_at else "—"

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        values = dict(form.cleaned_values)
        if change:
            saved = project_update(project=obj, actor=request.user, **values)
        else:
            saved = project_create(slug=obj.slug, actor=request.user, **values)
        obj.pk = saved.pk
        obj.refresh_from_db()

    @admin.action(description="Link commits now (fetch, then read the default branch)", permissions=["link_project_commits"])
    def link_commits_now(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        for project in queryset:
            try:
                summary = project_commits_link(project=project)
            except DomainError as exc:
                self.message_user(request, f"{project.slug}: {exc.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{project.slug}: {len(summary.fixed)} bug(s) moved to fixed, {len(summary.commit_set)} fix commit(s) updated.",
                messages.SUCCESS,
            )
            for warning in summary.warnings:
                self.message_user(request, f"{project.slug}: {warning}", messages.WARNING)
            if summary.unknown:
                self.message_user(request, f"{project.slug}: commits name unknown bugs: {', '.join(summary.unknown)}", messages.WARNING)

    @admin.action(description="Export the triage report (Markdown) of the selected project", permissions=["export_triage_report"])
    def export_triage_report(self, request: HttpRequest, queryset: QuerySet[Project]) -> HttpResponse | None:
        slugs = list(queryset.values_list("slug", flat=True))
        if len(slugs) != 1:
            self.message_user(request, "Select exactly one project (the bugs' list exports across projects).", messages.ERROR)
            return None
        text = report.triage_report(fmt="markdown", filters=report.TriageFilters(project=slugs[0]))
        response = HttpResponse(text, content_type=report.CONTENT_TYPES["markdown"])
        response["Content-Disposition"] = f'attachment; filename="bug_triage_report_{slugs[0]}_{timezone.now():%Y%m%d}.md"'
        return response


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """The push webhooks Atom accepted (a refused one leaves no row), newest first."""

    list_display = ["received_at", "project", "provider", "event", "ref", "delivery_id", "outcome"]
    list_filter = ["provider", ("project", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["delivery_id", "ref"]
    list_select_related = ["project"]
    fields = readonly_fields = ("project", "provider", "delivery_id", "event", "ref", "received_at", "outcome")
