"""The hardening loop's records: bugs with SLAs, their regression tests, suites, runs and results.

The status rules that the database can hold are CHECK constraints here; the rules that need other
tables (a linked test, a passing result on a commit containing the fix) live in bugs.services.
"""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


def validate_one_line(value: str) -> None:
    """Refuse control characters and line or paragraph separators: a title is one line of text."""
    if any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in value):
        raise ValidationError("One line of text: no line breaks, tabs or other control characters.", code="control_characters")


class Severity(models.TextChoices):
    P0 = "P0", "P0 — critical"
    P1 = "P1", "P1 — high"
    P2 = "P2", "P2 — medium"
    P3 = "P3", "P3 — low"


class Category(models.TextChoices):
    SECURITY = "security", "Security"
    DATA_LOSS = "data_loss", "Data loss"
    COST_LEAK = "cost_leak", "Cost leak"
    CRASH = "crash", "Crash"
    INTEGRITY = "integrity", "Integrity"
    INFRASTRUCTURE = "infrastructure", "Infrastructure"
    PERFORMANCE = "performance", "Performance"
    QUALITY = "quality", "Quality"


class BugStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    FIXED = "fixed", "Fixed"
    RESOLVED = "resolved", "Resolved"
    REOPENED = "reopened", "Reopened"
    DOCUMENTED = "documented", "Documented"
    WONT_FIX = "wont_fix", "Won't fix"
    DUPLICATE = "duplicate", "Duplicate"


# The SLA of SPEC section 6, used when the editable policy table has no row for a severity.
DEFAULT_SLA_HOURS = {Severity.P0: 24, Severity.P1: 72, Severity.P2: 7 * 24, Severity.P3: 14 * 24}

# The longest SLA a policy may set (ten years): a due time beyond the calendar would break every bug creation.
SLA_HOURS_MAX = 87_600

# Statuses in which the SLA clock still runs.
ACTIVE_STATUSES = (BugStatus.OPEN, BugStatus.IN_PROGRESS, BugStatus.REOPENED)


class SeverityPolicy(models.Model):
    """How long a bug of one severity may stay unfixed; editable by operators in the admin."""

    severity = models.CharField(max_length=2, choices=Severity.choices, unique=True)
    sla_hours = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(SLA_HOURS_MAX)])
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["severity"]
        verbose_name_plural = "severity policies"
        constraints = [models.CheckConstraint(condition=Q(sla_hours__gte=1), name="bugs_policy_sla_positive")]

    def __str__(self) -> str:
        return f"{self.severity}: {self.sla_hours} h"


def project_default_id() -> int:
    """The default project's id (Atom's own), created on first use: a bug or suite made without a project
    belongs to it. Only called when a row is created without one, never when rows are read.

    It reads the id column only: migration 0012 calls it through this live model while the table still
    lacks the columns later migrations add (BUG-116); that migration has made the row by then.
    """
    found = Project.objects.filter(slug=settings.ATOM_DEFAULT_PROJECT).values_list("pk", flat=True).first()
    if found is not None:
        return int(found)
    project, _ = Project.objects.get_or_create(
        slug=settings.ATOM_DEFAULT_PROJECT, defaults={"name": "Atom", "description": "Atom's own code base and catalog."}
    )
    return project.pk


class Project(models.Model):
    """A code base whose bugs, suites and runs Atom keeps apart from every other project's.

    The repository is a local path or a git URL (``file://``, ``https://``, ``ssh://``), checked by
    ``bugs.repos.repository_validate``; blank means Atom's own checkout. Bug keys stay global
    (``BUG-NNN`` across all projects), so a key names one bug wherever it is quoted.
    """

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    repository = models.CharField(
        max_length=500, blank=True, help_text="A local path or a git URL (file://, https://, ssh://); blank means Atom itself."
    )
    default_branch = models.CharField(max_length=200, default="main")
    credential = models.CharField(
        max_length=64, blank=True, help_text="The name of a secret in ATOM_GIT_CREDENTIALS used to fetch a private repository."
    )
    webhook_secret = models.CharField(max_length=200, blank=True, help_text="Shared secret of the push webhooks.")
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The last read of the default branch (periodic or on demand) and why it failed, if it did.
    commits_linked_at = models.DateTimeField(null=True, blank=True)
    commits_link_error = models.CharField(max_length=2000, blank=True)

    class Meta:
        ordering = ["slug"]
        permissions = [("link_project_commits", "Can read a project's commits and link them to bugs")]

    def __str__(self) -> str:
        return self.slug


class WebhookProvider(models.TextChoices):
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"
    GITEA = "gitea", "Gitea"


class WebhookDelivery(models.Model):
    """A push webhook Atom accepted, kept by its provider's delivery id so a replay is refused.

    Only an authenticated delivery is stored (a bad signature or an unknown project writes nothing).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhook_deliveries")
    provider = models.CharField(max_length=8, choices=WebhookProvider.choices)
    delivery_id = models.CharField(max_length=200)
    event = models.CharField(max_length=64, blank=True)
    ref = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    outcome = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["project", "provider", "delivery_id"], name="bugs_webhookdelivery_unique")]

    def __str__(self) -> str:
        return f"{self.provider} {self.delivery_id}"


class Bug(models.Model):
    """A defect with its triage, its fix and the evidence that the fix holds."""

    key = models.CharField(max_length=16, unique=True, help_text="BUG-NNN")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="bugs", default=project_default_id)
    title = models.CharField(max_length=300, validators=[validate_one_line])
    severity = models.CharField(max_length=2, choices=Severity.choices, db_index=True)
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.QUALITY, db_index=True)
    reported_category = models.CharField(
        max_length=100, blank=True, help_text="The category word of the imported report, when it is not the category's own name."
    )
    status = models.CharField(max_length=16, choices=BugStatus.choices, default=BugStatus.OPEN, db_index=True)
    component = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    reproduction = models.TextField(blank=True)
    expected = models.TextField(blank=True)
    actual = models.TextField(blank=True, help_text="The error or wrong behaviour observed.")
    fix_strategy = models.TextField(blank=True)
    fix_commit = models.CharField(max_length=64, blank=True)
    verification_note = models.TextField(blank=True)
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    discovered_at = models.DateTimeField()
    sla_due_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates")
    # The passing result that proved the fix; the database refuses "resolved" without one.
    verified_by = models.ForeignKey("Result", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    is_regression = models.BooleanField(default=False, help_text="Reopened because its regression test failed again.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # One permission per consequential act (see the roles table of the README); staff status grants none.
        permissions = [
            ("run_regressions", "Can run regression tests and suites"),
            ("export_triage_report", "Can export the triage report"),
            ("mark_duplicate_bug", "Can mark bugs as duplicates"),
            ("triage_result", "Can create a bug from a failing result or link failures to a bug"),
            ("assign_bug", "Can assign a bug to a user"),
            ("prove_regressions", "Can prove that a bug's linked tests catch it (run them at the fix's parent and at the fix)"),
        ]
        ordering = ["severity", "key"]
        constraints = [
            models.CheckConstraint(condition=Q(key__startswith="BUG-"), name="bugs_bug_key_prefix"),
            models.CheckConstraint(
                condition=~Q(status=BugStatus.RESOLVED) | (Q(resolved_at__isnull=False) & Q(verified_by__isnull=False) & ~Q(fix_commit="")),
                name="bugs_bug_resolved_needs_evidence",
            ),
            models.CheckConstraint(
                condition=~Q(status=BugStatus.FIXED) | ~Q(fix_commit=""),
                name="bugs_bug_fixed_needs_commit",
            ),
            models.CheckConstraint(
                condition=Q(status=BugStatus.DUPLICATE, duplicate_of__isnull=False)
                | (~Q(status=BugStatus.DUPLICATE) & Q(duplicate_of__isnull=True)),
                name="bugs_bug_duplicate_iff_target",
            ),
            models.CheckConstraint(condition=~Q(duplicate_of=models.F("pk")), name="bugs_bug_not_own_duplicate"),
            models.CheckConstraint(condition=Q(sla_due_at__gte=models.F("discovered_at")), name="bugs_bug_sla_after_discovery"),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.title}"


class Suite(models.Model):
    """A pytest project Atom can run: where it lives, how to call pytest, with which environment.

    Registered by holders of ``bugs.add_suite`` / ``bugs.change_suite`` (admin, ``/api/v1/suites/``). A blank
    checkout path means Atom's own code base (or, for a project with a repository, the run's worktree).
    The interpreter is ``python`` when given (it must exist and be executable), else a venv Atom builds
    from ``requirements`` (files of the repository, see ``bugs.envs``), else Atom's own.
    """

    name = models.SlugField(max_length=64, unique=True)
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="suites", default=project_default_id)
    checkout_path = models.CharField(max_length=500, blank=True, help_text="Absolute path of the checkout; blank means Atom itself.")
    pytest_args = models.JSONField(default=list, blank=True, help_text='Extra pytest arguments, e.g. ["-m", "regression"].')
    environment = models.JSONField(default=dict, blank=True, help_text="Environment variables for the pytest process.")
    timeout_seconds = models.PositiveIntegerField(default=1800)
    description = models.CharField(max_length=300, blank=True)
    python = models.CharField(
        max_length=500, blank=True, help_text="An interpreter to run pytest with (an absolute path); blank: Atom's own, or a built venv."
    )
    requirements = models.JSONField(
        default=list,
        blank=True,
        help_text='Requirement files of the repository (relative paths) to build the suite\'s venv from, e.g. ["requirements.txt"].',
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(timeout_seconds__gte=1), name="bugs_suite_timeout_positive")]

    def __str__(self) -> str:
        return self.name


class SuiteEnvironment(models.Model):
    """One build of a suite's venv: keyed by the hash of its requirement files and interpreter version.

    The venv lives under ``ATOM_ENVS_DIR/<hash>``; it is built in a temporary directory and renamed, so a
    half-built venv is never used. The log keeps what pip said.
    """

    class Status(models.TextChoices):
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    suite = models.ForeignKey(Suite, on_delete=models.CASCADE, related_name="environments")
    hash = models.CharField(max_length=64, db_index=True)
    python = models.CharField(max_length=500, help_text="The interpreter the venv was built from.")
    python_version = models.CharField(max_length=100, blank=True)
    requirements = models.JSONField(default=list, blank=True)
    path = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BUILDING, db_index=True)
    log = models.TextField(blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.suite_id} env {self.hash[:12]} ({self.status})"


class ProofVerdict(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNPROVEN = "unproven", "Unproven"


class RegressionTest(models.Model):
    """A pytest node id that proves a bug fixed; the latest result is kept here for cheap reads.

    The proof fields say whether the test catches its bug: run at the parent of the first fix commit it
    must fail, at the fix it must pass (``bugs.services.proofs``). Only a "no" blocks verification.
    """

    class Source(models.TextChoices):
        MARKER = "marker", "Marker"
        MANUAL = "manual", "Manual"
        IMPORT = "import", "Import"

    bug = models.ForeignKey(Bug, on_delete=models.CASCADE, related_name="regression_tests")
    node_id = models.CharField(max_length=1000)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    last_result = models.ForeignKey("Result", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    is_flaky = models.BooleanField(default=False, db_index=True)
    flaky_commit = models.CharField(max_length=64, blank=True)
    # Still run and shown, but its results never resolve or reopen the bug (see bugs.services.status).
    quarantined = models.BooleanField(default=False, help_text="Runs, but never resolves or reopens its bug.")
    proof_verdict = models.CharField(max_length=8, choices=ProofVerdict.choices, default=ProofVerdict.UNPROVEN, db_index=True)
    proof_parent = models.CharField(max_length=64, blank=True, help_text="The parent of the first fix commit the test ran at.")
    proof_fix = models.CharField(max_length=64, blank=True, help_text="The fix commit the test ran at.")
    proof_detail = models.TextField(blank=True, default="unproven: not proven yet")
    proved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["node_id"]
        permissions = [("quarantine_regressiontest", "Can quarantine or release a flaky test")]
        constraints = [models.UniqueConstraint(fields=["bug", "node_id"], name="bugs_regressiontest_unique")]
        indexes = [models.Index(fields=["node_id"], name="bugs_rt_node")]

    def __str__(self) -> str:
        return f"{self.bug_id} ↔ {self.node_id}"


class FlakyTest(RegressionTest):
    """The regression links seen through their flake rate: the admin's flaky-test page."""

    class Meta:
        proxy = True
        verbose_name = "flaky test"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    ERROR = "error", "Error"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_RUN_STATUSES = (RunStatus.PASSED, RunStatus.FAILED, RunStatus.ERROR, RunStatus.TIMED_OUT, RunStatus.CANCELLED)
# Runs that did not go to the end: their results are shown on their bugs' pages but prove nothing
# either way (they move no bug and flag no test flaky).
INTERRUPTED_RUN_STATUSES = (RunStatus.ERROR, RunStatus.TIMED_OUT, RunStatus.CANCELLED)


class Run(models.Model):
    """One execution of a suite (or an imported CI report), split into one or more shards."""

    class Trigger(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        CLI = "cli", "Command line"
        SCHEDULE = "schedule", "Schedule"
        IMPORT = "import", "Import"
        RERUN = "rerun", "Confirmation rerun"

    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")
    commit_sha = models.CharField(max_length=64, blank=True, db_index=True)
    branch = models.CharField(max_length=200, blank=True)
    # What to run at: a branch, tag or hash of the project's repository, resolved by the worker into
    # commit_sha (blank: the default branch's head; for Atom's own project, its checkout as it is).
    revision = models.CharField(max_length=200, blank=True)
    node_ids = models.JSONField(default=list, blank=True, help_text="The selected tests; empty runs the suite's own selection.")
    # An import's evidence: which file (its hash) from which CI build. A second import counts as a
    # confirmation only when both differ (bugs.services.status).
    upload_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    build = models.CharField(max_length=200, blank=True, help_text="The CI build an imported report came from.")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    duration_seconds = models.FloatField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("cancel_run", "Can cancel runs")]
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(done__lte=models.F("total")) | Q(total=0), name="bugs_run_done_le_total"),
            models.CheckConstraint(
                condition=~Q(status__in=TERMINAL_RUN_STATUSES) | Q(finished_at__isnull=False),
                name="bugs_run_terminal_has_finish",
            ),
        ]

    def __str__(self) -> str:
        return f"Run #{self.pk} ({self.suite_id}, {self.status})"


class RunUpload(models.Model):
    """The report an import was made from, kept as sent: every worker reads it from here, and anyone who
    may see the run can download it (stored excerpts of long messages are truncated; this is not).

    Its bytes are the RunUploadPart rows, in order, so that neither the request that keeps it nor the
    worker that reads it ever holds the whole report in memory.
    """

    run = models.OneToOneField(Run, on_delete=models.CASCADE, primary_key=True, related_name="upload")
    kind = models.CharField(max_length=16, help_text='"junit" or "report-log", told from the head at upload.')
    name = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField()
    parts = models.PositiveIntegerField(default=0, help_text="How many RunUploadPart rows hold the bytes.")
    estimate = models.PositiveIntegerField(default=0, help_text="How many results the report seems to hold, for the progress bar.")
    created_at = models.DateTimeField(auto_now_add=True)
    # The import's claim, as a shard's: the worker reading the report extends the lease batch by batch;
    # the reaper queues an import whose lease expired again, or ends it after the last attempt.
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"Upload of run #{self.run_id} ({self.size} bytes)"


class RunUploadPart(models.Model):
    """One slice of an uploaded report (the last may be shorter); the slices in index order are the report."""

    upload = models.ForeignKey(RunUpload, on_delete=models.CASCADE, related_name="+")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["upload", "index"], name="bugs_uploadpart_upload_index_uniq")]

    def __str__(self) -> str:
        return f"Part {self.index} of the upload of run #{self.upload_id}"


class RunShard(models.Model):
    """A slice of a run's tests executed by one worker, claimed under a lease that heartbeats extend.

    A worker that dies stops heartbeating; the reaper then hands the shard to another worker or, after
    the last attempt, ends it so the run is never left "running".
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        ERROR = "error", "Error"
        TIMED_OUT = "timed_out", "Timed out"
        CANCELLED = "cancelled", "Cancelled"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveSmallIntegerField()
    node_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    exit_code = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="bugs_runshard_unique"),
            models.CheckConstraint(condition=~Q(status="running") | Q(lease_expires_at__isnull=False), name="bugs_shard_running_has_lease"),
        ]

    def __str__(self) -> str:
        return f"Run #{self.run_id} shard {self.index}"


class Outcome(models.TextChoices):
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    ERROR = "error", "Error"
    SKIPPED = "skipped", "Skipped"
    XFAILED = "xfailed", "Expected failure"
    XPASSED = "xpassed", "Unexpected pass"


FAILING_OUTCOMES = (Outcome.FAILED, Outcome.ERROR)


class Result(models.Model):
    """The outcome of one test in one run; reruns inside the run are counted in ``attempts``."""

    # No index of its own: the unique (run, node_id) index serves every lookup by run.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="results", db_index=False)
    node_id = models.CharField(max_length=1000)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    duration_seconds = models.FloatField(default=0)
    attempts = models.PositiveSmallIntegerField(default=1)
    is_flaky = models.BooleanField(default=False, help_text="Passed and failed within this run.")
    message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    # The identity the tool gave (bugs.parsers.ParsedResult): pytest's node id for pytest's own reports,
    # else (scope, classname, name) and the ordinal of a repeat. ``identity`` is the node id without its
    # ``[#n]`` ordinal, so a bug linked to it gets every repeat.
    kind = models.CharField(max_length=8, default="pytest")
    suite = models.CharField(max_length=1000, blank=True)
    scope = models.CharField(max_length=1000, blank=True)
    classname = models.CharField(max_length=1000, blank=True)
    name = models.CharField(max_length=1000, blank=True)
    file = models.CharField(max_length=1000, blank=True)
    line = models.PositiveIntegerField(null=True, blank=True)
    ordinal = models.PositiveIntegerField(default=1)
    identity = models.CharField(max_length=1000, blank=True, db_index=True)
    bugs = models.ManyToManyField(Bug, through="BugResult", related_name="results")

    class Meta:
        ordering = ["run_id", "node_id"]  # run_id, not run: ordering by the relation would join runs
        # (run, node_id) serves every read by run; ``identity`` is indexed for the reads of a linked test
        # across runs (the confirmation rule).
        constraints = [models.UniqueConstraint(fields=["run", "node_id"], name="bugs_result_unique")]

    def __str__(self) -> str:
        return f"{self.node_id}: {self.outcome}"


class BugResult(models.Model):
    """A result attached to a bug that links its node id (once per bug and result)."""

    bug = models.ForeignKey(Bug, on_delete=models.CASCADE, related_name="+", db_index=False)  # led by the unique index
    result = models.ForeignKey(Result, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bug", "result"], name="bugs_bugresult_unique")]

    def __str__(self) -> str:
        return f"{self.bug_id} ← result {self.result_id}"


class BugStatusChange(models.Model):
    """Who moved a bug from one status to another, when and why — people and automatic rules alike."""

    bug = models.ForeignKey(Bug, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=BugStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=BugStatus.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    automatic = models.BooleanField(default=False)
    reason = models.TextField()
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.bug_id}: {self.from_status or '∅'} → {self.to_status}"


class Comment(models.Model):
    """A comment on a bug, in Markdown; the HTML shown is rendered and sanitized once, when it is posted.

    ``mentions`` keeps the usernames its ``@name`` mentions named that belonged to active users at posting
    time (those are the users notified).
    """

    bug = models.ForeignKey(Bug, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(help_text="Markdown.")
    html = models.TextField(editable=False)
    mentions = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["bug", "-created_at"], name="bugs_comment_bug_created")]
        constraints = [models.CheckConstraint(condition=~Q(body=""), name="bugs_comment_not_empty")]

    def __str__(self) -> str:
        return f"Comment #{self.pk} on {self.bug_id}"
