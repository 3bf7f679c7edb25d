"""What Atom really performs once an action is allowed: the handlers, each validated before any charge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import nh3

from atom.errors import DomainError, ForbiddenError, NotFoundError
from governance.models import (
    ActionExecution,
    Agent,
    AgentState,
    Canvas,
    CanvasAudit,
    CanvasKind,
    ExecutionStatus,
    Maturity,
    Proposal,
)
from governance.sanitize import canvas_markdown_sanitize, canvas_sanitize, canvas_script_problem, code_hash
from governance.services.decision import JAVASCRIPT_ACTION


def canvas_audit_record(*, canvas: Canvas, actor: Any, code: str, outcome: str, reason: str = "", request_id: str = "") -> CanvasAudit:
    """One canvas-audit row for a JavaScript request: the code's hash and size, never the code itself."""
    return CanvasAudit.objects.create(
        canvas=canvas,
        agent_id=canvas.agent_id,
        actor=actor,
        code_hash=code_hash(code),
        code_bytes=len(code.encode("utf-8")),
        outcome=outcome,
        reason=reason[:300],
        request_id=request_id[:64],
    )


def _canvas_content(kind: str, params: dict[str, Any]) -> tuple[str, Any]:
    """Validate canvas parameters for ``kind`` and return (sanitized text, JSON data)."""
    if kind in (CanvasKind.MARKDOWN, CanvasKind.HTML):
        content = params.get("content", "")
        if not isinstance(content, str) or len(content) > 200_000:
            raise DomainError("content must be a string of at most 200,000 characters.", code="VALIDATION_ERROR")
        return (canvas_markdown_sanitize(content) if kind == CanvasKind.MARKDOWN else canvas_sanitize(content)), None
    data = params.get("data") if kind == CanvasKind.CHART else params.get("schema")
    if not isinstance(data, dict):
        raise DomainError(
            f"A {kind} canvas needs a JSON object in {'data' if kind == CanvasKind.CHART else 'schema'}.", code="VALIDATION_ERROR"
        )
    return "", data


def _canvas_title(params: dict[str, Any]) -> str:
    title = params.get("title", "")
    if not isinstance(title, str) or len(title) > 200:
        raise DomainError("title must be a string of at most 200 characters.", code="VALIDATION_ERROR")
    return nh3.clean(title, tags=set())


def _owned_canvas(agent: Agent, params: dict[str, Any]) -> Canvas:
    canvas_id = params.get("canvas_id")
    if not isinstance(canvas_id, int) or isinstance(canvas_id, bool):
        raise DomainError("canvas_id must be an integer.", code="VALIDATION_ERROR")
    canvas = Canvas.objects.filter(pk=canvas_id, agent=agent).first()
    if canvas is None:
        raise NotFoundError("Canvas not found.")
    return canvas


# --- Executing allowed actions -------------------------------------------------------------------


@dataclass
class ActionContext:
    """Everything a handler needs: the agent (already authorized), the actor, the parameters."""

    agent: Agent
    actor: Any
    action: str
    params: dict[str, Any]
    request_id: str


@dataclass(frozen=True)
class ActionHandler:
    """An action Atom can really perform: ``validate`` runs before any charge, ``perform`` inside it."""

    validate: Callable[[ActionContext], None]
    perform: Callable[[ActionContext], dict[str, Any]]


_PRESENT_KINDS = {"present_markdown": CanvasKind.MARKDOWN, "present_chart": CanvasKind.CHART, "present_form": CanvasKind.FORM}


def _present_validate(context: ActionContext) -> None:
    _canvas_title(context.params)
    _canvas_content(_PRESENT_KINDS[context.action], context.params)


def _present_perform(context: ActionContext) -> dict[str, Any]:
    kind = _PRESENT_KINDS[context.action]
    content, data = _canvas_content(kind, context.params)
    canvas = Canvas.objects.create(agent=context.agent, kind=kind, title=_canvas_title(context.params), content=content, data=data)
    return {"canvas_id": canvas.pk}


def _update_validate(context: ActionContext) -> None:
    if "title" in context.params:
        _canvas_title(context.params)
    if "canvas_id" not in context.params:
        _canvas_content(CanvasKind.HTML, context.params)
        return
    canvas = _owned_canvas(context.agent, context.params)
    if _has_content(canvas.kind, context.params):
        _canvas_content(canvas.kind, context.params)


def _has_content(kind: str, params: dict[str, Any]) -> bool:
    key = {CanvasKind.CHART: "data", CanvasKind.FORM: "schema"}.get(CanvasKind(kind), "content")
    return key in params


def _update_perform(context: ActionContext) -> dict[str, Any]:
    """Update the named canvas, or create an HTML canvas when no canvas_id is given."""
    if "canvas_id" not in context.params:
        content, _ = _canvas_content(CanvasKind.HTML, context.params)
        created = Canvas.objects.create(agent=context.agent, kind=CanvasKind.HTML, title=_canvas_title(context.params), content=content)
        return {"canvas_id": created.pk}
    canvas = _owned_canvas(context.agent, context.params)
    if "title" in context.params:
        canvas.title = _canvas_title(context.params)
    if _has_content(canvas.kind, context.params):
        canvas.content, canvas.data = _canvas_content(canvas.kind, context.params)
    canvas.save(update_fields=["title", "content", "data", "updated_at"])
    return {"canvas_id": canvas.pk}


def _script_code(params: dict[str, Any]) -> str:
    code = params.get("code")
    if not isinstance(code, str):
        raise DomainError("code must be a string.", code="VALIDATION_ERROR")
    return code


def _script_validate(context: ActionContext) -> None:
    canvas = _owned_canvas(context.agent, context.params)
    code = _script_code(context.params)
    problem = canvas_script_problem(code)
    if problem is not None:
        canvas_audit_record(canvas=canvas, actor=context.actor, code=code, outcome="refused", reason=problem, request_id=context.request_id)
        raise ForbiddenError(problem, code="CANVAS_SCRIPT_REFUSED")


def _script_perform(context: ActionContext) -> dict[str, Any]:
    canvas = _owned_canvas(context.agent, context.params)
    stored = canvas_script_store(canvas=canvas, actor=context.actor, code=_script_code(context.params), request_id=context.request_id)
    return {"canvas_id": stored.pk, "code_hash": stored.script_hash}


ACTION_HANDLERS: dict[str, ActionHandler] = {
    **dict.fromkeys(_PRESENT_KINDS, ActionHandler(_present_validate, _present_perform)),
    "update_canvas": ActionHandler(_update_validate, _update_perform),
    JAVASCRIPT_ACTION: ActionHandler(_script_validate, _script_perform),
}


def canvas_script_store(*, canvas: Canvas, actor: Any, code: str, request_id: str = "") -> Canvas:
    """Store a script on a canvas. Checked again here, where it is stored: the agent must be AUTONOMOUS
    and active right now (read under a row lock), and the code must pass the size limit and blocklist.
    Atom never executes the script."""
    agent = Agent.objects.select_for_update().get(pk=canvas.agent_id)
    if agent.maturity != Maturity.AUTONOMOUS or agent.state != AgentState.ACTIVE:
        raise ForbiddenError("Only an active AUTONOMOUS agent may run JavaScript on a canvas.", code="MATURITY_INSUFFICIENT")
    problem = canvas_script_problem(code)
    if problem is not None:
        raise ForbiddenError(problem, code="CANVAS_SCRIPT_REFUSED")
    canvas.script = code
    canvas.script_hash = code_hash(code)
    canvas.save(update_fields=["script", "script_hash", "updated_at"])
    canvas_audit_record(canvas=canvas, actor=actor, code=code, outcome="stored", request_id=request_id)
    return canvas


def action_perform(*, context: ActionContext, cost: Decimal, proposal: Proposal | None = None, save: bool = True) -> ActionExecution:
    """Run an allowed, already-charged action through the registry. Actions Atom cannot perform itself
    are recorded with their parameters for the agent's runtime, never answered with a made-up result.

    ``save=False`` returns the execution row unsaved, for a caller that writes it in the same statement
    as the charge; only for actions that are recorded, since nothing may run before the charge holds.
    """
    handler = ACTION_HANDLERS.get(context.action)
    if handler is None:
        status, result = ExecutionStatus.RECORDED, None
    elif not save:
        raise ValueError(f"{context.action!r} runs a handler: it is performed only once charged.")
    else:
        status, result = ExecutionStatus.COMPLETED, handler.perform(context)
    execution = ActionExecution(
        agent=context.agent,
        actor=context.actor,
        action=context.action,
        params=context.params,
        cost=cost,
        status=status,
        result=result,
        proposal=proposal,
        request_id=context.request_id[:64],
    )
    if save:
        execution.save(force_insert=True)
    return execution
