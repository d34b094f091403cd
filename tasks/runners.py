"""Task runners: a capped thread pool by default, Dask when configured.

Prefect's default thread pool is unbounded; ours is capped. For nightly-risk chunks on more
than one machine, ``SIGMASIGHT_DASK_ADDRESS`` (a scheduler such as ``tcp://10.0.0.5:8786``)
or ``SIGMASIGHT_DASK_LOCAL_WORKERS=N`` (a local cluster of N single-threaded processes)
selects prefect-dask's ``DaskTaskRunner``. A Dask task run costs about 200 ms here, so it
only pays for chunk-sized tasks.
"""

from typing import Any, cast

from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from sigmasight.settings import Settings


def thread_pool(max_workers: int) -> TaskRunner[PrefectFuture[Any]]:
    """A ``ThreadPoolTaskRunner`` with at most ``max_workers`` threads."""
    return cast("TaskRunner[PrefectFuture[Any]]", ThreadPoolTaskRunner(max_workers=max_workers))


def dask_runner(
    *, address: str | None = None, local_workers: int = 0
) -> TaskRunner[PrefectFuture[Any]]:
    """A ``DaskTaskRunner`` on an existing scheduler, or on a local cluster of processes."""
    from prefect_dask.task_runners import DaskTaskRunner

    if address:
        return cast("TaskRunner[PrefectFuture[Any]]", DaskTaskRunner(address=address))
    return cast(
        "TaskRunner[PrefectFuture[Any]]",
        DaskTaskRunner(
            cluster_kwargs={"n_workers": local_workers, "threads_per_worker": 1, "processes": True}
        ),
    )


def risk_runner(settings: Settings) -> TaskRunner[PrefectFuture[Any]]:
    """Dask when configured, else the capped thread pool."""
    if settings.dask_address or settings.dask_local_workers:
        return dask_runner(address=settings.dask_address, local_workers=settings.dask_local_workers)
    return thread_pool(settings.risk_workers)
