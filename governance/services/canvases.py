"""Canvases through governance: creating, updating and running a script are governed actions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from atom.errors import DomainError
from governance.models import (
    Canvas,
    CanvasKind,
)
from governance.services.actions import ActionOutcome, agent_action_request
from governance.services.decision import JAVASCRIPT_ACTION
from governance.services.execution import canvas_audit_record

ZERO = Decimal("0")


# --- Canvases through governance ----------------------------------------------------------------

CANVAS_CREATE_ACTIONS: dict[str, str] = {
    CanvasKind.MARKDOWN: "present_markdown",
    CanvasKind.CHART: "present_chart",
    CanvasKind.FORM: "present_form",
    CanvasKind.HTML: "update_canvas",
}


def canvas_create(
    *, actor: Any, agent_id: int, kind: str, params: dict[str, Any], request_id: str = "", acting_agent_id: int | None = None
) -> ActionOutcome:
    """Present a new canvas: the action of its kind goes through the governance decision."""
    return agent_action_request(
        actor=actor,
        agent_id=agent_id,
        action=CANVAS_CREATE_ACTIONS[kind],
        params=params,
        cost=ZERO,
        request_id=request_id,
        acting_agent_id=acting_agent_id,
    )


def canvas_update(
    *, actor: Any, canvas: Canvas, params: dict[str, Any], request_id: str = "", acting_agent_id: int | None = None
) -> ActionOutcome:
    """Change a canvas: the ``update_canvas`` action, through the governance decision."""
    return agent_action_request(
        actor=actor,
        agent_id=canvas.agent_id,
        action="update_canvas",
        params={**params, "canvas_id": canvas.pk},
        cost=ZERO,
        request_id=request_id,
        acting_agent_id=acting_agent_id,
    )


def canvas_script_execute(
    *, actor: Any, canvas: Canvas, code: str, request_id: str = "", acting_agent_id: int | None = None
) -> ActionOutcome:
    """Authorize and store JavaScript for a canvas: AUTONOMOUS only (the decision, then the store checks
    again), never a proposal; every request lands in the canvas audit with the code's hash."""
    try:
        return agent_action_request(
            actor=actor,
            agent_id=canvas.agent_id,
            action=JAVASCRIPT_ACTION,
            params={"canvas_id": canvas.pk, "code": code},
            cost=ZERO,
            request_id=request_id,
            acting_agent_id=acting_agent_id,
        )
    except DomainError as exc:
        if exc.code != "CANVAS_SCRIPT_REFUSED":
            # The script was never looked at (tier, state, rate limit): record the refusal all the same.
            canvas_audit_record(canvas=canvas, actor=actor, code=code, outcome="blocked", reason=exc.code, request_id=request_id)
        raise
