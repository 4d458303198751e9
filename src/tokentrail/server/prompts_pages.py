"""The Prompts pages of the dashboard: /prompts (every prompt) and /prompts/{name} (versions with their
state, the stages and rollbacks, which version was live when, a side-by-side diff, the audit log verified,
and per-version metrics). Approve, reject, promote and roll back are buttons that POST to the prompts API
with the page's CSRF token, so they obey the same rules (and the same key scopes) as every other caller."""

from __future__ import annotations

import difflib
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from tokentrail.analytics.summary import summary
from tokentrail.prompts import events as ev
from tokentrail.prompts.registry import PromptNotFound, Registry
from tokentrail.server.dashboard import error_page, page, render, store_of
from tokentrail.server.dashboard_params import View
from tokentrail.server.state import get_state


def registry_of(request: Request) -> Registry:
    found: Registry = get_state(request).prompts
    return found


@page("/prompts")
def prompts_list(request: Request, view: View) -> Response:
    reg = registry_of(request)
    states = [reg.state(name) for name in reg.names()]
    return render(request, "prompts.html", view, title="Prompts", states=states, stage_names=reg.stages.names)


def side_by_side(old: str, new: str) -> list[tuple[str, str, str]]:
    """(left, right, tag) rows; tag is equal, replace, delete or insert."""
    a, b = old.splitlines(), new.splitlines()
    rows: list[tuple[str, str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        left, right = a[i1:i2], b[j1:j2]
        for k in range(max(len(left), len(right))):
            rows.append((left[k] if k < len(left) else "", right[k] if k < len(right) else "", tag))
    return rows


def version_metrics(request: Request, view: View, state: ev.State) -> dict[int, dict[str, Any]]:
    """Calls, cost, latency, TTFT and error rate per version in the view's range (None where no calls)."""
    filters = {"prompt_name": state.name}
    result = summary(store_of(request), view.time_range, ["prompt_version"], filters)
    found = {str(row["prompt_version"]): row for row in result.dicts()}
    return {n: found.get(str(n)) or dict.fromkeys(result.columns) for n in state.versions}


@page("/prompts/{name}")
def prompt_detail(request: Request, view: View) -> Response:
    reg, name = registry_of(request), request.path_params["name"]
    try:
        state = reg.state(name)
    except PromptNotFound as exc:
        return error_page(request, 404, str(exc), view)
    numbers = sorted(state.versions)
    a = view.int_option("a", numbers[-2] if len(numbers) > 1 else numbers[0])
    b = view.int_option("b", numbers[-1])
    if a not in state.versions or b not in state.versions:
        return error_page(request, 400, f"{name!r} has versions {numbers}", view)
    entries = reg.events(name)
    diff = side_by_side(state.versions[a].content.render(), state.versions[b].content.render())
    return render(
        request,
        "prompt.html",
        view,
        title=f"Prompt {name}",
        state=state,
        stages=reg.stages,
        held=state.stages,
        diff=diff,
        a=a,
        b=b,
        entries=entries,
        problems=ev.verify(entries),
        metrics=version_metrics(request, view, state),
    )
