"""The dashboard's Experiments pages (their charts read `experiments_api`):

    /experiments                 every experiment, its variants and calls
    /experiments/{name}          one metric: variants side by side with intervals, the comparison with the
                                 control, the sample-ratio check, power guidance and the metric over time

An experiment page covers all the experiment's calls (no time range). It takes the API's parameters
(metric, stat, unit, mode, control, split, effect); a stat the chosen metric does not take falls back to
the metric's default, so switching metrics in the form never ends on an error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokentrail.experiments import analysis, data
from tokentrail.server.dashboard import error_page, page, render, store_of
from tokentrail.server.dashboard_params import View
from tokentrail.server.experiments_api import SPEC_PARAMS, experiment_answer

router = APIRouter(include_in_schema=False)
PAGE_EFFECT = "0.05"  # the effect the page plans for unless the URL names one


def experiment_url(name: str, params: dict[str, str] | None = None) -> str:
    return f"/experiments/{quote(name, safe='')}" + (f"?{urlencode(params)}" if params else "")


def page_params(view: View) -> dict[str, str]:
    params = {k: v for k, v in view.options if k in SPEC_PARAMS and v}
    metric = params.get("metric", "latency_ms")
    if metric in analysis.METRICS and params.get("stat") not in analysis.METRICS[metric]:
        params.pop("stat", None)
    params.setdefault("effect", PAGE_EFFECT)
    return params


@page("/experiments", on=router)
def experiments(request: Request, view: View) -> Response:
    found = data.list_experiments(store_of(request))
    return render(request, "experiments.html", None, title="Experiments", found=found, url=experiment_url)


@page("/experiments/{name}", on=router)
def experiment(request: Request, view: View) -> Response:
    name = request.path_params["name"]
    params = page_params(view)
    try:
        answer = experiment_answer(store_of(request), name, params)
    except data.NotFound as exc:
        return error_page(request, 404, f"{exc}.")
    return render(
        request,
        "experiment.html",
        None,  # no time range: the page covers all the experiment's calls
        title=f"Experiment {name}",
        name=name,
        answer=answer,
        params=params,
        form=form_choices(store_of(request), name),
        api=f"/api/experiments/{quote(name, safe='')}",
        query=urlencode(params),
        charts=True,
    )


def form_choices(store: Any, name: str) -> dict[str, Any]:
    found = [e["variants"] for e in data.list_experiments(store) if e["experiment"] == name]
    variants: list[dict[str, Any]] = found[0] if found else []
    return {
        "metrics": analysis.METRICS,
        "units": data.UNITS,
        "modes": analysis.MODES,
        "variants": [v["variant"] for v in variants],
    }
