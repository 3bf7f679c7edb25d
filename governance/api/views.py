"""Governance API views: parse, call a service or selector, format. Nothing else happens here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.tokens import access_token_stamped
from atom.api.middleware import request_id_of
from atom.api.pagination import CursorPagination
from atom.api.permissions import HasAppPermissions
from atom.api.serializers import ErrorOutputSerializer, error_responses
from atom.errors import ForbiddenError
from atom.principals import acting_agent_id
from governance import selectors
from governance.api.serializers import (
    ActionInputSerializer,
    ActionOutcomeOutputSerializer,
    AgentInputSerializer,
    AgentOutputSerializer,
    AgentTokenOutputSerializer,
    AuditOutputSerializer,
    AuditQuerySerializer,
    CanvasInputSerializer,
    CanvasOutputSerializer,
    CanvasScriptInputSerializer,
    CanvasUpdateInputSerializer,
    ExecutionOutputSerializer,
    FeedbackInputSerializer,
    FeedbackOutputSerializer,
    ProposalDecisionInputSerializer,
    ProposalOutputSerializer,
    SupervisionOutputSerializer,
)
from governance.models import Agent, AuditEntry, Canvas, Decision, Proposal
from governance.services.actions import ActionOutcome, agent_action_request
from governance.services.agents import agent_create, agent_token_issue, agent_update
from governance.services.canvases import canvas_create, canvas_script_execute, canvas_update
from governance.services.maturity import agent_feedback_record
from governance.services.proposals import proposal_approve, proposal_reject

_CANVAS_FIELDS = ("title", "content", "data", "schema")


def _errors(*codes: int) -> dict[int, type[ErrorOutputSerializer]]:
    return error_responses(400, 401, 415, 429, *codes)


def _human_only(request: Request) -> None:
    if acting_agent_id(request) is not None:
        raise ForbiddenError("A token acting as an agent cannot do this.", code="AGENT_PRINCIPAL_FORBIDDEN")


class GovernanceView(GenericAPIView[Any]):
    """Base of the governance views. Writes count against the caller's write rate limit through the
    project's default throttle. OPTIONS describes nothing (405): DRF's metadata would look objects up
    outside the owner-scoped selectors."""

    metadata_class = None


def _outcome_response(outcome: ActionOutcome) -> Response:
    """200 executed; 202 proposal or supervised."""
    body: dict[str, Any] = {
        "decision": outcome.decision,
        "agent": {"id": outcome.agent.pk, "maturity": outcome.agent.maturity, "confidence": str(outcome.agent.confidence)},
    }
    if outcome.execution is not None:
        body["execution"] = ExecutionOutputSerializer(outcome.execution).data
    if outcome.supervision is not None:
        body["supervision"] = SupervisionOutputSerializer(outcome.supervision).data
    if outcome.proposal is not None:
        body["proposal"] = ProposalOutputSerializer(outcome.proposal).data
    code = status.HTTP_200_OK if outcome.decision == Decision.EXECUTE else status.HTTP_202_ACCEPTED
    return Response(body, status=code)


class AgentListView(GovernanceView):
    """GET: the caller's agents. POST: a new agent (always STUDENT at the starting confidence)."""

    serializer_class = AgentOutputSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Agent.objects.none()
        return selectors.agent_list_for_owner(owner=self.request.user, acting_agent_id=acting_agent_id(self.request))

    @extend_schema(responses={200: AgentOutputSerializer(many=True), **_errors()}, summary="List your agents", operation_id="agents_list")
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(AgentOutputSerializer(page, many=True).data)

    @extend_schema(request=AgentInputSerializer, responses={201: AgentOutputSerializer, **_errors(403)}, summary="Create an agent")
    def post(self, request: Request) -> Response:
        _human_only(request)
        data = AgentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = agent_create(owner=request.user, **data.validated_data)
        return Response(AgentOutputSerializer(agent).data, status=status.HTTP_201_CREATED)


class AgentDetailView(GovernanceView):
    """GET one agent; PATCH/PUT its safe fields only (name, category, capabilities)."""

    serializer_class = AgentOutputSerializer

    @extend_schema(responses={200: AgentOutputSerializer, **_errors(404)}, summary="Read one of your agents")
    def get(self, request: Request, agent_id: int) -> Response:
        agent = selectors.agent_get_for_owner(owner=request.user, agent_id=agent_id, acting_agent_id=acting_agent_id(request))
        return Response(AgentOutputSerializer(agent).data)

    @extend_schema(request=AgentInputSerializer, responses={200: AgentOutputSerializer, **_errors(403, 404)}, summary="Change safe fields")
    def patch(self, request: Request, agent_id: int) -> Response:
        return self._update(request, agent_id, partial=True)

    @extend_schema(request=AgentInputSerializer, responses={200: AgentOutputSerializer, **_errors(403, 404)}, summary="Replace safe fields")
    def put(self, request: Request, agent_id: int) -> Response:
        return self._update(request, agent_id, partial=False)

    def _update(self, request: Request, agent_id: int, *, partial: bool) -> Response:
        _human_only(request)
        agent = selectors.agent_get_for_owner(owner=request.user, agent_id=agent_id)
        data = AgentInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        agent = agent_update(agent=agent, **data.validated_data)
        return Response(AgentOutputSerializer(agent).data)


class AgentActionView(GovernanceView):
    """POST {action, params, cost}: 200 executed, 202 proposal or supervised, 403 refused, 404 not yours."""

    serializer_class = ActionInputSerializer

    @extend_schema(
        request=ActionInputSerializer,
        responses={200: ActionOutcomeOutputSerializer, 202: ActionOutcomeOutputSerializer, **_errors(403, 404)},
        summary="Ask to perform a governed action",
    )
    def post(self, request: Request, agent_id: int) -> Response:
        data = ActionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = agent_action_request(
            actor=request.user,
            agent_id=agent_id,
            action=data.validated_data["action"],
            params=data.validated_data["params"],
            cost=data.validated_data["cost"],
            request_id=request_id_of(request),
            acting_agent_id=acting_agent_id(request),
        )
        return _outcome_response(outcome)


class AgentFeedbackView(GovernanceView):
    """POST reviewed feedback: moves confidence now and demotes at once when it falls below the floor."""

    serializer_class = FeedbackInputSerializer

    @extend_schema(
        request=FeedbackInputSerializer, responses={201: FeedbackOutputSerializer, **_errors(403, 404)}, summary="Give reviewed feedback"
    )
    def post(self, request: Request, agent_id: int) -> Response:
        _human_only(request)
        agent = selectors.agent_get_for_owner(owner=request.user, agent_id=agent_id)
        data = FeedbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        feedback = agent_feedback_record(agent=agent, reviewer=request.user, **data.validated_data)
        agent.refresh_from_db()
        return Response(
            {"id": feedback.pk, "agent": AgentOutputSerializer(agent).data},
            status=status.HTTP_201_CREATED,
        )


class AgentTokenView(GovernanceView):
    """POST: an access token for the agent's runtime, acting as this agent only."""

    serializer_class = AgentTokenOutputSerializer

    @extend_schema(
        request=None, responses={201: AgentTokenOutputSerializer, **_errors(403, 404)}, summary="Issue a token acting as the agent"
    )
    def post(self, request: Request, agent_id: int) -> Response:
        _human_only(request)
        agent = selectors.agent_get_for_owner(owner=request.user, agent_id=agent_id)
        raw = agent_token_issue(owner=request.user, agent=agent)
        return Response({"access": access_token_stamped(raw=raw, user=request.user)}, status=status.HTTP_201_CREATED)


class ProposalListView(GovernanceView):
    """GET: proposals of the caller's agents (all of them for staff)."""

    serializer_class = ProposalOutputSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Proposal.objects.none()
        return selectors.proposal_list_for_user(user=self.request.user, acting_agent_id=acting_agent_id(self.request))

    @extend_schema(
        responses={200: ProposalOutputSerializer(many=True), **_errors()},
        summary="List proposals you may review",
        operation_id="proposals_list",
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ProposalOutputSerializer(page, many=True).data)


class ProposalDetailView(GovernanceView):
    serializer_class = ProposalOutputSerializer

    @extend_schema(responses={200: ProposalOutputSerializer, **_errors(404)}, summary="Read a proposal")
    def get(self, request: Request, proposal_id: int) -> Response:
        proposal = selectors.proposal_get_for_user(user=request.user, proposal_id=proposal_id, acting_agent_id=acting_agent_id(request))
        return Response(ProposalOutputSerializer(proposal).data)


class ProposalDecisionView(GovernanceView):
    """POST a human decision on a proposal: never by a token acting as an agent; decided at most once."""

    serializer_class = ProposalDecisionInputSerializer
    decide: Callable[..., Proposal]

    def post(self, request: Request, proposal_id: int) -> Response:
        proposal = selectors.proposal_get_for_user(user=request.user, proposal_id=proposal_id, acting_agent_id=acting_agent_id(request))
        data = ProposalDecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        proposal = type(self).decide(
            proposal=proposal,
            reviewer=request.user,
            reason=data.validated_data["reason"],
            acting_agent_id=acting_agent_id(request),
            request_id=request_id_of(request),
        )
        return Response(ProposalOutputSerializer(proposal).data)


_DECISION_RESPONSES = {200: ProposalOutputSerializer, **_errors(403, 404, 409)}


@extend_schema_view(post=extend_schema(request=ProposalDecisionInputSerializer, responses=_DECISION_RESPONSES, summary="Approve"))
class ProposalApproveView(ProposalDecisionView):
    """Approve: the proposed action runs now, in the same transaction as the decision."""

    decide = staticmethod(proposal_approve)


@extend_schema_view(post=extend_schema(request=ProposalDecisionInputSerializer, responses=_DECISION_RESPONSES, summary="Reject"))
class ProposalRejectView(ProposalDecisionView):
    """Reject: nothing runs."""

    decide = staticmethod(proposal_reject)


def _canvas_answer(outcome: ActionOutcome, *, created: bool) -> Response:
    execution = outcome.execution
    if execution is None or not isinstance(execution.result, dict):
        return _outcome_response(outcome)
    canvas = Canvas.objects.get(pk=execution.result["canvas_id"])
    return Response(CanvasOutputSerializer(canvas).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CanvasListView(GovernanceView):
    """GET: canvases of the caller's agents. POST: present a canvas (a governed action of its kind)."""

    serializer_class = CanvasOutputSerializer

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Canvas.objects.none()
        return selectors.canvas_list_for_owner(owner=self.request.user, acting_agent_id=acting_agent_id(self.request))

    @extend_schema(responses={200: CanvasOutputSerializer(many=True), **_errors()}, summary="List canvases", operation_id="canvases_list")
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CanvasOutputSerializer(page, many=True).data)

    @extend_schema(
        request=CanvasInputSerializer,
        responses={201: CanvasOutputSerializer, 202: ActionOutcomeOutputSerializer, **_errors(403, 404)},
        summary="Present a canvas",
    )
    def post(self, request: Request) -> Response:
        data = CanvasInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        outcome = canvas_create(
            actor=request.user,
            agent_id=values["agent"],
            kind=values["kind"],
            params={key: values[key] for key in _CANVAS_FIELDS if key in values},
            request_id=request_id_of(request),
            acting_agent_id=acting_agent_id(request),
        )
        return _canvas_answer(outcome, created=True)


class CanvasDetailView(GovernanceView):
    serializer_class = CanvasOutputSerializer

    @extend_schema(responses={200: CanvasOutputSerializer, **_errors(404)}, summary="Read a canvas")
    def get(self, request: Request, canvas_id: int) -> Response:
        canvas = selectors.canvas_get_for_owner(owner=request.user, canvas_id=canvas_id, acting_agent_id=acting_agent_id(request))
        return Response(CanvasOutputSerializer(canvas).data)

    @extend_schema(
        request=CanvasUpdateInputSerializer,
        responses={200: CanvasOutputSerializer, 202: ActionOutcomeOutputSerializer, **_errors(403, 404)},
        summary="Update a canvas",
    )
    def patch(self, request: Request, canvas_id: int) -> Response:
        canvas = selectors.canvas_get_for_owner(owner=request.user, canvas_id=canvas_id, acting_agent_id=acting_agent_id(request))
        data = CanvasUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = canvas_update(
            actor=request.user,
            canvas=canvas,
            params=dict(data.validated_data),
            request_id=request_id_of(request),
            acting_agent_id=acting_agent_id(request),
        )
        return _canvas_answer(outcome, created=False)


class CanvasExecuteView(GovernanceView):
    """POST {code}: JavaScript for the canvas — AUTONOMOUS agents only, stored and audited, never run here."""

    serializer_class = CanvasScriptInputSerializer

    @extend_schema(
        request=CanvasScriptInputSerializer,
        responses={200: CanvasOutputSerializer, **_errors(403, 404)},
        summary="Authorize and store canvas JavaScript (AUTONOMOUS only)",
    )
    def post(self, request: Request, canvas_id: int) -> Response:
        canvas = selectors.canvas_get_for_owner(owner=request.user, canvas_id=canvas_id, acting_agent_id=acting_agent_id(request))
        data = CanvasScriptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = canvas_script_execute(
            actor=request.user,
            canvas=canvas,
            code=data.validated_data["code"],
            request_id=request_id_of(request),
            acting_agent_id=acting_agent_id(request),
        )
        return _canvas_answer(outcome, created=False)


class AuditListView(ListAPIView[AuditEntry]):
    """GET: the audit log, newest first, cursor-paginated (no COUNT); for holders of the audit permission."""

    permission_classes = [HasAppPermissions]
    required_permissions = ("governance.view_auditentry",)
    serializer_class = AuditOutputSerializer
    pagination_class = CursorPagination
    filter_backends = []

    @extend_schema(
        parameters=[AuditQuerySerializer], responses={200: AuditOutputSerializer(many=True), **_errors(403)}, summary="Read the audit log"
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[AuditEntry]:
        query = AuditQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.audit_list(**query.validated_data)
