"""A sweep's runs one at a time: what each combination's folder needs ('train', 'resume', 'keep'
or 'failed'), and training or resuming it through `dlcli.training.api` (imported inside the
functions, as torch is: api.py itself reads `plan.combinations`, never this module).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dlcli.errors import InputError, RunFailure
from dlcli.training.compare import flat_config, read_run, show
from dlcli.training.engine.callbacks import Callback
from dlcli.training.runs import files as rd
from dlcli.training.runs import state as rs
from dlcli.training.sweep.plan import Job


def requested(model: str, knobs: dict[str, Any]) -> dict[str, Any]:
    """The config.json sections a combination will have (validates it: InputError early)."""
    from dlcli.training.api import split_knobs
    from dlcli.training.config import config_to_dict

    knobs = {("source" if k == "data" else k): v for k, v in knobs.items()}
    model_config, data, train = split_knobs(model, knobs)
    return {
        "model": model,
        "model_config": config_to_dict(model_config),
        "data": config_to_dict(data),
        "train": config_to_dict(train),
    }


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """config.json without what a sweep may change on a re-run (threads) or the data fills in."""
    knobs = flat_config(config)
    knobs.pop("threads", None)
    return knobs


def job_state(job: Job, requested: dict[str, Any]) -> str:
    """What the folder of a combination needs: 'train', 'resume', 'keep' or 'failed'."""
    state = rs.run_state(job.out)
    if not (job.out / rd.CONFIG).exists():
        return "train"  # absent or empty; anything else there is refused by new_run_dir
    stored = rd.read_json(job.out / rd.CONFIG)
    want, have = _comparable(requested), _comparable(stored)
    diff = [k for k in want if json.dumps(want[k]) != json.dumps(have.get(k))]
    if diff:
        k = diff[0]
        raise InputError(
            f"sweep folder '{job.out}' holds a run whose {k} is {show(have.get(k))}, not the "
            f"requested {show(want[k])}; give another --out (or the command that made it)"
        )
    if state.state == rs.FINISHED:
        return "keep"
    return "failed" if state.status == "diverged" else "resume"


def kept(job: Job) -> dict[str, Any]:
    run = read_run(job.out)
    if run.metrics is None:
        return {"out": str(job.out), "error": f"run '{job.out}' {run.status}"}
    return run.metrics


def run_job(model: str, job: Job, animate: bool, callbacks: Sequence[Callback]) -> dict[str, Any]:
    """Train or resume one combination; a diverged run is a result (an error), not the end."""
    from dlcli.training import api

    try:
        if job.action == "resume":
            result = api.resume(job.out, callbacks=callbacks, animate=animate)
        else:
            knobs = dict(job.knobs)
            result = api.train(
                model, knobs.pop("data"), out=job.out, callbacks=callbacks, animate=animate, **knobs
            )
    except RunFailure as exc:
        return {"out": str(job.out), "error": str(exc)}
    return result.to_dict()
