"""Where work runs: in this process, in local worker processes, or on a Ray cluster — one home for
searches and datasets alike.

A runner does two jobs:

* ``evaluate(problem, genomes)``: a search's batch, split into chunks evaluated with
  ``problem.evaluate``, the results in the batch's order, so the search (and its journal) sees the
  same sequence whichever runner ran it;
* ``imap_unordered(fn, jobs)``: independent jobs (a dataset's shards), each result as it finishes.

Local workers are spawned (a fresh interpreter: no forked locks or thread pools) and run one Numba
thread each, since the workers share the cores. A worker receives a search problem once and keeps
it for later chunks, so the problem's caches (built networks, packed tables) survive between
batches. Problems and job functions must be picklable (for workers, importable by module name).
"""

from __future__ import annotations

import os
import sys

from accelsim.errors import AccelsimError


class RunnerError(AccelsimError):
    """A runner cannot start (e.g. Ray is not installed or the cluster address is unreachable)."""


def _chunks(items: list, n: int) -> list[list]:
    size = max(1, -(-len(items) // n))
    return [items[i:i + size] for i in range(0, len(items), size)]


class SerialRunner:
    """Everything in this process (``workers`` is accepted, as every runner takes it, and has no effect)."""

    name = "serial"

    def __init__(self, workers: int | None = None):
        pass

    def evaluate(self, problem, genomes: list) -> list[dict]:
        return problem.evaluate(genomes)

    def imap_unordered(self, fn, jobs):
        for job in jobs:
            yield fn(job)

    def close(self) -> None:
        pass


# A worker process's state: the problem it was given (kept across chunks) and its key.
_WORKER = {"key": None, "problem": None}


def _init_worker() -> None:
    """Several worker processes share the cores: one Numba thread each."""
    import numba
    numba.set_num_threads(1)


def _evaluate_chunk(key, problem_bytes, genomes):
    """Evaluate ``genomes`` on the problem identified by ``key``; ``problem_bytes`` (the pickled
    problem) is unpickled only when this worker does not hold that problem yet."""
    import pickle
    if _WORKER["key"] != key:
        _WORKER["problem"], _WORKER["key"] = pickle.loads(problem_bytes), key
    return _WORKER["problem"].evaluate(genomes)


def _problem_payload(problem) -> tuple:
    import hashlib
    import pickle
    data = pickle.dumps(problem, protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.sha256(data).hexdigest(), data


class ProcessRunner:
    """Local worker processes (``workers`` defaults to the CPU count), spawned, one Numba thread each."""

    name = "processes"

    def __init__(self, workers: int | None = None):
        import multiprocessing as mp
        self.workers = workers or os.cpu_count() or 1
        self.pool = mp.get_context("spawn").Pool(self.workers, initializer=_init_worker)
        self._payload = (None, None, None)   # (problem object, key, bytes): pickled once per problem

    def evaluate(self, problem, genomes: list) -> list[dict]:
        if self._payload[0] is not problem:
            self._payload = (problem,) + _problem_payload(problem)
        _, key, data = self._payload
        parts = _chunks(genomes, self.workers)
        results = self.pool.starmap(_evaluate_chunk, [(key, data, part) for part in parts])
        return [m for part in results for m in part]

    def imap_unordered(self, fn, jobs):
        return self.pool.imap_unordered(fn, jobs)

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


class RayRunner:
    """A Ray cluster: ``address=None`` starts a local one; ``"auto"`` or ``"ray://host:port"`` joins one."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None):
        from accelsim.extras import require
        ray = require("ray", "ray", "runner ray", hint="or use runner: serial / processes")
        self.ray = ray
        if not ray.is_initialized():
            # A local cluster's workers see the driver's import path, so problems defined in scripts
            # and test folders unpickle there too.
            runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}} if address is None else None
            try:
                ray.init(address=address, num_cpus=workers if address is None else None, runtime_env=runtime_env,
                         include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise RunnerError(f"runner ray: cannot reach the cluster at {address!r} ({exc})") from None
        self.workers = workers or int(ray.cluster_resources().get("CPU", 1))
        self._remote = ray.remote(_evaluate_chunk)
        self._payload = (None, None, None)

    def evaluate(self, problem, genomes: list) -> list[dict]:
        if self._payload[0] is not problem:
            problem_key, data = _problem_payload(problem)
            self._payload = (problem, problem_key, self.ray.put(data))
        _, key, ref = self._payload
        futures = [self._remote.remote(key, ref, part) for part in _chunks(genomes, self.workers)]
        return [m for part in self.ray.get(futures) for m in part]

    def imap_unordered(self, fn, jobs):
        remote = self.ray.remote(fn)
        futures = [remote.remote(job) for job in jobs]
        while futures:
            ready, futures = self.ray.wait(futures, num_returns=1)
            yield self.ray.get(ready[0])

    def close(self) -> None:
        pass  # leave the cluster up for the caller; ray.shutdown() ends a local one


RUNNERS = {"serial": SerialRunner, "processes": ProcessRunner, "ray": RayRunner}


def make_runner(name: str = "serial", **options):
    if name not in RUNNERS:
        raise RunnerError(f"runner {name!r}: expected one of {', '.join(RUNNERS)}")
    return RUNNERS[name](**options)
