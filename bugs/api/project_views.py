"""Projects API views (list, read, create, edit, link commits) and the push webhook route.

Parse, call a service or selector, format. The webhook route is the one route of the bugs API without a
token: it is authenticated by the project's secret, the way its provider signs (bugs.services.webhooks).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from atom.errors import NotFoundError
from atom.ratelimit import client_ip, rate_limit_enforce
from bugs import selectors
from bugs.api.serializers import LinkSummaryOutput, ProjectCreateInput, ProjectOutput, ProjectUpdateInput, WebhookOutput
from bugs.api.views import BugsView, _page
from bugs.models import Project
from bugs.services.projects import project_commits_link, project_create, project_update
from bugs.services.webhooks import webhook_receive


def _project_or_404(slug: str) -> Project:
    project = selectors.project_by_slug(slug)
    if project is None:
        raise NotFoundError("Not found.")
    return project


class ProjectsView(BugsView):
    read_permissions = ("bugs.view_project",)
    write_permissions = ("bugs.change_project",)
    serializer_class: Any = ProjectOutput


class ProjectListView(ProjectsView):
    """GET: projects. POST: register a project (its repository is checked, not fetched)."""

    write_permissions = ("bugs.add_project",)

    def get_queryset(self) -> QuerySet[Project]:
        return selectors.project_list()

    @extend_schema(operation_id="projects_list", responses=_page("ProjectPage", ProjectOutput(many=True)))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ProjectOutput(page, many=True).data)

    @extend_schema(operation_id="projects_create", request=ProjectCreateInput, responses={201: ProjectOutput})
    def post(self, request: Request) -> Response:
        data = ProjectCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(actor=request.user, **data.validated_data)
        return Response(ProjectOutput(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(ProjectsView):
    """GET a project by slug; PATCH its fields (the slug stays)."""

    @extend_schema(operation_id="projects_retrieve", responses=ProjectOutput)
    def get(self, request: Request, slug: str) -> Response:
        return Response(ProjectOutput(_project_or_404(slug)).data)

    @extend_schema(operation_id="projects_partial_update", request=ProjectUpdateInput, responses=ProjectOutput)
    def patch(self, request: Request, slug: str) -> Response:
        project = _project_or_404(slug)
        data = ProjectUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_update(project=project, actor=request.user, **data.validated_data)
        return Response(ProjectOutput(project).data)


class ProjectLinkCommitsView(ProjectsView):
    """POST: fetch the project's repository now and link its default branch's ``Fixes BUG-N`` commits."""

    write_permissions = ("bugs.link_project_commits",)
    serializer_class = LinkSummaryOutput

    @extend_schema(operation_id="projects_link_commits", request=None, responses=LinkSummaryOutput)
    def post(self, request: Request, slug: str) -> Response:
        summary = project_commits_link(project=_project_or_404(slug))
        return Response(LinkSummaryOutput(asdict(summary)).data)


class RawBodyParser(BaseParser):
    """The webhook body stays bytes: it is parsed only once its signature is checked."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return {}


class WebhookView(APIView):
    """POST a push event from GitHub, GitLab or Gitea (``provider`` in the path), signed with the project's
    webhook secret. 200 with what was linked, or "ignored" with the reason (another branch, another
    event); 401 bad signature, 404 unknown project, 409 a replayed delivery id: nothing changes then."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []
    parser_classes = [RawBodyParser]
    max_body_bytes = settings.ATOM_WEBHOOK_MAX_BYTES

    @extend_schema(
        operation_id="projects_webhook",
        auth=[],
        parameters=[OpenApiParameter("provider", str, OpenApiParameter.PATH, enum=["github", "gitlab", "gitea"])],
        request={"application/json": OpenApiTypes.OBJECT, "application/x-www-form-urlencoded": OpenApiTypes.OBJECT},
        responses=WebhookOutput,
    )
    def post(self, request: Request, slug: str, provider: str) -> Response:
        # Counted per client address before anything is read: the signature check costs an HMAC of the body.
        rate_limit_enforce(request, group="webhooks-ip", key=client_ip(request), rate=settings.ATOM_WEBHOOK_RATE_PER_IP)
        outcome = webhook_receive(
            slug=slug, provider=provider, headers=request.headers, body=request.body, content_type=request.content_type or ""
        )
        return Response(WebhookOutput(asdict(outcome)).data)
