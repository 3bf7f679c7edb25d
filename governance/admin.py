"""The operator's console for governance. Every change goes through a service; history is read-only."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Field, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from atom.admin import ReadOnlyAdminMixin, permission_check
from atom.errors import DomainError
from governance.canvas_frame import FRAME_SANDBOX, canvas_frame_response
from governance.models import (
    MATURITY_RANK,
    RANK_MATURITY,
    ActionExecution,
    ActionPolicy,
    Agent,
    AgentState,
    AuditEntry,
    Canvas,
    CanvasAudit,
    MaturityChange,
    Proposal,
    ProposalStatus,
    SupervisionSession,
    SupervisionStatus,
)
from governance.selectors import OUTCOME_GROUPS
from governance.services.agents import agent_create, agent_funds_set, agent_update
from governance.services.decision import action_policy_delete, action_policy_save
from governance.services.maturity import agent_graduate, agent_maturity_set_by_admin, agent_state_set
from governance.services.proposals import proposal_approve, proposal_reject, supervision_close

TIER_COLOURS = {"STUDENT": "#6b7280", "INTERN": "#2563eb", "SUPERVISED": "#d97706", "AUTONOMOUS": "#059669"}
GREEN, BLUE, RED, GREY, AMBER = "#059669", "#2563eb", "#b91c1c", "#6b7280", "#d97706"
STATE_COLOURS: dict[str, str] = {AgentState.ACTIVE: GREEN, AgentState.PAUSED: AMBER, AgentState.STOPPED: RED}
PROPOSAL_COLOURS: dict[str, str] = {
    ProposalStatus.PENDING: BLUE,
    ProposalStatus.APPROVED: GREEN,
    ProposalStatus.EXECUTED: GREEN,
    ProposalStatus.FAILED: RED,
    ProposalStatus.REJECTED: GREY,
    ProposalStatus.EXPIRED: GREY,
}
OUTCOME_COLOURS = {"allowed": GREEN, "proposed": BLUE, "refused": RED, "failed": GREY}
FUNDS_FIELDS = frozenset({"budget", "daily_spend_cap"})


class CappedCountPaginator(Paginator):  # type: ignore[type-arg]
    """Never counts a whole huge table: counts at most ``CAP`` rows (an index-only walk) and stops there."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return len(self.object_list.values_list("pk", flat=True)[: self.CAP + 1])  # type: ignore[attr-defined]


def badge(text: str, colour: str) -> SafeString:
    return format_html(
        '<span style="background:{};color:#fff;padding:2px 8px;border-radius:8px;font-weight:600;white-space:nowrap">{}</span>',
        colour,
        text,
    )


def tier_badge(maturity: str) -> SafeString:
    return badge(maturity, TIER_COLOURS.get(maturity, "#000"))


def agent_link(agent_id: int | None, label: str) -> SafeString | str:
    if agent_id is None:
        return "-"
    return format_html('<a href="{}">{}</a>', reverse("admin:governance_agent_change", args=[agent_id]), label)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded with the tier change.")


class MaturityChangeInline(admin.TabularInline):  # type: ignore[type-arg]
    model = MaturityChange
    fk_name = "agent"
    extra = 0
    can_delete = False
    fields = ("created_at", "from_maturity", "to_maturity", "kind", "reason", "actor")
    readonly_fields = fields
    ordering = ["-id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "owner", "tier", "confidence", "budget", "daily_spend_cap", "state_badge", "updated_at"]
    list_filter = ["maturity", "state", "category"]
    search_fields = ["name", "owner__username"]
    list_per_page = 100
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["maturity", "confidence", "state", "spent_today", "spend_day", "created_at", "updated_at"]
    fields = ["owner", "name", "category", "capabilities", "budget", "daily_spend_cap", *readonly_fields]
    inlines = [MaturityChangeInline]
    actions = ["pause", "resume", "promote", "demote", "graduate"]
    has_pause_agent_permission = permission_check("governance.pause_agent")
    has_resume_agent_permission = permission_check("governance.resume_agent")
    has_promote_agent_permission = permission_check("governance.promote_agent")
    has_demote_agent_permission = permission_check("governance.demote_agent")
    has_graduate_agent_permission = permission_check("governance.graduate_agent")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        """The owner is chosen when the agent is created; no service moves an agent to another owner."""
        return [*self.readonly_fields, "owner"] if obj is not None else list(self.readonly_fields)

    def formfield_for_dbfield(self, db_field: Field[Any, Any], request: HttpRequest, **kwargs: Any) -> forms.Field | None:
        """The funds fields send back the value the form was opened with, so a save can tell whether the
        operator changed them or only left them as they were while the agent spent."""
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in FUNDS_FIELDS and formfield is not None:
            formfield.show_hidden_initial = True
        return formfield

    @transaction.atomic
    def save_model(self, request: HttpRequest, obj: Agent, form: Any, change: bool) -> None:
        """Creation and edits go through the services; tier, confidence and state only through the actions.
        The funds are set only when the operator changed them in the form: an unchanged budget is the one
        the form was opened with, and setting it would give back what the agent spent since."""
        fields = {"name": obj.name, "category": obj.category, "capabilities": obj.capabilities}
        if change:
            current = Agent.objects.select_for_update().get(pk=obj.pk)
            agent_update(agent=current, **fields)
            funds = FUNDS_FIELDS.intersection(form.changed_data)
        else:
            current = agent_create(owner=obj.owner, **fields)
            funds = FUNDS_FIELDS
        if funds:
            agent_funds_set(
                agent_id=current.pk,
                budget=obj.budget if "budget" in funds else current.budget,
                daily_spend_cap=obj.daily_spend_cap if "daily_spend_cap" in funds else current.daily_spend_cap,
            )
        obj.pk = current.pk
        obj.refresh_from_db()

    @admin.display(description="tier", ordering="maturity")
    def tier(self, agent: Agent) -> SafeString:
        return tier_badge(agent.maturity)

    @admin.display(description="state", ordering="state")
    def state_badge(self, agent: Agent) -> SafeString:
        return badge(agent.get_state_display(), STATE_COLOURS.get(agent.state, GREY))

    def _set_state(self, request: HttpRequest, queryset: QuerySet[Agent], state: str) -> None:
        for agent in queryset:
            agent_state_set(agent_id=agent.pk, state=state)
        self.message_user(request, f"{queryset.count()} agent(s) now {state}.")

    @admin.action(description="Pause selected agents", permissions=["pause_agent"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_state(request, queryset, AgentState.PAUSED)

    @admin.action(description="Resume selected agents", permissions=["resume_agent"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        self._set_state(request, queryset, AgentState.ACTIVE)

    def _change_tier(self, request: HttpRequest, queryset: QuerySet[Agent], step: int, title: str) -> HttpResponse | None:
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            changed = 0
            for agent in queryset:
                target = RANK_MATURITY.get(MATURITY_RANK[agent.maturity] + step)
                if target is None:
                    continue
                agent_maturity_set_by_admin(agent_id=agent.pk, actor=request.user, maturity=target, reason=form.cleaned_data["reason"])
                changed += 1
            self.message_user(request, f"{title}: {changed} agent(s) changed.")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "agents": queryset,
            "action": request.POST.get("action", ""),
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/governance/agent/tier_change.html", context)

    @admin.action(description="Promote one tier (with a reason)", permissions=["promote_agent"])
    def promote(self, request: HttpRequest, queryset: QuerySet[Agent]) -> HttpResponse | None:
        return self._change_tier(request, queryset, 1, "Promote one tier")

    @admin.action(description="Demote one tier (with a reason)", permissions=["demote_agent"])
    def demote(self, request: HttpRequest, queryset: QuerySet[Agent]) -> HttpResponse | None:
        return self._change_tier(request, queryset, -1, "Demote one tier")

    @admin.action(description="Graduate if the criteria are met", permissions=["graduate_agent"])
    def graduate(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset:
            report = agent_graduate(agent_id=agent.pk, actor=request.user)
            if report.eligible:
                self.message_user(request, f"{agent.name}: graduated to {report.target} (readiness {report.readiness}).")
            else:
                self.message_user(request, f"{agent.name}: not ready for {report.target}: {'; '.join(report.unmet)}", messages.WARNING)


@admin.register(ActionPolicy)
class ActionPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The action map. Saves and deletes go through services, which invalidate cached decisions."""

    list_display = ["name", "complexity", "proposable", "description", "updated_at"]
    list_editable = ["complexity", "proposable"]
    list_filter = ["complexity", "proposable"]
    search_fields = ["name"]

    def save_model(self, request: HttpRequest, obj: ActionPolicy, form: Any, change: bool) -> None:
        if change and obj.pk:
            old_name = ActionPolicy.objects.filter(pk=obj.pk).values_list("name", flat=True).first()
            if old_name and old_name != obj.name.strip().lower():
                action_policy_delete(policy=ActionPolicy.objects.get(pk=obj.pk))
        saved = action_policy_save(name=obj.name, complexity=obj.complexity, proposable=obj.proposable, description=obj.description)
        obj.pk, obj.name, obj.proposable = saved.pk, saved.name, saved.proposable

    def delete_model(self, request: HttpRequest, obj: ActionPolicy) -> None:
        action_policy_delete(policy=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ActionPolicy]) -> None:
        for policy in queryset:
            action_policy_delete(policy=policy)


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """History is written by services only."""


@admin.register(Proposal)
class ProposalAdmin(ReadOnlyAdmin):
    """Pending first is the operator's queue; approval and rejection go through the services."""

    list_display = [
        "id",
        "agent_tier",
        "action",
        "complexity",
        "cost",
        "status_badge",
        "reviewer",
        "created_at",
        "expires_at",
        "execution_link",
    ]
    list_filter = ["status", "agent__maturity"]
    search_fields = ["action", "agent__name"]
    list_select_related = ["agent", "reviewer", "execution"]
    ordering = ["-id"]
    list_per_page = 100
    actions = ["approve", "reject"]
    has_approve_proposal_permission = permission_check("governance.approve_proposal")
    has_reject_proposal_permission = permission_check("governance.reject_proposal")

    @admin.display(description="agent", ordering="agent__name")
    def agent_tier(self, proposal: Proposal) -> SafeString:
        return format_html("{} {}", agent_link(proposal.agent_id, proposal.agent.name), tier_badge(proposal.agent.maturity))

    @admin.display(description="status", ordering="status")
    def status_badge(self, proposal: Proposal) -> SafeString:
        return badge(proposal.get_status_display(), PROPOSAL_COLOURS.get(proposal.status, GREY))

    @admin.display(description="execution")
    def execution_link(self, proposal: Proposal) -> SafeString | str:
        execution = getattr(proposal, "execution", None)
        if execution is None:
            return "-"
        url = reverse("admin:governance_actionexecution_change", args=[execution.pk])
        return format_html('<a href="{}">#{} {}</a>', url, execution.pk, execution.get_status_display())

    def _decide(self, request: HttpRequest, queryset: QuerySet[Proposal], approve: bool) -> None:
        for proposal in queryset.filter(status=ProposalStatus.PENDING):
            try:
                if approve:
                    decided = proposal_approve(proposal=proposal, reviewer=request.user, reason="Approved in the admin.")
                else:
                    decided = proposal_reject(proposal=proposal, reviewer=request.user, reason="Rejected in the admin.")
            except DomainError as exc:
                self.message_user(request, f"Proposal #{proposal.pk}: {exc.message}", messages.ERROR)
                continue
            execution = ActionExecution.objects.filter(proposal=decided).first()
            if execution is None:
                self.message_user(request, f"Proposal #{decided.pk}: {decided.status}.")
                continue
            url = reverse("admin:governance_actionexecution_change", args=[execution.pk])
            self.message_user(
                request, format_html('Proposal #{}: {}. <a href="{}">Execution #{}</a>', decided.pk, decided.status, url, execution.pk)
            )

    @admin.action(description="Approve selected proposals (and execute)", permissions=["approve_proposal"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Proposal]) -> None:
        self._decide(request, queryset, approve=True)

    @admin.action(description="Reject selected proposals", permissions=["reject_proposal"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Proposal]) -> None:
        self._decide(request, queryset, approve=False)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Fast on millions of rows: no full count, a capped paginator, filters on indexed columns only."""

    list_display = ["id", "created_at", "agent_name", "actor", "action", "tier", "outcome_badge", "cost"]
    list_filter = ["outcome", "maturity"]
    list_select_related = ["actor", "agent"]
    # Only the indexed action name, matched exactly: a contains-search would scan millions of rows.
    search_fields = ["=action"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    ordering = ["-id"]
    list_per_page = 100

    @admin.display(description="agent")
    def agent_name(self, entry: AuditEntry) -> SafeString | str:
        return agent_link(entry.agent_id, entry.agent.name if entry.agent else "")

    @admin.display(description="tier at decision", ordering="maturity")
    def tier(self, entry: AuditEntry) -> SafeString | str:
        return tier_badge(entry.maturity) if entry.maturity else "-"

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, entry: AuditEntry) -> SafeString:
        return badge(entry.get_outcome_display(), OUTCOME_COLOURS.get(OUTCOME_GROUPS.get(entry.outcome, ""), GREY))


@admin.register(ActionExecution)
class ActionExecutionAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "agent", "action", "status", "cost", "proposal"]
    list_filter = ["status"]
    search_fields = ["=action"]
    list_select_related = ["agent", "proposal"]
    show_full_result_count = False
    paginator = CappedCountPaginator


@admin.register(SupervisionSession)
class SupervisionSessionAdmin(ReadOnlyAdmin):
    list_display = ["id", "agent", "execution", "status", "supervisor", "opened_at", "closed_at"]
    list_filter = ["status"]
    list_select_related = ["agent", "execution", "supervisor"]
    actions = ["close"]
    has_close_supervision_permission = permission_check("governance.close_supervision")

    @admin.action(description="Close selected supervision records", permissions=["close_supervision"])
    def close(self, request: HttpRequest, queryset: QuerySet[SupervisionSession]) -> None:
        for session in queryset.filter(status=SupervisionStatus.OPEN):
            supervision_close(session=session, supervisor=request.user)


class CanvasAuditInline(admin.TabularInline):  # type: ignore[type-arg]
    model = CanvasAudit
    extra = 0
    can_delete = False
    fields = ("created_at", "actor", "code_hash", "code_bytes", "outcome", "reason")
    readonly_fields = fields
    ordering = ["-id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Canvas)
class CanvasAdmin(ReadOnlyAdmin):
    """Canvases read-only, each shown as the agent made it inside a sandboxed frame (governance.canvas_frame)."""

    list_display = ["id", "agent", "kind", "title", "script_hash", "updated_at"]
    list_filter = ["kind"]
    list_select_related = ["agent"]
    inlines = [CanvasAuditInline]
    readonly_fields = ["preview"]
    # The canvas as drawn first; what it is made of (Markdown, the chart's or form's JSON, the script) below, folded.
    fieldsets = [
        (None, {"fields": ["agent", "kind", "title", "preview"]}),
        ("Source", {"fields": ["content", "data", "script", "script_hash"], "classes": ["collapse"]}),
    ]

    @admin.display(description="preview (sandboxed: no network, no access to this page)")
    def preview(self, canvas: Canvas) -> SafeString | str:
        if canvas.pk is None:
            return "-"
        url = reverse("admin:governance_canvas_frame", args=[canvas.pk])
        return format_html(
            '<iframe class="canvas-frame" sandbox="{}" src="{}" referrerpolicy="no-referrer" title="canvas {}" '
            'style="width:900px;max-width:100%;height:480px;border:1px solid #ccc"></iframe>',
            FRAME_SANDBOX,
            url,
            canvas.pk,
        )

    def get_urls(self) -> list[URLPattern]:
        frame = path("<int:pk>/frame/", self.admin_site.admin_view(self.frame_view), name="governance_canvas_frame")
        return [frame, *super().get_urls()]

    def frame_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The canvas document for the preview frame; only for those who may view canvases."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return canvas_frame_response(request, get_object_or_404(Canvas, pk=pk))
