"""The seeded roles: one group per kind of operator, each with exactly the permissions its work needs.

The README's roles table is this data; a test pins the two together and the groups in the database to both.
A migration creates the groups and ``seed_demo`` re-applies the table, so a group always holds exactly
these permissions ("app_label.codename").
"""

from __future__ import annotations

GOVERNANCE_VIEWS = (
    "governance.view_agent",
    "governance.view_proposal",
    "governance.view_actionexecution",
    "governance.view_supervisionsession",
    "governance.view_maturitychange",
    "governance.view_actionpolicy",
    "governance.view_canvas",
)
BUGS_VIEWS = (
    "bugs.view_bug",
    "bugs.view_run",
    "bugs.view_result",
    "bugs.view_suite",
    "bugs.view_regressiontest",
    "bugs.view_bugstatuschange",
    "bugs.view_severitypolicy",
    "bugs.view_comment",
    "bugs.view_project",
    "bugs.view_webhookdelivery",
)
EPISODES_VIEWS = ("episodes.view_episode", "episodes.view_segment", "episodes.view_interaction", "episodes.view_episodeaccess")

ROLES: dict[str, tuple[str, ...]] = {
    # Runs the agents day to day: their settings, state and tiers, the proposals and the action map.
    "Operator": (
        *GOVERNANCE_VIEWS,
        "governance.change_agent",
        "governance.pause_agent",
        "governance.resume_agent",
        "governance.promote_agent",
        "governance.demote_agent",
        "governance.graduate_agent",
        "governance.approve_proposal",
        "governance.reject_proposal",
        "governance.close_supervision",
        "governance.add_actionpolicy",
        "governance.change_actionpolicy",
        "governance.delete_actionpolicy",
        "notifications.manage_channels",
    ),
    # Decides what agents ask for and closes supervision; changes no agent.
    "Reviewer": (
        "governance.view_agent",
        "governance.view_proposal",
        "governance.view_actionexecution",
        "governance.view_supervisionsession",
        "governance.approve_proposal",
        "governance.reject_proposal",
        "governance.close_supervision",
    ),
    # Reads everything, the audit log included; changes nothing.
    "Auditor": (
        *GOVERNANCE_VIEWS,
        "governance.view_auditentry",
        "governance.view_canvasaudit",
        *BUGS_VIEWS,
        *EPISODES_VIEWS,
        "notifications.view_delivery",
    ),
    # Works the hardening loop: bugs, their tests, runs and the report.
    "Bug triager": (
        *BUGS_VIEWS,
        "bugs.add_bug",
        "bugs.change_bug",
        "bugs.mark_duplicate_bug",
        "bugs.add_regressiontest",
        "bugs.change_regressiontest",
        "bugs.delete_regressiontest",
        "bugs.run_regressions",
        "bugs.cancel_run",
        "bugs.add_run",
        "bugs.export_triage_report",
        "bugs.add_comment",
        "bugs.link_project_commits",
        "bugs.prove_regressions",
    ),
}


def roles_apply(*, group_model: type, permission_model: type, skip_missing: bool = False) -> None:
    """Create each group and give it exactly its permissions (models passed in, so a migration can call it
    with its historical models). ``skip_missing``: leave out permissions whose models a migration has not
    made yet (an early migration; a later one applies the table again in full)."""
    for name, permissions in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)  # type: ignore[attr-defined]
        rows = []
        for label in permissions:
            app_label, codename = label.split(".")
            found = permission_model.objects.filter(content_type__app_label=app_label, codename=codename).first()  # type: ignore[attr-defined]
            if found is None and not skip_missing:
                raise LookupError(f"No permission {label}.")
            if found is not None:
                rows.append(found)
        group.permissions.set(rows)
