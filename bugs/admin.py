"""The operators' console for the hardening loop: bugs, runs with live progress, suites, SLA policy.

Every write goes through the services of bugs.services, so the admin obeys the same status rules as the API.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from atom.admin import ReadOnlyAdminMixin, permission_check
from atom.errors import DomainError
from bugs import admin_projects, git, report, selectors
from bugs.admin_pages import AssignedFilter, BugReadPageMixin, RunTriageMixin
from bugs.models import Bug, BugStatusChange, RegressionTest, Result, Run, RunShard, RunStatus, SeverityPolicy, Suite, SuiteEnvironment
from bugs.services.bugs import EDITABLE_FIELDS, bug_by_key, bug_change, bug_create, severity_policy_update
from bugs.services.proofs import proof_enqueue
from bugs.services.runs import run_cancel, run_trigger
from bugs.services.status import bug_mark_duplicate, bug_status_refusal
from bugs.services.suites import suite_validate
from bugs.uploads import upload_response
from bugs.validators import test_link_validate

__all__ = ["admin_projects"]  # imported for its registrations: the projects' and webhook deliveries' admin


class SlaBreachedFilter(admin.SimpleListFilter):
    title = "SLA breached"
    parameter_name = "sla_breached"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Breached"), ("no", "Within SLA")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Bug]) -> QuerySet[Bug]:
        if self.value() == "yes":
            return queryset.filter(selectors.sla_breached_filter())
        if self.value() == "no":
            return queryset.exclude(selectors.sla_breached_filter())
        return queryset


class RegressionTestFilter(admin.SimpleListFilter):
    title = "regression test"
    parameter_name = "regression_test"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("linked", "Linked"), ("missing", "Missing"), ("regressed", "Regressed (reopened by a failing test)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Bug]) -> QuerySet[Bug]:
        linked = Exists(RegressionTest.objects.filter(bug=OuterRef("pk")))
        if self.value() == "linked":
            return queryset.filter(linked)
        if self.value() == "missing":
            return queryset.exclude(linked)
        if self.value() == "regressed":
            return queryset.filter(is_regression=True)
        return queryset


class FlakyFilter(admin.SimpleListFilter):
    title = "flaky test"
    parameter_name = "flaky"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has a flaky test")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Bug]) -> QuerySet[Bug]:
        if self.value() == "yes":
            return queryset.filter(Exists(RegressionTest.objects.filter(bug=OuterRef("pk"), is_flaky=True)))
        return queryset


class RegressionTestForm(forms.ModelForm):  # type: ignore[type-arg]
    """A link names a pytest node id or another tool's test identity, in the one text form every interface reads."""

    class Meta:
        model = RegressionTest
        fields = ["node_id"]

    def clean_node_id(self) -> str:
        try:
            return test_link_validate(str(self.cleaned_data.get("node_id") or ""))
        except DomainError as exc:
            raise forms.ValidationError(str(exc)) from exc


class RegressionTestInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RegressionTest
    form = RegressionTestForm
    extra = 1
    fields = ["node_id", "source", "is_flaky", "flaky_commit", "latest", "proof"]
    readonly_fields = ["source", "flaky_commit", "latest", "proof"]

    @admin.display(description="catches its bug")
    def proof(self, obj: RegressionTest) -> str:
        return obj.proof_detail if obj.pk else "—"

    @admin.display(description="latest result")
    def latest(self, obj: RegressionTest) -> str:
        result = obj.last_result
        return f"{result.outcome} (run #{result.run_id})" if result else "—"


class StatusChangeInline(admin.TabularInline):  # type: ignore[type-arg]
    model = BugStatusChange
    extra = 0
    can_delete = False
    fields = ["created_at", "from_status", "to_status", "actor", "automatic", "run", "reason"]
    readonly_fields = ["created_at", "from_status", "to_status", "actor", "automatic", "run", "reason"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class BugForm(forms.ModelForm):  # type: ignore[type-arg]
    """Checks a status change against the rules before anything is saved."""

    reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Why the status changes (kept in the history)."
    )

    class Meta:
        model = Bug
        fields = [
            "key", "project", "title", "severity", "category", "status", "component", "description", "root_cause", "reproduction",
            "expected", "actual", "fix_strategy", "fix_commit", "verification_note", "reporter", "assignee",
            "discovered_at", "duplicate_of",
        ]  # fmt: skip

    def clean_fix_commit(self) -> str:
        commit = git.sha_normalize(str(self.cleaned_data.get("fix_commit") or ""))
        if commit and not git.is_sha(commit):
            raise forms.ValidationError("The fix commit must be a commit hash.")
        return commit

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        instance = self.instance
        if instance.pk and "status" in data:
            original = Bug.objects.get(pk=instance.pk)
            if data["status"] == original.status and data.get("fix_commit", original.fix_commit) == original.fix_commit:
                return data
            refusal = bug_status_refusal(
                bug=original, to_status=data["status"], fix_commit=data.get("fix_commit"), duplicate_of=data.get("duplicate_of")
            )
            if refusal:
                raise forms.ValidationError(refusal)
        return data


class DuplicateActionForm(ActionForm):
    duplicate_of = forms.CharField(required=False, label="Duplicate of (key)", max_length=16)


@admin.register(Bug)
class BugAdmin(BugReadPageMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = BugForm
    action_form = DuplicateActionForm
    # Short columns so the list fits 1280 px with the sidebar open (see admin/bugs/bug/change_list.html).
    list_display = ["key", "title", "severity_short", "status", "category", "sla_state", "latest_result", "regression"]
    change_list_template = "admin/bugs/bug/change_list.html"
    list_filter = ["project", "severity", "status", "category", AssignedFilter, SlaBreachedFilter, RegressionTestFilter, FlakyFilter]
    search_fields = ["key", "title", "component"]
    list_per_page = 100
    show_full_result_count = False
    inlines = [RegressionTestInline, StatusChangeInline]
    readonly_fields = ["sla_due_at", "resolved_at", "verified_by", "is_regression"]
    raw_id_fields = ["reporter", "duplicate_of"]
    autocomplete_fields = ["assignee"]  # chosen among the users by name
    actions = ["run_regression_tests", "prove_regressions", "export_triage_report", "mark_duplicate"]
    has_run_regressions_permission = permission_check("bugs.run_regressions")
    has_prove_regressions_permission = permission_check("bugs.prove_regressions")
    has_export_triage_report_permission = permission_check("bugs.export_triage_report")
    has_mark_duplicate_bug_permission = permission_check("bugs.mark_duplicate_bug")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Bug]:
        return selectors.bug_list()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A bug is registered in a project and stays there (its fix commits are read from that repository).
        return [*self.readonly_fields, "project"] if obj is not None else self.readonly_fields

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Bug], search_term: str) -> tuple[QuerySet[Bug], bool]:
        """By key, title, text and linked test node id (full-text on PostgreSQL)."""
        return selectors.bug_search(queryset, term=search_term), False

    @admin.display(description="sev.", ordering="severity")
    def severity_short(self, obj: Bug) -> str:
        return obj.severity

    @admin.display(description="SLA due", ordering="sla_due_at")
    def sla_state(self, obj: Bug) -> str:
        due = timezone.localtime(obj.sla_due_at).strftime("%d %b %Y %H:%M")
        if obj.status in ("open", "in_progress", "reopened") and obj.sla_due_at < timezone.now():
            return format_html('{} <strong class="sla-breached">BREACHED</strong>', due)
        return due

    @admin.display(description="regr.", boolean=True, ordering="is_regression")
    def regression(self, obj: Bug) -> bool:
        return obj.is_regression

    @admin.display(description="latest result")
    def latest_result(self, obj: Bug) -> str:
        outcomes = [t.last_result.outcome + (" (flaky)" if t.is_flaky else "") for t in obj.regression_tests.all() if t.last_result]
        if not outcomes:
            return "no test" if not obj.regression_tests.all() else "not run"
        return ", ".join(outcomes)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The change form; a refusal of the services while saving rolls the save back and is shown as an error."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: Bug, form: Any, change: bool) -> None:
        data = form.cleaned_data
        fields = {k: data[k] for k in EDITABLE_FIELDS if k in data and k != "fix_commit"}
        reason = data.get("reason") or "Changed in the admin."
        if not change:
            created = bug_create(key=obj.key, actor=request.user, reason=reason, project=data.get("project"), **fields)
            obj.pk = created.pk
            obj.refresh_from_db()
            return
        bug = Bug.objects.get(pk=obj.pk)
        bug_change(
            bug=bug,
            actor=request.user,
            reason=reason,
            status=data.get("status", bug.status),
            fix_commit=data.get("fix_commit", bug.fix_commit),
            duplicate_of=data.get("duplicate_of"),
            **fields,
        )
        obj.refresh_from_db()

    @admin.action(description="Run regression tests of the selected bugs", permissions=["run_regressions"])
    def run_regression_tests(self, request: HttpRequest, queryset: QuerySet[Bug]) -> None:
        try:
            run = run_trigger(bug_keys=list(queryset.values_list("key", flat=True)), trigger=Run.Trigger.ADMIN, triggered_by=request.user)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        url = reverse("admin:bugs_run_change", args=[run.pk])
        self.message_user(
            request, format_html('Run <a href="{}">#{}</a> queued: {} linked tests.', url, run.pk, len(run.node_ids)), messages.SUCCESS
        )

    @admin.action(
        description="Prove that the selected bugs' tests catch them (fail before the fix, pass at it)", permissions=["prove_regressions"]
    )
    def prove_regressions(self, request: HttpRequest, queryset: QuerySet[Bug]) -> None:
        keys = list(queryset.exclude(fix_commit="").filter(regression_tests__isnull=False).distinct().values_list("key", flat=True))
        if not keys:
            self.message_user(request, "None of the selected bugs has a fix commit and a linked test.", messages.ERROR)
            return
        try:
            proof_enqueue(keys=keys)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"Proof queued for {', '.join(keys)}: the verdicts appear on each bug's tests.", messages.SUCCESS)

    @admin.action(description="Export triage report (Markdown) of the selected bugs", permissions=["export_triage_report"])
    def export_triage_report(self, request: HttpRequest, queryset: QuerySet[Bug]) -> HttpResponse:
        projects = set(queryset.values_list("project__slug", flat=True))
        # Bugs of one project: the report names it; a selection across projects is a report of all of them.
        project = projects.pop() if len(projects) == 1 else ""
        keys = tuple(queryset.values_list("key", flat=True))
        text = report.triage_report(fmt="markdown", filters=report.TriageFilters(keys=keys, project=project))
        response = HttpResponse(text, content_type=report.CONTENT_TYPES["markdown"])
        response["Content-Disposition"] = f'attachment; filename="bug_triage_report_{timezone.now():%Y%m%d}.md"'
        return response

    @admin.action(description="Mark as duplicate of the key given above", permissions=["mark_duplicate_bug"])
    def mark_duplicate(self, request: HttpRequest, queryset: QuerySet[Bug]) -> None:
        key = (request.POST.get("duplicate_of") or "").strip()
        try:
            target = bug_by_key(key)
            moved = bug_mark_duplicate(bugs=list(queryset), of=target, actor=request.user)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"{moved} bug(s) marked as duplicates of {target.key}.", messages.SUCCESS)


RESULT_FIELDS = ("node_id", "outcome", "duration_seconds", "attempts", "is_flaky", "message")


class ResultInline(admin.TabularInline):  # type: ignore[type-arg]
    """The first results of the run, errors and failures first; the run page links to all of them."""

    model = Result
    extra = 0
    can_delete = False
    fields = readonly_fields = RESULT_FIELDS
    ordering = ["outcome", "node_id"]  # error, failed, passed, skipped
    shown = 100
    verbose_name_plural = f"results (the first {shown}, errors and failures first)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Result]:
        match = request.resolver_match
        run_id = match.kwargs.get("object_id") if match else None
        if run_id is None:
            return Result.objects.none()
        first = Result.objects.filter(run_id=run_id).order_by(*self.ordering).values_list("pk", flat=True)[: self.shown]
        return super().get_queryset(request).filter(pk__in=list(first))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Result)
class ResultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Every result of every run, read-only, found by run, outcome and node id."""

    list_display = ["outcome", "run", "duration", "attempts", "is_flaky", "node_id"]  # long node ids last
    list_display_links = ["node_id"]
    list_filter = ["outcome", "is_flaky"]
    search_fields = ["node_id"]
    list_select_related = ["run"]
    readonly_fields = fields = ("run", *RESULT_FIELDS)
    show_full_result_count = False
    list_per_page = 200

    @admin.display(description="duration", ordering="duration_seconds")
    def duration(self, obj: Result) -> str:
        return f"{obj.duration_seconds:.3f} s"


class ShardInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RunShard
    extra = 0
    can_delete = False
    fields = ["index", "status", "done", "total", "attempts", "claimed_by", "lease_expires_at", "exit_code", "error_message"]
    readonly_fields = ["index", "status", "done", "total", "attempts", "claimed_by", "lease_expires_at", "exit_code", "error_message"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def run_progress_data(run: Run) -> dict[str, Any]:
    """What the live progress bar shows; the same figures as the run API."""
    return {
        "id": run.pk,
        "status": run.status,
        "done": run.done,
        "total": run.total,
        "collecting": not run.total and run.status in (RunStatus.QUEUED, RunStatus.RUNNING),
        "passed": run.passed,
        "failed": run.failed,
        "errors": run.errors,
        "skipped": run.skipped,
        "finished": run.finished_at is not None,
        "commit": run.commit_sha[:12],
    }


@admin.register(Run)
class RunAdmin(RunTriageMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "suite", "status", "progress", "passed", "failed", "errors", "commit_short", "branch", "trigger", "created_at"]
    list_filter = [("suite__project", admin.RelatedOnlyFieldListFilter), "status", "trigger", "suite"]
    list_select_related = ["suite"]
    show_full_result_count = False
    readonly_fields = [
        "suite", "status", "progress", "trigger", "triggered_by", "rerun_of", "commit_sha", "branch", "build", "upload_sha256",
        "uploaded_report", "total", "done", "passed", "failed", "errors", "skipped", "duration_seconds", "error_message",
        "created_at", "started_at", "finished_at", "all_results",
    ]  # fmt: skip
    exclude = ["node_ids"]
    inlines = [ShardInline, ResultInline]
    actions = ["cancel_runs"]
    has_cancel_run_permission = permission_check("bugs.cancel_run")
    change_form_template = "admin/bugs/run/change_form.html"  # the failures, grouped for triage

    class Media:
        js = ["bugs/run_progress.js"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="commit")
    def commit_short(self, obj: Run) -> str:
        return obj.commit_sha[:12]

    @admin.display(description="results")
    def all_results(self, obj: Run) -> str:
        url = reverse("admin:bugs_result_changelist") + f"?run__id__exact={obj.pk}"
        return format_html('<a href="{}">All results of this run</a> (filter by outcome, search by node id)', url)

    @admin.display(description="progress")
    def progress(self, obj: Run) -> str:
        url = reverse("admin:bugs_run_progress", args=[obj.pk])
        # Until pytest has collected, the total is unknown: "collecting", never a guess that grows.
        total = "collecting" if run_progress_data(obj)["collecting"] else obj.total
        return format_html(
            '<span data-run-progress="{}"><progress value="{}" max="{}"></progress> <span class="run-progress-text">{}/{} {}</span></span>',
            url, obj.done, max(obj.total, 1), obj.done, total, obj.status,
        )  # fmt: skip

    @admin.display(description="uploaded report")
    def uploaded_report(self, obj: Run) -> str:
        if not obj.upload_sha256:
            return "—"
        return format_html('<a href="{}">Download the report as uploaded</a>', reverse("admin:bugs_run_upload", args=[obj.pk]))

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path("<int:pk>/progress/", self.admin_site.admin_view(self.progress_view), name="bugs_run_progress"),
            path("<int:pk>/upload/", self.admin_site.admin_view(self.upload_view), name="bugs_run_upload"),
        ]
        return custom + super().get_urls()

    def upload_view(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        upload = selectors.run_upload(run_id=pk) if self.has_view_permission(request) else None
        if upload is None:
            raise Http404("No uploaded report.")
        return upload_response(upload, content_type="application/octet-stream")

    def progress_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        if not self.has_view_permission(request):
            return JsonResponse({"error": "forbidden"}, status=403)
        return JsonResponse(run_progress_data(get_object_or_404(Run, pk=pk)))

    @admin.action(description="Cancel the selected runs", permissions=["cancel_run"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        for run in queryset:
            try:
                run_cancel(run=run)
            except DomainError as exc:
                self.message_user(request, f"Run #{run.pk}: {exc.message}", messages.WARNING)


class SuiteForm(forms.ModelForm):  # type: ignore[type-arg]
    """The suite's interpreter and requirement files checked as the API checks them (bugs.services.suites)."""

    class Meta:
        model = Suite
        fields = [
            "name",
            "project",
            "checkout_path",
            "python",
            "requirements",
            "pytest_args",
            "environment",
            "timeout_seconds",
            "description",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            cleaned = suite_validate({k: data[k] for k in ("python", "requirements", "checkout_path") if k in data})
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc
        data.update(cleaned)
        return data


_ENV_INLINE_FIELDS = ("hash", "status", "python_version", "requirements", "built_at", "error_message", "log_link")
_ENV_FIELDS = (
    "suite",
    "hash",
    "status",
    "python",
    "python_version",
    "requirements",
    "path",
    "error_message",
    "created_at",
    "built_at",
    "build_log",
)


class SuiteEnvironmentInline(admin.TabularInline):  # type: ignore[type-arg]
    model = SuiteEnvironment
    extra = 0
    fields = _ENV_INLINE_FIELDS
    readonly_fields = _ENV_INLINE_FIELDS
    can_delete = False
    max_num = 0

    @admin.display(description="build log")
    def log_link(self, obj: SuiteEnvironment) -> str:
        return format_html('<a href="{}">log</a>', reverse("admin:bugs_suiteenvironment_change", args=[obj.pk]))


@admin.register(SuiteEnvironment)
class SuiteEnvironmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["suite", "hash_short", "status", "python_version", "built_at", "created_at"]
    list_filter = ["status"]
    fields = _ENV_FIELDS
    readonly_fields = _ENV_FIELDS

    @admin.display(description="hash")
    def hash_short(self, obj: SuiteEnvironment) -> str:
        return obj.hash[:12]

    @admin.display(description="log")
    def build_log(self, obj: SuiteEnvironment) -> str:
        return format_html('<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>', obj.log or "(empty)")


@admin.register(Suite)
class SuiteAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = SuiteForm
    list_display = ["name", "project", "checkout_path", "python", "requirements", "pytest_args", "timeout_seconds"]
    inlines = [SuiteEnvironmentInline]
    actions = ["run_suite"]
    has_run_regressions_permission = permission_check("bugs.run_regressions")

    @admin.action(description="Run the selected suites", permissions=["run_regressions"])
    def run_suite(self, request: HttpRequest, queryset: QuerySet[Suite]) -> None:
        for suite in queryset:
            run = run_trigger(suite=suite, trigger=Run.Trigger.ADMIN, triggered_by=request.user)
            self.message_user(request, f"Run #{run.pk} of {suite.name} queued.", messages.SUCCESS)


@admin.register(SeverityPolicy)
class SeverityPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["severity", "sla_hours", "description"]
    list_editable = ["sla_hours"]

    def save_model(self, request: HttpRequest, obj: SeverityPolicy, form: Any, change: bool) -> None:
        policy = severity_policy_update(severity=obj.severity, sla_hours=obj.sla_hours)
        if obj.description != policy.description:
            SeverityPolicy.objects.filter(pk=policy.pk).update(description=obj.description)
        obj.pk = policy.pk
