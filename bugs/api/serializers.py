"""Input and output serializers of the bugs API (separate, so output fields never become writable)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from bugs.models import (
    Bug,
    BugStatus,
    Category,
    Comment,
    Project,
    RegressionTest,
    Result,
    Run,
    Severity,
    Suite,
    SuiteEnvironment,
    validate_one_line,
)
from bugs.validators import validate_test_link


def _text() -> serializers.CharField:
    """An optional long text field of a bug."""
    return serializers.CharField(required=False, allow_blank=True, max_length=20000)


class RegressionTestOutput(serializers.ModelSerializer[RegressionTest]):
    latest_outcome = serializers.CharField(source="last_result.outcome", default=None, allow_null=True)
    latest_run = serializers.IntegerField(source="last_result.run_id", default=None, allow_null=True)

    class Meta:
        model = RegressionTest
        fields = [
            "node_id", "source", "is_flaky", "flaky_commit", "latest_outcome", "latest_run",
            "proof_verdict", "proof_parent", "proof_fix", "proof_detail", "proved_at",
        ]  # fmt: skip


class BugOutput(serializers.ModelSerializer[Bug]):
    project = serializers.CharField(source="project.slug")
    duplicate_of = serializers.CharField(source="duplicate_of.key", default=None, allow_null=True)
    assignee = serializers.CharField(source="assignee.username", default=None, allow_null=True)
    reporter = serializers.CharField(source="reporter.username", default=None, allow_null=True)
    regression_tests = RegressionTestOutput(many=True)

    class Meta:
        model = Bug
        fields = [
            "key", "project", "title", "severity", "category", "status", "component", "description", "root_cause",
            "reproduction", "expected", "actual", "fix_strategy", "fix_commit", "verification_note", "reporter",
            "assignee", "discovered_at", "sla_due_at", "resolved_at", "duplicate_of", "is_regression",
            "regression_tests", "created_at", "updated_at",
        ]  # fmt: skip


class BugTextInput(serializers.Serializer[Any]):
    """The free-text fields a bug's author may write, shared by creation and update."""

    category = serializers.ChoiceField(choices=Category.choices, required=False)
    component = serializers.CharField(required=False, allow_blank=True, max_length=200)
    description = _text()
    root_cause = _text()
    reproduction = _text()
    expected = _text()
    actual = _text()
    fix_strategy = _text()
    regression_tests = serializers.ListField(
        child=serializers.CharField(max_length=1000, validators=[validate_test_link]),
        required=False,
        max_length=100,
        help_text="Tests that prove the bug fixed: pytest node ids, or another tool's test identity (scope::classname::name).",
    )


class BugCreateInput(BugTextInput):
    key = serializers.RegexField(r"^BUG-[0-9]{3,9}$", required=False)
    project = serializers.SlugField(max_length=64, required=False, help_text="The project's slug (default: the default project).")
    title = serializers.CharField(max_length=300, validators=[validate_one_line])
    severity = serializers.ChoiceField(choices=Severity.choices)


class BugUpdateInput(BugTextInput):
    title = serializers.CharField(max_length=300, required=False, validators=[validate_one_line])
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    verification_note = _text()
    status = serializers.ChoiceField(choices=BugStatus.choices, required=False)
    fix_commit = serializers.RegexField(r"^[0-9a-fA-F]{4,64}$", required=False)
    duplicate_of = serializers.RegexField(r"^BUG-[0-9]{3,9}$", required=False)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ResultOutput(serializers.ModelSerializer[Result]):
    commit_sha = serializers.CharField(source="run.commit_sha")

    class Meta:
        model = Result
        fields = ["id", "run", "commit_sha", "node_id", "outcome", "duration_seconds", "attempts", "is_flaky", "message", "traceback"]


class RunOutput(serializers.ModelSerializer[Run]):
    suite = serializers.CharField(source="suite.name")
    project = serializers.CharField(source="suite.project.slug")
    triggered_by = serializers.CharField(source="triggered_by.username", default=None, allow_null=True)

    class Meta:
        model = Run
        fields = [
            "id", "suite", "project", "status", "trigger", "triggered_by", "rerun_of", "revision", "commit_sha", "branch", "build",
            "upload_sha256", "total", "done", "passed", "failed", "errors", "skipped", "duration_seconds", "error_message", "created_at",
            "started_at", "finished_at",
        ]  # fmt: skip


class RunCreateInput(serializers.Serializer[Any]):
    """A run request names a registered suite; it can never configure one (path, args, environment)."""

    suite = serializers.SlugField(max_length=64, required=False)
    bugs = serializers.ListField(child=serializers.RegexField(r"^BUG-[0-9]{3,9}$"), required=False, max_length=1000)
    node_ids = serializers.ListField(child=serializers.CharField(max_length=1000), required=False, max_length=10000)
    shards = serializers.IntegerField(min_value=1, max_value=256, required=False, default=1)
    commit = serializers.RegexField(
        r"^[A-Za-z0-9._/^~-]{1,200}$", required=False, help_text="A branch, tag or commit of the suite's project to run at."
    )


class RunImportInput(serializers.Serializer[Any]):
    suite = serializers.SlugField(max_length=64, required=False)
    commit_sha = serializers.RegexField(r"^[0-9a-fA-F]{4,64}$", required=False)
    branch = serializers.RegexField(r"^[A-Za-z0-9._/-]{1,200}$", required=False)
    build = serializers.RegexField(r"^[A-Za-z0-9._:/#+@-]{1,200}$", required=False, help_text="The CI build the report came from.")


class TriageReportInput(serializers.Serializer[Any]):
    format = serializers.ChoiceField(choices=["markdown", "json", "csv"], required=False, default="markdown")
    severity = serializers.ListField(child=serializers.ChoiceField(choices=Severity.choices), required=False)
    status = serializers.ListField(child=serializers.ChoiceField(choices=BugStatus.choices), required=False)
    project = serializers.SlugField(max_length=64, required=False)


class CommentInput(serializers.Serializer[Any]):
    """A comment in Markdown; ``@username`` notifies that user (an active one)."""

    body = serializers.CharField(max_length=20000, trim_whitespace=False)


class CommentOutput(serializers.ModelSerializer[Comment]):
    bug = serializers.CharField(source="bug.key")
    author = serializers.CharField(source="author.username", default=None, allow_null=True)

    class Meta:
        model = Comment
        fields = ["id", "bug", "author", "body", "html", "mentions", "created_at"]


class ProjectOutput(serializers.ModelSerializer[Project]):
    """A project as anyone allowed to read it sees it: the credential's NAME only, never a secret."""

    has_webhook_secret = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "slug", "name", "repository", "default_branch", "credential", "has_webhook_secret", "description", "created_at",
            "commits_linked_at", "commits_link_error",
        ]  # fmt: skip

    def get_has_webhook_secret(self, obj: Project) -> bool:
        return bool(obj.webhook_secret)


class ProjectUpdateInput(serializers.Serializer[Any]):
    """The fields a project's editor writes; the rules (repository, branch, credential) are the service's."""

    name = serializers.CharField(max_length=200, required=False)
    repository = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="A local path under the allowed roots, or a file://, https:// or ssh:// URL.",
    )
    default_branch = serializers.CharField(max_length=200, required=False)
    credential = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="The NAME of a configured git credential (ATOM_GIT_CREDENTIAL_<NAME>)."
    )
    webhook_secret = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=False,
        help_text="Write-only; blank switches webhooks off.",
    )
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)


class ProjectCreateInput(ProjectUpdateInput):
    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)


class LinkSummaryOutput(serializers.Serializer[Any]):
    fixed = serializers.ListField(child=serializers.CharField())
    commit_set = serializers.ListField(child=serializers.CharField())
    unknown = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())


class WebhookOutput(LinkSummaryOutput):
    status = serializers.ChoiceField(choices=["linked", "ignored"])
    delivery_id = serializers.CharField()
    event = serializers.CharField()
    ref = serializers.CharField()
    reason = serializers.CharField()
    commits = serializers.IntegerField()


class SuiteEnvironmentOutput(serializers.ModelSerializer[SuiteEnvironment]):
    class Meta:
        model = SuiteEnvironment
        fields = ["hash", "status", "python", "python_version", "requirements", "error_message", "created_at", "built_at"]


class SuiteOutput(serializers.ModelSerializer[Suite]):
    project = serializers.CharField(source="project.slug")
    environments = serializers.SerializerMethodField()

    class Meta:
        model = Suite
        fields = [
            "name", "project", "checkout_path", "python", "requirements", "pytest_args", "environment", "timeout_seconds",
            "description", "environments",
        ]  # fmt: skip

    def get_environments(self, suite: Suite) -> list[dict[str, Any]]:
        """The latest builds of the suite's venv (newest first), without their logs (the admin shows those)."""
        return list(SuiteEnvironmentOutput(suite.environments.all()[:5], many=True).data)


class SuiteUpdateInput(serializers.Serializer[Any]):
    project = serializers.SlugField(max_length=64, required=False)
    checkout_path = serializers.CharField(max_length=500, required=False, allow_blank=True)
    python = serializers.CharField(max_length=500, required=False, allow_blank=True, help_text="An executable interpreter path.")
    requirements = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, max_length=20, help_text="Requirement files of the repository."
    )
    pytest_args = serializers.ListField(child=serializers.CharField(max_length=500), required=False, max_length=100)
    environment = serializers.DictField(child=serializers.CharField(max_length=5000, allow_blank=True), required=False)
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=7 * 24 * 3600, required=False)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)


class SuiteCreateInput(SuiteUpdateInput):
    name = serializers.SlugField(max_length=64)


class ProofOutput(serializers.Serializer[Any]):
    bug = serializers.CharField()
    status = serializers.CharField(help_text="queued: a worker runs the proof; the verdicts appear on the bug's tests.")
