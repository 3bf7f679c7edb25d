"""Governance data: agents and their tiers, the action map, proposals, supervision, audit and canvases.

Rows that record history (audit entries, proposals, executions, outcomes, canvases) point at their agent
with ``on_delete=PROTECT``: an agent with a history cannot vanish from under its audit trail.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q


class Maturity(models.TextChoices):
    """The four maturity tiers, lowest to highest."""

    STUDENT = "STUDENT", "Student"
    INTERN = "INTERN", "Intern"
    SUPERVISED = "SUPERVISED", "Supervised"
    AUTONOMOUS = "AUTONOMOUS", "Autonomous"


# Tier k may perform actions of complexity <= k.
MATURITY_RANK: dict[str, int] = {
    Maturity.STUDENT: 1,
    Maturity.INTERN: 2,
    Maturity.SUPERVISED: 3,
    Maturity.AUTONOMOUS: 4,
}
RANK_MATURITY: dict[int, str] = {rank: tier for tier, rank in MATURITY_RANK.items()}
# Lower bound (inclusive) of each tier's confidence band.
MATURITY_FLOOR: dict[str, Decimal] = {
    Maturity.STUDENT: Decimal("0"),
    Maturity.INTERN: Decimal("0.5"),
    Maturity.SUPERVISED: Decimal("0.7"),
    Maturity.AUTONOMOUS: Decimal("0.9"),
}


class AgentState(models.TextChoices):
    """Run state, separate from maturity: paused and stopped agents are denied everything."""

    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"


class Agent(models.Model):
    """An AI agent owned by a user, governed by its maturity tier, confidence, state and budget.

    Maturity and state are always read from this row (never from token claims), and cached decisions
    are keyed by them, so a demotion or a pause takes effect on the very next request.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="agents")
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=100, blank=True, default="")
    maturity = models.CharField(max_length=16, choices=Maturity.choices, default=Maturity.STUDENT)
    confidence = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0.4"))
    state = models.CharField(max_length=16, choices=AgentState.choices, default=AgentState.ACTIVE)
    budget = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    daily_spend_cap = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("10.00"))
    spent_today = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    spend_day = models.DateField(null=True, blank=True)
    capabilities = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # One permission per consequential act (see the roles table of the README); staff status grants none.
        permissions = [
            ("pause_agent", "Can pause agents"),
            ("resume_agent", "Can resume agents"),
            ("promote_agent", "Can promote agents one tier"),
            ("demote_agent", "Can demote agents one tier"),
            ("graduate_agent", "Can graduate agents that meet the criteria"),
        ]
        ordering = ["id"]
        indexes = [models.Index(fields=["owner", "id"], name="gov_agent_owner_id")]
        constraints = [
            models.CheckConstraint(condition=Q(confidence__gte=0) & Q(confidence__lte=1), name="gov_agent_confidence_0_1"),
            models.CheckConstraint(condition=Q(budget__gte=0), name="gov_agent_budget_nonneg"),
            models.CheckConstraint(condition=Q(daily_spend_cap__gte=0), name="gov_agent_daily_cap_nonneg"),
            models.CheckConstraint(condition=Q(spent_today__gte=0), name="gov_agent_spent_today_nonneg"),
            models.CheckConstraint(condition=Q(maturity__in=Maturity.values), name="gov_agent_maturity_valid"),
            models.CheckConstraint(condition=Q(state__in=AgentState.values), name="gov_agent_state_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.maturity})"


class ActionPolicy(models.Model):
    """One entry of the action map: an action name, the complexity (= tier) it needs, and whether an
    under-tier request may become a proposal instead of being blocked."""

    name = models.CharField(max_length=100, unique=True)
    complexity = models.PositiveSmallIntegerField()
    proposable = models.BooleanField(default=True)
    description = models.CharField(max_length=300, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["complexity", "name"]
        verbose_name_plural = "action policies"
        constraints = [
            models.CheckConstraint(condition=Q(complexity__gte=1) & Q(complexity__lte=4), name="gov_action_complexity_1_4"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.complexity})"


class ActionMapVersion(models.Model):
    """A single row whose ``version`` moves on every change of the action map (cache invalidation)."""

    version = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"action map v{self.version}"


class Decision(models.TextChoices):
    """What the governance decision said about one request."""

    EXECUTE = "execute", "Executed"
    SUPERVISED = "supervised", "Executed under supervision"
    PROPOSAL = "proposal", "Proposal created"
    BLOCKED = "blocked", "Blocked"
    NOT_FOUND = "not_found", "Agent not found or not owned"
    INACTIVE = "inactive", "Agent inactive"
    UNKNOWN_ACTION = "unknown_action", "Unknown action"
    BUDGET_EXCEEDED = "budget_exceeded", "Budget exceeded"
    RATE_LIMITED = "rate_limited", "Rate limited"
    APPROVED = "approved", "Proposal approved"
    REJECTED = "rejected", "Proposal rejected"
    FAILED = "failed", "Execution failed"


class AuditEntry(models.Model):
    """One governance decision, allowed or not. Append-only: the database refuses updates."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_entries")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=100)
    complexity = models.PositiveSmallIntegerField(null=True, blank=True)
    maturity = models.CharField(max_length=16, blank=True, default="")
    confidence = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Decision.choices)
    reason = models.CharField(max_length=300, blank=True, default="")
    cost = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["agent", "-id"], name="gov_audit_agent_id"),
            models.Index(fields=["outcome", "-id"], name="gov_audit_outcome_id"),
            models.Index(fields=["action", "-id"], name="gov_audit_action_id"),
            models.Index(fields=["maturity", "-id"], name="gov_audit_maturity_id"),
            # The dashboard counts the last day's decisions per hour and outcome from this index alone.
            models.Index(fields=["created_at", "outcome"], name="gov_audit_created_outcome"),
        ]

    def __str__(self) -> str:
        return f"{self.action} → {self.outcome}"


class ProposalStatus(models.TextChoices):
    """Life of a proposal: pending → approved → executed | failed, or rejected, or expired."""

    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    EXECUTED = "executed", "Executed"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"


class Proposal(models.Model):
    """An action an agent asked for above its tier, waiting for a human reviewer. Nothing runs before."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="proposals")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=100)
    complexity = models.PositiveSmallIntegerField()
    params = models.JSONField(default=dict, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    status = models.CharField(max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.PENDING)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    review_reason = models.CharField(max_length=500, blank=True, default="")
    failure_reason = models.CharField(max_length=300, blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [
            ("approve_proposal", "Can approve proposals (the action runs and is charged)"),
            ("reject_proposal", "Can reject proposals"),
        ]
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="gov_proposal_status_exp"),
            models.Index(fields=["agent", "-id"], name="gov_proposal_agent_id"),
        ]
        constraints = [models.CheckConstraint(condition=Q(cost__gte=0), name="gov_proposal_cost_nonneg")]

    def __str__(self) -> str:
        return f"Proposal #{self.pk} {self.action} ({self.status})"


class ExecutionStatus(models.TextChoices):
    """RECORDED: Atom cannot perform the action itself; it is recorded with its parameters for the
    agent's runtime to carry out. COMPLETED: Atom performed it (e.g. a canvas was written)."""

    RECORDED = "recorded", "Recorded for the agent runtime"
    COMPLETED = "completed", "Completed by Atom"


class ActionExecution(models.Model):
    """An action that governance allowed and that ran (or was recorded to run): never a faked result."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="executions")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices)
    result = models.JSONField(null=True, blank=True)
    proposal = models.OneToOneField(Proposal, on_delete=models.PROTECT, null=True, blank=True, related_name="execution")
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["agent", "-id"], name="gov_exec_agent_id")]

    def __str__(self) -> str:
        return f"{self.action} ({self.status})"


class SupervisionStatus(models.TextChoices):
    """A supervision record stays open until a human closes it."""

    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class SupervisionSession(models.Model):
    """Opened when a SUPERVISED agent performs an action of its own tier (complexity 3)."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="supervision_sessions")
    execution = models.OneToOneField(ActionExecution, on_delete=models.PROTECT, related_name="supervision")
    status = models.CharField(max_length=16, choices=SupervisionStatus.choices, default=SupervisionStatus.OPEN)
    supervisor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    interventions = models.PositiveIntegerField(default=0)
    notes = models.TextField(blank=True, default="")
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("close_supervision", "Can close supervision records")]
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "-id"], name="gov_supervision_status_id")]

    def __str__(self) -> str:
        return f"Supervision #{self.pk} ({self.status})"


class AgentOutcome(models.Model):
    """The result of one completed episode of an agent: the evidence graduation reads."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="outcomes")
    reference = models.CharField(max_length=200)
    success = models.BooleanField()
    interventions = models.PositiveIntegerField(default=0)
    constitutional_score = models.FloatField()
    confidence = models.DecimalField(max_digits=5, decimal_places=4)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "reference"], name="gov_outcome_agent_reference"),
            models.CheckConstraint(condition=Q(constitutional_score__gte=0) & Q(constitutional_score__lte=1), name="gov_outcome_score_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.reference}"


class MaturityChangeKind(models.TextChoices):
    """Why a tier changed."""

    GRADUATION = "graduation", "Graduation"
    ADMIN_PROMOTION = "admin_promotion", "Promotion by an admin"
    ADMIN_DEMOTION = "admin_demotion", "Demotion by an admin"
    CONFIDENCE_DEMOTION = "confidence_demotion", "Demotion: confidence below the tier floor"
    GUARDRAIL_DEMOTION = "guardrail_demotion", "Demotion: guardrail violation"


class MaturityChange(models.Model):
    """Every tier change with its reason, actor and (for graduation) the evidence it was based on."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="maturity_changes")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    from_maturity = models.CharField(max_length=16, choices=Maturity.choices)
    to_maturity = models.CharField(max_length=16, choices=Maturity.choices)
    kind = models.CharField(max_length=24, choices=MaturityChangeKind.choices)
    reason = models.CharField(max_length=500)
    evidence = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.from_maturity} → {self.to_maturity}"


class AgentFeedback(models.Model):
    """Reviewed feedback on an agent; each one moves its confidence."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="feedback")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    positive = models.BooleanField()
    high_impact = models.BooleanField(default=False)
    guardrail_violation = models.BooleanField(default=False)
    comment = models.TextField(blank=True, default="")
    confidence_after = models.DecimalField(max_digits=5, decimal_places=4)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"feedback #{self.pk}"


class CanvasKind(models.TextChoices):
    """What a canvas presents."""

    MARKDOWN = "markdown", "Markdown"
    CHART = "chart", "Chart"
    FORM = "form", "Form"
    HTML = "html", "HTML"


class Canvas(models.Model):
    """A presentation surface an agent fills. Text content is stored sanitized, never raw."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="canvases")
    kind = models.CharField(max_length=16, choices=CanvasKind.choices)
    title = models.CharField(max_length=200, blank=True, default="")
    content = models.TextField(blank=True, default="")
    data = models.JSONField(null=True, blank=True)
    script = models.TextField(blank=True, default="")
    script_hash = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "canvases"
        indexes = [models.Index(fields=["agent", "-id"], name="gov_canvas_agent_id")]

    def __str__(self) -> str:
        return self.title or f"Canvas #{self.pk}"


class CanvasAudit(models.Model):
    """Every JavaScript request on a canvas: who, the SHA-256 of the code, and what was decided."""

    canvas = models.ForeignKey(Canvas, on_delete=models.PROTECT, related_name="audit_entries")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    code_hash = models.CharField(max_length=64)
    code_bytes = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16)
    reason = models.CharField(max_length=300, blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.code_hash[:12]} {self.outcome}"
