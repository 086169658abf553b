"""The executor, chosen by the ``execution`` settings section, not by code.

``in_process`` (default) runs every step in the run's process; ``multiprocess`` runs independent
steps in parallel child processes on this machine; ``k8s`` runs each step as a Kubernetes job
(the dagster-k8s package, installed next to the Dagster Helm chart's user-code image).
"""

import os

import dagster as dg

from recsys_core.errors import ConfigError
from recsys_core.settings import ExecutionSettings

K8S_PACKAGE = "dagster-k8s==0.29.27"


def executor_for(cfg: ExecutionSettings) -> dg.ExecutorDefinition:
    """The Dagster executor that ``cfg`` names."""
    if cfg.executor == "in_process":
        return dg.in_process_executor
    if cfg.executor == "multiprocess":
        workers = cfg.max_concurrent or os.cpu_count() or 1
        return dg.multiprocess_executor.configured({"max_concurrent": workers})
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as exc:
        raise ConfigError(
            f"execution.executor is 'k8s' but the dagster-k8s package is not installed: "
            f"pip install '{K8S_PACKAGE}' (in the user-code image), or choose 'in_process' or "
            "'multiprocess'"
        ) from exc
    return k8s_job_executor
