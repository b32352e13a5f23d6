"""Where a batch of evaluations runs: in this process, in local worker processes, or on a Ray cluster.

A runner splits a batch into chunks, evaluates each chunk with ``problem.evaluate`` and returns the
results in the batch's order, so the search (and its journal) sees the same sequence whichever
runner ran it. The problem must be picklable for the process and Ray runners.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor

from accelsim.errors import AccelsimError


class RunnerError(AccelsimError):
    """A runner cannot start (e.g. Ray is not installed or the cluster address is unreachable)."""


def _chunks(items: list, n: int) -> list[list]:
    size = max(1, -(-len(items) // n))
    return [items[i:i + size] for i in range(0, len(items), size)]


class SerialRunner:
    name = "serial"

    def evaluate(self, problem, genomes: list) -> list[dict]:
        return problem.evaluate(genomes)

    def close(self) -> None:
        pass


def _evaluate_chunk(problem, genomes):
    return problem.evaluate(genomes)


class ProcessRunner:
    """Local worker processes (``workers`` defaults to the CPU count)."""

    name = "processes"

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self.pool = ProcessPoolExecutor(max_workers=self.workers)

    def evaluate(self, problem, genomes: list) -> list[dict]:
        parts = _chunks(genomes, self.workers)
        results = self.pool.map(_evaluate_chunk, [problem] * len(parts), parts)
        return [m for part in results for m in part]

    def close(self) -> None:
        self.pool.shutdown()


class RayRunner:
    """A Ray cluster: ``address=None`` starts a local one; ``"auto"`` or ``"ray://host:port"`` joins one."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None):
        try:
            import ray
        except ImportError:
            raise RunnerError("runner ray: Ray is not installed; pip install 'ray[default]' "
                              "(or use runner: serial / processes)") from None
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

    def evaluate(self, problem, genomes: list) -> list[dict]:
        ref = self.ray.put(problem)
        futures = [self._remote.remote(ref, part) for part in _chunks(genomes, self.workers)]
        return [m for part in self.ray.get(futures) for m in part]

    def close(self) -> None:
        pass  # leave the cluster up for the caller; ray.shutdown() ends a local one


def make_runner(name: str = "serial", **options):
    runners = {"serial": SerialRunner, "processes": ProcessRunner, "ray": RayRunner}
    if name not in runners:
        raise RunnerError(f"runner {name!r}: expected one of {', '.join(runners)}")
    return runners[name](**options)
