"""Bugs API views: parse, call a service or selector, format. Nothing else happens here."""

from __future__ import annotations

import shutil
import tempfile
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response

from atom.api.pagination import CursorPagination
from atom.api.parsers import JSONParser
from atom.api.permissions import HasAppPermissions
from atom.errors import DomainError, NotFoundError
from bugs import report, selectors
from bugs.api.serializers import (
    BugCreateInput,
    BugOutput,
    BugUpdateInput,
    CommentInput,
    CommentOutput,
    ProofOutput,
    ResultOutput,
    RunCreateInput,
    RunImportInput,
    RunOutput,
    SuiteCreateInput,
    SuiteOutput,
    SuiteUpdateInput,
    TriageReportInput,
)
from bugs.models import Bug, Project, Run, Suite
from bugs.services.bugs import bug_by_key, bug_change, bug_create, bug_link_test
from bugs.services.comments import comment_create
from bugs.services.imports import run_import_receive
from bugs.services.proofs import proof_enqueue
from bugs.services.runs import run_trigger
from bugs.services.suites import suite_create, suite_update
from bugs.uploads import upload_response
from bugs.validators import bug_key_validate


def _page(name: str, item: serializers.Serializer[Any], *, counted: bool = True) -> serializers.Serializer[Any]:
    """The documented shape of a page of ``item`` (numbered pages carry a count, cursor pages do not)."""
    fields: dict[str, serializers.Field[Any, Any, Any, Any]] = {
        "next": serializers.CharField(allow_null=True),
        "previous": serializers.CharField(allow_null=True),
        "results": item,
    }
    if counted:
        fields["count"] = serializers.IntegerField()
    return inline_serializer(name, fields=fields)


class RawReportParser(BaseParser):
    """A report uploaded as the raw body: JUnit XML or a pytest report log (JSON lines)."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        """The body in a temporary file, as Django keeps a large multipart upload: in memory up to
        FILE_UPLOAD_MAX_MEMORY_SIZE, on disk beyond, copied a slice at a time."""
        spooled = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115 - closed by the view
        if stream is not None:
            shutil.copyfileobj(stream, spooled, 1 << 20)
        spooled.seek(0)
        return {"_raw": spooled}


class BugsView(GenericAPIView[Any]):
    """Holders of the bugs permissions (view for reads, change for writes; each view may ask for others)."""

    permission_classes = [HasAppPermissions]
    read_permissions: tuple[str, ...] = ("bugs.view_bug",)
    write_permissions: tuple[str, ...] = ("bugs.change_bug",)

    @property
    def required_permissions(self) -> tuple[str, ...]:
        return self.read_permissions if self.request.method in SAFE_METHODS else self.write_permissions


def _suite_named(name: str | None) -> Suite | None:
    if not name:
        return None
    suite = Suite.objects.filter(name=name).first()
    if suite is None:
        raise NotFoundError(f"No suite named {name!r}.")
    return suite


def _project_named(slug: str | None) -> Project | None:
    """The project a request names (None: the default project); an unknown slug is a field error."""
    if not slug:
        return None
    project = selectors.project_by_slug(slug)
    if project is None:
        raise serializers.ValidationError({"project": [f"No project named {slug!r}."]})
    return project


def _bug_or_404(key: str) -> Bug:
    try:
        bug = selectors.bug_list(keys=[bug_key_validate(key)]).first()
    except DomainError:
        bug = None
    if bug is None:
        raise NotFoundError("Not found.")
    return bug


class BugListView(BugsView):
    """GET: bugs (filter by ?severity= ?status= ?category= ?project=). POST: register a bug (in ``project``,
    by default the default project)."""

    write_permissions = ("bugs.add_bug",)
    serializer_class = BugOutput

    def get_queryset(self) -> QuerySet[Bug]:
        params = self.request.query_params
        return selectors.bug_list(
            severities=params.getlist("severity"),
            statuses=params.getlist("status"),
            categories=params.getlist("category"),
            project=params.get("project", ""),
        )

    @extend_schema(
        operation_id="bugs_list",
        parameters=[OpenApiParameter("project", str, description="Only the bugs of this project (its slug).")],
        responses=_page("BugPage", BugOutput(many=True)),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(BugOutput(page, many=True).data)

    @extend_schema(operation_id="bugs_create", request=BugCreateInput, responses={201: BugOutput})
    def post(self, request: Request) -> Response:
        data = BugCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        tests = values.pop("regression_tests", [])
        values["project"] = _project_named(values.pop("project", None))
        with transaction.atomic():
            bug = bug_create(actor=request.user, **values)
            for node_id in tests:
                bug_link_test(bug=bug, node_id=node_id)
        return Response(BugOutput(_bug_or_404(bug.key)).data, status=status.HTTP_201_CREATED)


class BugDetailView(BugsView):
    """GET a bug by key; PATCH its fields, its status (under the rules) and its test links."""

    serializer_class = BugOutput

    @extend_schema(operation_id="bugs_retrieve", responses=BugOutput)
    def get(self, request: Request, key: str) -> Response:
        return Response(BugOutput(_bug_or_404(key)).data)

    @extend_schema(operation_id="bugs_partial_update", request=BugUpdateInput, responses=BugOutput)
    def patch(self, request: Request, key: str) -> Response:
        bug = _bug_or_404(key)
        data = BugUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        to_status = values.pop("status", None)
        fix_commit = values.pop("fix_commit", None)
        duplicate_key = values.pop("duplicate_of", None)
        reason = values.pop("reason", "") or "Changed through the API."
        tests = values.pop("regression_tests", [])
        bug_change(
            bug=bug,
            actor=request.user,
            reason=reason,
            status=to_status,
            fix_commit=fix_commit,
            duplicate_of=bug_by_key(duplicate_key) if duplicate_key else None,
            tests=tests,
            **values,
        )
        return Response(BugOutput(_bug_or_404(key)).data)


class BugResultsView(BugsView):
    """GET the results attached to a bug, newest run first (cursor pages: no COUNT on big tables)."""

    serializer_class = ResultOutput
    pagination_class = CursorPagination

    @extend_schema(operation_id="bugs_results_list", responses=_page("ResultPage", ResultOutput(many=True), counted=False))
    def get(self, request: Request, key: str) -> Response:
        self.paginator.ordering = ("-run_id", "node_id")  # type: ignore[union-attr]
        page = self.paginate_queryset(selectors.bug_results(bug=_bug_or_404(key)))
        return self.get_paginated_response(ResultOutput(page, many=True).data)


class BugCommentsView(BugsView):
    """GET a bug's comments, newest first; POST a comment (Markdown, rendered and sanitized on the server)."""

    write_permissions = ("bugs.add_comment",)
    serializer_class = CommentOutput
    pagination_class = CursorPagination

    @extend_schema(operation_id="bugs_comments_list", responses=_page("CommentPage", CommentOutput(many=True), counted=False))
    def get(self, request: Request, key: str) -> Response:
        self.paginator.ordering = ("-created_at", "-id")  # type: ignore[union-attr]
        page = self.paginate_queryset(selectors.bug_comments(bug=_bug_or_404(key)))
        return self.get_paginated_response(CommentOutput(page, many=True).data)

    @extend_schema(operation_id="bugs_comments_create", request=CommentInput, responses={201: CommentOutput})
    def post(self, request: Request, key: str) -> Response:
        bug = _bug_or_404(key)
        data = CommentInput(data=request.data)
        data.is_valid(raise_exception=True)
        comment = comment_create(bug=bug, author=request.user, body=data.validated_data["body"])
        return Response(CommentOutput(comment).data, status=status.HTTP_201_CREATED)


class RunListView(BugsView):
    """GET runs; POST starts a run of a registered suite (202, the worker does the rest)."""

    read_permissions = ("bugs.view_run",)
    write_permissions = ("bugs.run_regressions",)
    serializer_class = RunOutput

    @extend_schema(
        operation_id="runs_list",
        parameters=[OpenApiParameter("project", str, description="Only the runs of this project's suites (its slug).")],
        responses=_page("RunPage", RunOutput(many=True)),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.run_list(project=request.query_params.get("project", "")))
        return self.get_paginated_response(RunOutput(page, many=True).data)

    @extend_schema(operation_id="runs_create", request=RunCreateInput, responses={202: RunOutput})
    def post(self, request: Request) -> Response:
        data = RunCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        run = run_trigger(
            suite=_suite_named(values.get("suite")),
            bug_keys=values.get("bugs", []),
            node_ids=values.get("node_ids", []),
            shards=values["shards"],
            trigger=Run.Trigger.API,
            triggered_by=request.user,
            revision=values.get("commit", ""),
        )
        return Response(RunOutput(selectors.run_list().get(pk=run.pk)).data, status=status.HTTP_202_ACCEPTED)


class BugProveView(BugsView):
    """POST: prove that the bug's linked tests catch it (202; a worker runs them at the fix's parent and at the fix)."""

    write_permissions = ("bugs.prove_regressions",)
    serializer_class = ProofOutput

    @extend_schema(operation_id="bugs_prove", request=None, responses={202: ProofOutput})
    def post(self, request: Request, key: str) -> Response:
        bug = _bug_or_404(key)
        if not bug.fix_commit or not bug.regression_tests.exists():
            raise DomainError("A proof needs a fix commit and a linked test.", code="NOTHING_TO_PROVE")
        proof_enqueue(keys=[bug.key])
        return Response({"bug": bug.key, "status": "queued"}, status=status.HTTP_202_ACCEPTED)


class SuiteListView(BugsView):
    """GET the suites; POST registers one (an interpreter, or requirement files to build its venv from)."""

    read_permissions = ("bugs.view_suite",)
    write_permissions = ("bugs.add_suite",)
    serializer_class = SuiteOutput

    @extend_schema(operation_id="suites_list", responses=_page("SuitePage", SuiteOutput(many=True)))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.suite_list())
        return self.get_paginated_response(SuiteOutput(page, many=True).data)

    @extend_schema(operation_id="suites_create", request=SuiteCreateInput, responses={201: SuiteOutput})
    def post(self, request: Request) -> Response:
        data = SuiteCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        suite = suite_create(**data.validated_data)
        return Response(SuiteOutput(selectors.suite_list().get(pk=suite.pk)).data, status=status.HTTP_201_CREATED)


class SuiteDetailView(BugsView):
    """GET one suite with its latest venv builds; PATCH its configuration."""

    read_permissions = ("bugs.view_suite",)
    write_permissions = ("bugs.change_suite",)
    serializer_class = SuiteOutput

    def _suite(self, name: str) -> Suite:
        suite = selectors.suite_list().filter(name=name).first()
        if suite is None:
            raise NotFoundError("Not found.")
        return suite

    @extend_schema(operation_id="suites_retrieve", responses=SuiteOutput)
    def get(self, request: Request, name: str) -> Response:
        return Response(SuiteOutput(self._suite(name)).data)

    @extend_schema(operation_id="suites_partial_update", request=SuiteUpdateInput, responses=SuiteOutput)
    def patch(self, request: Request, name: str) -> Response:
        suite = self._suite(name)
        data = SuiteUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        suite_update(suite=suite, **data.validated_data)
        return Response(SuiteOutput(self._suite(name)).data)


class RunDetailView(BugsView):
    """GET one run with its counts and progress (done / total)."""

    read_permissions = ("bugs.view_run",)
    serializer_class = RunOutput

    @extend_schema(operation_id="runs_retrieve", responses=RunOutput)
    def get(self, request: Request, pk: int) -> Response:
        run = selectors.run_list().filter(pk=pk).first()
        if run is None:
            raise NotFoundError("Not found.")
        return Response(RunOutput(run).data)


class RunUploadView(BugsView):
    """GET the report an imported run was made from, as it was sent."""

    read_permissions = ("bugs.view_run",)

    @extend_schema(operation_id="runs_upload", responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        upload = selectors.run_upload(run_id=pk)
        if upload is None:
            raise NotFoundError("Not found.")
        response = upload_response(upload, content_type=_UPLOAD_TYPES.get(upload.kind, "application/octet-stream"))
        response["X-Content-Type-Options"] = "nosniff"
        return response


_UPLOAD_TYPES = {"junit": "application/xml", "report-log": "application/x-ndjson"}


class RunImportView(BugsView):
    """POST a JUnit XML or pytest report log from an external CI: multipart field ``file`` or the raw body.

    ``suite``, ``commit_sha``, ``branch`` and ``build`` come as query or form parameters. The head of the
    report is checked at once (400 when it is not one); the run is answered queued (202) and a worker
    reads the report, attaching its results to the bugs exactly as a local run's. The upload stays
    downloadable from ``runs/{id}/upload/``.
    """

    write_permissions = ("bugs.add_run",)
    serializer_class = RunOutput
    parser_classes = [MultiPartParser, JSONParser, RawReportParser]
    max_body_bytes = settings.ATOM_BUGS_IMPORT_MAX_BYTES

    @extend_schema(
        operation_id="runs_import",
        parameters=[RunImportInput],
        request={
            "application/xml": OpenApiTypes.BINARY,
            "application/x-ndjson": OpenApiTypes.BINARY,
            "multipart/form-data": OpenApiTypes.OBJECT,
        },
        responses={202: RunOutput},
    )
    def post(self, request: Request) -> Response:
        names = ("suite", "commit_sha", "branch", "build")
        params = {k: v for k, v in {**request.query_params.dict(), **_form_fields(request)}.items() if k in names}
        data = RunImportInput(data=params)
        data.is_valid(raise_exception=True)
        upload = request.FILES.get("file") if hasattr(request, "FILES") else None
        if upload is not None:
            stream: Any = upload
        elif isinstance(request.data, dict) and isinstance(request.data.get("_raw"), tempfile.SpooledTemporaryFile):
            stream = request.data["_raw"]
        else:
            raise DomainError("Send the report as the raw body or as the multipart field 'file'.", code="INVALID_REPORT")
        with stream:
            run = run_import_receive(
                stream=stream,
                name=str(getattr(upload, "name", "") or ""),
                suite=_suite_named(data.validated_data.get("suite")),
                commit_sha=data.validated_data.get("commit_sha", ""),
                branch=data.validated_data.get("branch", ""),
                build=data.validated_data.get("build", ""),
                triggered_by=request.user,
            )
        return Response(RunOutput(selectors.run_list().get(pk=run.pk)).data, status=status.HTTP_202_ACCEPTED)


def _form_fields(request: Request) -> dict[str, str]:
    """The plain fields of a multipart upload (a raw body has none)."""
    data: Any = request.data
    if hasattr(data, "getlist") and not isinstance(data.get("_raw"), tempfile.SpooledTemporaryFile):
        return {k: str(data.get(k)) for k in data if k != "file"}
    return {}


class TriageReportView(BugsView):
    """GET the triage report: Markdown by default, ``?format=json`` or ``?format=csv``."""

    read_permissions = ("bugs.export_triage_report",)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # ?format= names the report's format here, not a DRF renderer; errors still render as JSON.
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type

    @extend_schema(
        operation_id="triage_report",
        parameters=[
            OpenApiParameter("format", str, enum=["markdown", "json", "csv"]),
            OpenApiParameter("severity", str, many=True),
            OpenApiParameter("status", str, many=True),
            OpenApiParameter("project", str, description="Only the bugs of this project (its slug); the report names it."),
        ],
        responses={
            (200, "text/markdown"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        params = request.query_params
        data = TriageReportInput(
            data={
                "format": params.get("format", "markdown"),
                "severity": params.getlist("severity"),
                "status": params.getlist("status"),
                **({"project": params["project"]} if "project" in params else {}),
            }
        )
        data.is_valid(raise_exception=True)
        fmt = data.validated_data["format"]
        project = _project_named(data.validated_data.get("project"))
        filters = report.TriageFilters(
            severities=tuple(data.validated_data.get("severity", ())),
            statuses=tuple(data.validated_data.get("status", ())),
            project=project.slug if project else "",
        )
        return HttpResponse(report.triage_report(fmt=fmt, filters=filters), content_type=report.CONTENT_TYPES[fmt])
