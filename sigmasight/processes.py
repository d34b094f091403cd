"""How the run steps start their worker processes (report workers, the history writer)."""

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver


def worker_context(preload: str) -> multiprocessing.context.BaseContext:
    """``forkserver`` (workers start from a clean process that imported ``preload``), else ``spawn``.

    Never a plain ``fork`` of the flow's process, whose Prefect threads may hold locks. The
    fork server is started here, so that it imports the modules (seconds of one core) while
    the caller goes on with its own work; a server already running is kept, with what it
    imported.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([preload])
        multiprocessing.forkserver.ensure_running()
        return context
    return multiprocessing.get_context("spawn")
