"""The executor, chosen by the ``execution`` settings section, not by code.

``in_process`` (default) runs every step in the run's process; ``multiprocess`` runs independent
steps in parallel child processes on this machine; ``dask`` runs each step on a Dask worker
(dagster-dask): a local cluster of worker processes started for the run, or the workers of a
running scheduler on many machines; ``k8s`` runs each step as a Kubernetes job (the dagster-k8s
package, installed next to the Dagster Helm chart's user-code image). Every executor but
``in_process`` needs a persistent Dagster instance (``DAGSTER_HOME``) and passes values between
steps through the IO manager's files only.
"""

import logging
import os

import dagster as dg

from recsys_core.errors import ConfigError
from recsys_core.sections import DaskSettings
from recsys_core.settings import ExecutionSettings

K8S_PACKAGE = "dagster-k8s==0.29.27"
DASK_PACKAGE = "dagster-dask==0.29.27"


def executor_for(cfg: ExecutionSettings) -> dg.ExecutorDefinition:
    """The Dagster executor that ``cfg`` names."""
    if cfg.executor == "in_process":
        return dg.in_process_executor
    if cfg.executor == "multiprocess":
        workers = cfg.max_concurrent or os.cpu_count() or 1
        return dg.multiprocess_executor.configured(
            {
                "max_concurrent": workers,
                "start_method": {"forkserver": {"preload_modules": ["pipeline.definitions"]}},
            }
        )
    if cfg.executor == "dask":
        return dask_executor(cfg.dask)
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as exc:
        raise _missing("k8s", K8S_PACKAGE, "in the user-code image") from exc
    return k8s_job_executor


def dask_cluster(cfg: DaskSettings) -> dict:
    """dagster-dask's ``cluster`` config: the scheduler at ``cfg.scheduler``, else a local
    cluster of ``n_workers`` processes (one thread each, which dagster-dask imposes anyway: a
    step is not thread-safe) with no dashboard (nothing listens on a port but the scheduler)."""
    if cfg.scheduler:
        return {"existing": {"address": cfg.scheduler}}
    local = {
        "n_workers": cfg.n_workers or os.cpu_count() or 1,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
    }
    if cfg.memory_limit_gib is not None:
        local["memory_limit"] = int(cfg.memory_limit_gib * 2**30)
    return {"local": local}


def dask_executor(cfg: DaskSettings) -> dg.ExecutorDefinition:
    """dagster-dask's executor on the cluster ``cfg`` describes."""
    try:
        from dagster_dask import dask_executor as executor
    except ImportError as exc:
        raise _missing("dask", DASK_PACKAGE, "where the job runs and on every worker") from exc
    # a step's result is a list of Dagster events, which Dask cannot size for its memory
    # accounting: it warns on every step, harmlessly (this runs in the workers too, as they load
    # the definitions)
    logging.getLogger("distributed.sizeof").setLevel(logging.ERROR)
    return executor.configured({"cluster": dask_cluster(cfg)})


def _missing(name: str, package: str, where: str) -> ConfigError:
    return ConfigError(
        f"execution.executor is '{name}' but the {package.split('==')[0]} package is not "
        f"installed: pip install '{package}' ({where}), or choose 'in_process' or 'multiprocess'"
    )
