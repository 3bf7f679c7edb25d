"""The operators' dashboard in the admin: what matters at a glance, drawn as SVG on the server.

Wiring only: every figure comes from a selector of the app that owns the data (a fixed number of
aggregate queries whatever the size of the tables); this module turns them into pygal charts. The
charts carry no script and load nothing from the network (``js=[]``).
"""

from __future__ import annotations

from typing import Any

import pygal  # type: ignore[import-untyped]
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style  # type: ignore[import-untyped]

from atom.health import broker_backlog
from atom.permissions import actor_may
from atom.workers import workers_seen
from bugs import selectors as bug_selectors
from governance import selectors as governance_selectors

SEVERITY_COLOURS = {"P0": "#b91c1c", "P1": "#ea580c", "P2": "#ca8a04", "P3": "#6b7280"}
TIER_COLOURS = {"STUDENT": "#6b7280", "INTERN": "#2563eb", "SUPERVISED": "#d97706", "AUTONOMOUS": "#059669"}
# A run that errored or timed out is drawn as a full red bar in the pass-rate chart.
INTERRUPTED_RUN_STATUSES = ("error", "timed_out")
ERRORED_RUN_COLOUR = "#b91c1c"
OUTCOME_COLOURS = {"allowed": "#059669", "proposed": "#2563eb", "refused": "#b91c1c", "failed": "#6b7280"}


def _style(colours: tuple[str, ...]) -> Style:
    return Style(
        background="transparent",
        plot_background="#ffffff",
        foreground="#333333",
        foreground_strong="#111111",
        foreground_subtle="#dddddd",
        colors=colours,
        font_family="system-ui, sans-serif",
        label_font_size=11,
        major_label_font_size=11,
        legend_font_size=12,
        title_font_size=14,
        value_font_size=11,
    )


def _config(colours: tuple[str, ...], **options: Any) -> dict[str, Any]:
    # js=[]: pygal would otherwise reference its tooltip script on a CDN.
    return {
        "js": [], "style": _style(colours), "width": 640, "height": 300, "legend_at_bottom": True,
        "margin": 12, "truncate_label": -1, "truncate_legend": -1, "print_zeroes": False, **options,
    }  # fmt: skip


def _count_ticks(largest: int) -> list[int]:
    """Whole-number ticks (1, 2 or 5 times a power of ten, at most about six) for an axis of counts:
    pygal would draw 0.2 steps for small ones."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if largest / step <= 6:
                return list(range(0, max(largest, 1) + step, step))
        magnitude *= 10


def _top(url: str) -> dict[str, str]:
    # A bar is a plain SVG link (no script): it opens the admin list behind the figure.
    return {"href": url, "target": "_top"}


def _link(name: str, pk: int) -> dict[str, str]:
    return _top(reverse(name, args=[pk]))


def _svg(chart: Any) -> SafeString:
    # pygal escapes every label it draws; the text comes from choices, dates and counts only.
    return mark_safe(chart.render(disable_xml_declaration=True))  # noqa: S308  # nosec B308 B703


def open_bugs_chart(now: Any) -> SafeString:
    days, counts = bug_selectors.dashboard_open_bugs_by_day(days=30, now=now)
    chart = pygal.StackedLine(
        **_config(tuple(SEVERITY_COLOURS.values()), fill=True, show_dots=False, x_label_rotation=0, show_minor_x_labels=False)
    )
    chart.x_labels = [day.strftime("%d %b") for day in days]
    chart.x_labels_major = chart.x_labels[::7]
    chart.y_labels = _count_ticks(max(map(sum, zip(*counts.values(), strict=True)), default=0))
    for severity in SEVERITY_COLOURS:
        chart.add(severity, counts[severity])
    return _svg(chart)


def sla_chart(now: Any) -> tuple[SafeString, int, int]:
    """The SLA panel, the number of breaches, and the fixed bugs waiting for a verifying run."""
    counts = bug_selectors.dashboard_sla_by_severity(now=now)
    chart = pygal.Bar(**_config(("#9ca3af", "#b91c1c"), print_values=True))
    chart.x_labels = list(counts)
    chart.y_labels = _count_ticks(max(row["open"] for row in counts.values()))
    bugs = reverse("admin:bugs_bug_changelist")
    chart.add("open", [{"value": row["open"], "xlink": _top(f"{bugs}?severity__exact={sev}")} for sev, row in counts.items()])
    chart.add(
        "SLA breached",
        [{"value": row["breached"], "xlink": _top(f"{bugs}?severity__exact={sev}&sla_breached=yes")} for sev, row in counts.items()],
    )
    return _svg(chart), sum(row["breached"] for row in counts.values()), sum(row["fixed"] for row in counts.values())


def pass_rate_chart() -> tuple[SafeString, int]:
    runs = bug_selectors.dashboard_run_pass_rates(limit=20)
    chart = pygal.Bar(**_config(("#059669",), range=(0, 100), print_values=True, show_legend=False))
    # Twenty run numbers do not fit side by side: beyond ten, name every fifth, newest included.
    every = 1 if len(runs) <= 10 else 5
    chart.x_labels = [f"#{run['pk']}" if (len(runs) - 1 - index) % every == 0 else "" for index, run in enumerate(runs)]
    chart.add("pass rate", [_pass_rate_bar(run) for run in runs])
    return _svg(chart), len(runs)


def _pass_rate_bar(run: dict[str, Any]) -> dict[str, Any]:
    """One run's bar: its pass rate, or a full red bar named by its status for a run that errored or
    timed out (its few results, if any, say nothing of the code)."""
    link = _link("admin:bugs_run_change", run["pk"])
    if run["status"] in INTERRUPTED_RUN_STATUSES:
        status = str(run["status"]).replace("_", " ")
        return {"value": 100, "color": ERRORED_RUN_COLOUR, "label": status, "formatter": lambda _value: status, "xlink": link}
    rate = None if run["pass_rate"] is None else round(100 * run["pass_rate"], 1)
    return {"value": rate, "xlink": link}


def tier_chart() -> tuple[SafeString, int]:
    counts = governance_selectors.dashboard_agents_by_tier()
    chart = pygal.StackedBar(**_config(("#2563eb", "#d1d5db"), print_values=True))
    chart.x_labels = list(counts)
    chart.y_labels = _count_ticks(max(row["active"] + row["inactive"] for row in counts.values()))
    agents = reverse("admin:governance_agent_changelist")
    chart.add("active", [{"value": row["active"], "xlink": _top(f"{agents}?maturity__exact={tier}")} for tier, row in counts.items()])
    chart.add("paused or stopped", [row["inactive"] for row in counts.values()])
    return _svg(chart), sum(row["active"] + row["inactive"] for row in counts.values())


def actions_chart(now: Any) -> tuple[SafeString, dict[str, int]]:
    hours, series = governance_selectors.dashboard_actions_by_hour(hours=24, now=now)
    chart = pygal.StackedBar(**_config(tuple(OUTCOME_COLOURS.values()), x_label_rotation=0))
    chart.x_labels = [hour.strftime("%H:00") if index % 3 == 0 else "" for index, hour in enumerate(hours)]
    chart.y_labels = _count_ticks(max(map(sum, zip(*series.values(), strict=True)), default=0))
    for group in OUTCOME_COLOURS:
        chart.add(group, series[group])
    return _svg(chart), {group: sum(values) for group, values in series.items()}


def health_panel(now: Any) -> dict[str, Any]:
    """Workers seen in the last minute, the queued tasks and the oldest one's age, the runs stuck past
    their lease. Two queries; the broker is asked on the health pool, so a broker that is down or hangs
    shows "unavailable" within the health timeout instead of holding the page."""
    return {
        "workers": workers_seen(now=now),
        "broker": broker_backlog(),
        "stuck_runs": bug_selectors.runs_stuck(now=now),
    }


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The dashboard page: each panel computed only for those who may see its data (the template hides the rest).

    At most nine queries after authentication (seven aggregates and the health panel's two), fewer for
    users who may see fewer panels.
    """
    now = timezone.now()
    user = request.user
    charts: dict[str, SafeString] = {}
    context: dict[str, Any] = {"breaches": 0, "fixed_unverified": 0, "runs": 0, "agents": 0, "action_totals": {}, "proposals": {}}
    if actor_may(user, "bugs.view_bug"):
        charts["open_bugs"] = open_bugs_chart(now)
        charts["sla"], context["breaches"], context["fixed_unverified"] = sla_chart(now)
    if actor_may(user, "bugs.view_run"):
        charts["pass_rate"], context["runs"] = pass_rate_chart()
    if actor_may(user, "governance.view_agent"):
        charts["tiers"], context["agents"] = tier_chart()
    if actor_may(user, "governance.view_auditentry"):
        charts["actions"], context["action_totals"] = actions_chart(now)
    if actor_may(user, "governance.view_proposal"):
        context["proposals"] = governance_selectors.dashboard_proposals_waiting(now=now)
    if actor_may(user, "atom.view_health"):
        context["health"] = health_panel(now)
    context.update({**admin.site.each_context(request), "title": "Dashboard", "charts": charts})
    return TemplateResponse(request, "admin/dashboard.html", context)
