"""The console's pages on the bugs: a bug's read page, triage of a run's failures, the flaky tests.

Views only: the reads come from :mod:`bugs.history`, the writes from the services. Each new act has its
own permission (``bugs.triage_result``, ``bugs.quarantine_regressiontest``), checked by a
``has_<act>_permission`` method of the admin: being staff grants nothing by itself.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from atom.errors import DomainError
from bugs import history
from bugs.models import ACTIVE_STATUSES, Bug, Category, FlakyTest, Result, Run, Severity
from bugs.services.bugs import bug_assign, bug_by_key, regression_test_quarantine
from bugs.services.comments import comment_create
from bugs.services.failures import bug_attach_results, bug_create_from_results, failure_actual, failure_description, failure_title


def _pk(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("No such object.") from None


class AssignedFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assigned"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("me", "Assigned to me"), ("nobody", "Unassigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Bug]) -> QuerySet[Bug]:
        if self.value() == "me":
            return queryset.filter(assignee_id=request.user.pk)
        if self.value() == "nobody":
            return queryset.filter(assignee__isnull=True)
        return queryset


class BugReadPageMixin:
    """Opening a bug shows its read page; the change form sits behind the page's "Edit" button (?edit=1)."""

    admin_site: admin.AdminSite

    def has_assign_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("bugs.assign_bug")

    def has_comment_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("bugs.add_comment")

    def get_urls(self) -> list[URLPattern]:
        assign = self.admin_site.admin_view(require_POST(self.assign_view))
        comment = self.admin_site.admin_view(require_POST(self.comment_view))
        return [
            path("<int:pk>/assign/", assign, name="bugs_bug_assign"),
            path("<int:pk>/comment/", comment, name="bugs_bug_comment"),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def comment_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Post a comment from the bug's page; mentioned users are notified once it is stored."""
        if not self.has_comment_permission(request):
            raise PermissionDenied
        bug = get_object_or_404(Bug, pk=pk)
        try:
            comment = comment_create(bug=bug, author=request.user, body=request.POST.get("body", ""))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            mentioned = ", ".join(comment.mentions)
            messages.success(request, f"Comment posted on {bug.key}." + (f" Mentioned: {mentioned}." if mentioned else ""))
        return HttpResponseRedirect(reverse("admin:bugs_bug_change", args=[bug.pk]) + "#bug-timeline")

    def assign_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_assign_permission(request):
            raise PermissionDenied
        bug = get_object_or_404(Bug, pk=pk)
        raw = request.POST.get("assignee", "")
        assignee = None
        if raw:
            assignee = history.assignable_user(pk=raw)
            if assignee is None:
                messages.error(request, "Choose an active operator.")
                return HttpResponseRedirect(reverse("admin:bugs_bug_change", args=[bug.pk]))
        try:
            bug_assign(bug=bug, assignee=assignee, actor=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{bug.key} assigned to {assignee.get_username() if assignee else 'nobody'}.")
        return HttpResponseRedirect(reverse("admin:bugs_bug_change", args=[bug.pk]))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None) -> Any:
        if request.method == "GET" and "edit" not in request.GET:
            return self.read_view(request, object_id)
        response = super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        if "_continue" in request.POST and isinstance(response, HttpResponseRedirect):
            # "Save and continue editing" goes back to the form, not to the read page.
            location = response["Location"]
            response["Location"] = location + ("&" if "?" in location else "?") + "edit=1"
        return response

    def read_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_view_or_change_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        page = history.bug_page(pk=_pk(object_id))
        if page is None:
            raise Http404("No such bug.")
        bug = page.bug
        context = {
            **self.admin_site.each_context(request),
            "opts": Bug._meta,
            "title": f"{bug.key}: {bug.title}",
            "page": page,
            "bug": bug,
            "sla_running": bug.status in ACTIVE_STATUSES,
            "sla_breached": bug.status in ACTIVE_STATUSES and bug.sla_due_at < timezone.now(),
            "can_edit": self.has_change_permission(request, bug),  # type: ignore[attr-defined]
            "strip_length": history.STRIP_LENGTH,
            "assignees": history.assignable_users() if self.has_assign_permission(request) else None,
            "can_comment": self.has_comment_permission(request),
        }
        return TemplateResponse(request, "admin/bugs/bug/read.html", context)


class FailureBugForm(forms.Form):
    """A bug from failures, pre-filled from the first failure and editable before it is created."""

    results = forms.CharField(widget=forms.HiddenInput)
    title = forms.CharField(max_length=300)
    severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.P2)
    category = forms.ChoiceField(choices=Category.choices, initial=Category.QUALITY)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), required=False)
    actual = forms.CharField(label="Error", widget=forms.Textarea(attrs={"rows": 10, "class": "vLargeTextField"}), required=False)


def _result_ids(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip().isdigit()][: history.FAILURES_SHOWN]


class RunTriageMixin:
    """A run's page groups its failures; each group offers "Create bug" and "Link to bug"."""

    admin_site: admin.AdminSite

    def has_triage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("bugs.triage_result")

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        custom = [
            path("<int:pk>/failures/create/", view(self.failure_create_view), name="bugs_run_failure_create"),
            path("<int:pk>/failures/link/", view(require_POST(self.failure_link_view)), name="bugs_run_failure_link"),
        ]
        return custom + super().get_urls()  # type: ignore[misc]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None) -> Any:
        extra = {
            **(extra_context or {}),
            "failure_groups": history.run_failure_groups(run_id=_pk(object_id)),
            "can_triage": self.has_triage_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra)  # type: ignore[misc]

    def _failures(self, request: HttpRequest, pk: int, raw: str) -> tuple[Run, list[Result]]:
        if not self.has_triage_permission(request):
            raise PermissionDenied
        run = get_object_or_404(Run, pk=pk)
        results = history.results_for_triage(run_id=run.pk, result_ids=_result_ids(raw))
        if not results:
            raise Http404("No failing result of this run was selected.")
        return run, results

    def failure_create_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        raw = request.POST.get("results", "") if request.method == "POST" else request.GET.get("results", "")
        run, results = self._failures(request, pk, raw)
        if request.method == "POST":
            form = FailureBugForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    bug = bug_create_from_results(
                        results=results, actor=request.user, title=data["title"], severity=data["severity"],
                        category=data["category"], description=data["description"], actual=data["actual"],
                    )  # fmt: skip
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    messages.success(request, f"{bug.key} created from {len(results)} failure(s) of run #{run.pk}.")
                    return HttpResponseRedirect(reverse("admin:bugs_bug_change", args=[bug.pk]))
        else:
            form = FailureBugForm(
                initial={
                    "results": ",".join(str(result.pk) for result in results),
                    "title": failure_title(results[0]),
                    "description": failure_description(results),
                    "actual": failure_actual(results),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": Run._meta,
            "title": f"Create a bug from {len(results)} failure(s) of run #{run.pk}",
            "run": run,
            "results": results,
            "form": form,
        }
        return TemplateResponse(request, "admin/bugs/run/failure_create.html", context)

    def failure_link_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        run, results = self._failures(request, pk, request.POST.get("results", ""))
        back = reverse("admin:bugs_run_change", args=[run.pk]) + "#failure-triage"
        try:
            bug = bug_by_key(request.POST.get("bug", "").strip())
            added = bug_attach_results(bug=bug, results=results)
        except DomainError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(back)
        messages.success(request, f"{added} failure(s) of run #{run.pk} linked to {bug.key}.")
        return HttpResponseRedirect(back)


@admin.register(FlakyTest)
class FlakyTestAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The linked tests with their flake rate over their latest runs, and the quarantine switch."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_quarantine_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("bugs.quarantine_regressiontest")

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(require_POST(self.quarantine_view))
        return [path("quarantine/", view, name="bugs_flakytest_quarantine"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": FlakyTest._meta,
            "title": "Flaky tests",
            "rates": history.flake_rates(),
            "window": settings.ATOM_BUGS_FLAKY_WINDOW,
            "can_quarantine": self.has_quarantine_permission(request),
        }
        return TemplateResponse(request, "admin/bugs/flakytest/flaky.html", context)

    def quarantine_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_quarantine_permission(request):
            raise PermissionDenied
        node_id = request.POST.get("node_id", "")
        quarantined = request.POST.get("quarantined") == "1"
        changed = regression_test_quarantine(node_id=node_id, quarantined=quarantined)
        if changed:
            done = "Quarantined: {} runs, but no longer resolves or reopens a bug." if quarantined else "Released from quarantine: {}."
            messages.success(request, done.format(node_id))
        else:
            messages.warning(request, f"Nothing changed for {node_id}.")
        return HttpResponseRedirect(reverse("admin:bugs_flakytest_changelist"))
