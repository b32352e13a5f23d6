"""The SimPy model: streams of requests sharing one neural engine, a host CPU and one DRAM port.

Time is in engine clock cycles. Events happen per layer (a layer starts, its DRAM transfer ends,
it ends), never per cycle or per tile.

- **Engine**: runs one layer at a time. After each layer the scheduler picks what runs next:
  FIFO (earliest arrival), fixed priority, or EDF (earliest absolute deadline). Without
  preemption a started request keeps the engine until it finishes or falls back to the host;
  with preemption the choice is remade at every layer boundary.
- **Host CPU**: ``cores`` workers run the layers the engine cannot run (or ``host_ops``), at
  ``gops``; a request's next engine layer waits for its host layers. Meanwhile the engine serves
  other requests, and both draw on the DRAM port.
- **DRAM port**: a fluid max-min fair share of ``hardware.dram.bandwidth_gb_per_s`` between the
  transfers in flight: the engine's current layer, host layers, and a constant background demand
  (``background_dram_gb_per_s``: display, ISP). Each flow gets at most its cap (engine: the port;
  host: ``host.dram_gb_per_s``; background: its demand), the rest is split equally. A layer's
  bytes finish when their share has carried them; see :mod:`accelsim.system.service` for how
  that stretches the layer.
- **Batching**: when a stream allows batches, a request starting on the engine takes up to
  ``batch.size - 1`` queued requests of its stream along (optionally after waiting ``batch.wait``
  for them); the batch then runs layer by layer as one job.
- **Dropping late requests** (a stream's ``deadline_action: drop``): a request still waiting when
  its absolute deadline passes (queued, forming a batch, or waiting for a host core) is dropped at
  that instant: it leaves the queue and never runs. A request that has started always finishes.
  With ``finish`` (the default) nothing of this runs, and late requests are served as any other.
"""

from __future__ import annotations

import heapq
from array import array
from collections import deque

import numpy as np
import simpy

from .scenario import Scenario
from .service import HOST

_INF = float("inf")
ENGINE_COLUMNS = 7   # values per engine_log entry
HOST_COLUMNS = 7     # values per host_log entry
PROGRESS_SLICES = 500   # a run with a progress callback advances in this many slices of simulated time


class _Flow:
    """One transfer through the DRAM port: a layer's bytes, and when the layer may end."""

    __slots__ = ("remaining", "cap", "rate", "min_end", "hide_end", "done", "dma_end", "bytes")

    def __init__(self, start, time, nbytes, hide, cap, done):
        self.remaining = nbytes
        self.bytes = nbytes
        self.cap = cap
        self.rate = 0.0
        self.min_end = start + time
        self.hide_end = start + hide
        self.done = done
        self.dma_end = _INF

    def end_if(self, dma_end: float) -> float:
        """The layer's end if its bytes are in at ``dma_end``."""
        late = dma_end - self.hide_end
        return self.min_end + late if late > 0.0 else self.min_end


class DramPort:
    """Fluid max-min fair bandwidth sharing; wakes only when a transfer or a layer ends."""

    def __init__(self, env: simpy.Environment, bytes_per_cycle: float, background_bytes_per_cycle: float,
                 record: bool = True):
        self.env = env
        self.bw = bytes_per_cycle
        self.background = background_bytes_per_cycle
        self.bg_rate = min(background_bytes_per_cycle, bytes_per_cycle)
        self.active: list[_Flow] = []
        self.waiting: list[_Flow] = []   # bytes in, layer still computing
        self.t = 0.0
        self.moved = 0.0                 # bytes of finished transfers
        self.bg_moved = 0.0
        self._gen = 0
        self._next_wake = _INF
        # bandwidth in use over time, flat (t, bytes per cycle) pairs; float64 arrays rather than
        # lists of tuples: a long run logs millions of entries
        self.rate_log: array | None = array("d") if record else None

    # ---- public ----
    def transfer(self, time: float, nbytes: float, hide: float, cap: float) -> _Flow:
        now = self.env.now
        self._advance(now)
        f = _Flow(now, time, nbytes, hide, cap, self.env.event())
        self.active.append(f)
        self._set_rates()
        self._schedule(now)
        return f

    def finalize(self, horizon: float) -> float:
        """Bytes moved in [0, horizon] by engine and host transfers (background: ``bg_moved``)."""
        self._advance(horizon)
        return self.moved + sum(f.bytes - f.remaining for f in self.active)

    # ---- fluid model ----
    def _set_rates(self):
        flows = self.active
        if not flows:
            self.bg_rate = min(self.background, self.bw)
        elif len(flows) == 1:
            # two-flow water-filling in closed form (the common case: one engine layer + background)
            f, bw, bg = flows[0], self.bw, self.background
            if bg <= f.cap:
                self.bg_rate = bg if bg < bw / 2 else bw / 2
                rest = bw - self.bg_rate
                f.rate = f.cap if f.cap < rest else rest
            else:
                f.rate = f.cap if f.cap < bw / 2 else bw / 2
                rest = bw - f.rate
                self.bg_rate = bg if bg < rest else rest
        else:
            # water-filling: the smallest caps are met first, the rest split what is left equally
            items = sorted([(f.cap, i) for i, f in enumerate(flows)])
            if self.background > 0.0:
                items.append((self.background, -1))
                items.sort()
            left, n = self.bw, len(items)
            for cap, i in items:
                r = left / n
                if cap < r:
                    r = cap
                if i < 0:
                    self.bg_rate = r
                else:
                    flows[i].rate = r
                left -= r
                n -= 1
        if self.rate_log is not None:
            used = 0
            for f in flows:
                used += f.rate
            total = self.bg_rate + used
            log = self.rate_log
            if log and log[-2] == self.t:
                log[-1] = total
            elif not log or log[-1] != total:
                log.extend((self.t, total))

    def _advance(self, now: float):
        """Carry every flow forward to ``now``, ending transfers on the way (rates change there)."""
        if len(self.active) == 1:
            f = self.active[0]
            te = self.t + f.remaining / f.rate
            if te > now + 1e-12 * max(1.0, now):
                dt = now - self.t
                if dt > 0.0:
                    f.remaining -= f.rate * dt
                    self.bg_moved += self.bg_rate * dt
                    self.t = now
                return
        while self.active:
            te_min, t = _INF, self.t
            for f in self.active:
                te = t + f.remaining / f.rate
                if te < te_min:
                    te_min = te
            if te_min > now + 1e-12 * max(1.0, now):
                break
            dt = te_min - t
            keep = []
            for f in self.active:
                te = t + f.remaining / f.rate
                if te <= te_min + 1e-12 * max(1.0, te_min):
                    f.remaining = 0.0
                    f.dma_end = te_min
                    self.moved += f.bytes
                    self.waiting.append(f)
                else:
                    f.remaining -= f.rate * dt
                    keep.append(f)
            self.bg_moved += self.bg_rate * dt
            self.t = te_min
            self.active = keep
            self._set_rates()
        dt = now - self.t
        if dt > 0.0:
            for f in self.active:
                f.remaining -= f.rate * dt
            self.bg_moved += self.bg_rate * dt
            self.t = now

    def _schedule(self, now: float):
        wake = _INF
        for f in self.waiting:
            e = f.end_if(f.dma_end)
            if e < wake:
                wake = e
        if len(self.active) == 1:
            # a lone transfer's rate cannot change before something new arrives: wake at its layer's end
            f = self.active[0]
            te = self.t + f.remaining / f.rate
            e = f.end_if(te)
            if te - e > 1e-12 * max(1.0, te):
                # a step that hides its transfer for longer than it takes (hide > time) would "end"
                # before its bytes are in, and the wake would repeat at the same instant: wait for them
                e = te
            if e < wake:
                wake = e
        elif self.active:
            t = self.t
            for f in self.active:
                e = t + f.remaining / f.rate
                if e < wake:
                    wake = e
        if wake == self._next_wake or wake == _INF:
            self._next_wake = wake
            return
        self._gen += 1
        self._next_wake = wake
        self.env.timeout(wake - now if wake > now else 0.0, self._gen).callbacks.append(self._wake)

    def _wake(self, event):
        if event.value != self._gen:   # a later schedule superseded this wake
            return
        now = self.env.now
        self._next_wake = _INF
        self._advance(now)
        tol = 1e-12 * max(1.0, now)
        if self.waiting:
            keep = []
            for f in self.waiting:
                if f.end_if(f.dma_end) <= now + tol:
                    f.done.succeed()   # no value: the flow holding its event would make a cycle
                else:
                    keep.append(f)
            self.waiting = keep
        self._schedule(now)


class _Job:
    """One request, or a batch of requests of one stream, walking its layer steps."""

    __slots__ = ("stream", "reqs", "pos", "key", "started", "absorbed", "steps", "seq")
    # absorbed: the job no longer runs on its own (taken into a batch, or every request of it dropped)

    def __init__(self, stream, reqs, key, seq):
        self.stream = stream
        self.reqs = reqs
        self.pos = 0
        self.key = key
        self.started = False
        self.absorbed = False
        self.steps = None
        self.seq = seq


class _Stream:
    def __init__(self, index, spec, service, arrivals):
        self.index = index
        self.spec = spec
        self.service = service
        self.arrivals = arrivals                 # cycles
        self.arrival_cycles = arrivals.tolist()  # the same as Python floats: the event loop's arithmetic
        self.start = np.full(len(arrivals), np.nan)
        self.finish = np.full(len(arrivals), np.nan)
        self.batch_of = np.zeros(len(arrivals), dtype=np.int64)
        self.dropped = np.zeros(len(arrivals), dtype=bool)
        self.drops = spec.deadline_action == "drop"
        self.job_of: dict = {}                   # drop only: request -> the unstarted job holding it
        self.expire = None                       # drop only: the callback of a request's deadline event
        self.unstarted: deque = deque()
        self.forming: list = []
        self.form_gen = 0
        self.steps_cache: dict = {}


def arrival_times(spec, horizon_s: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival times in seconds within [0, horizon_s)."""
    a = spec.arrival
    if a.process == "periodic":
        n = max(0, int(np.ceil((horizon_s - a.offset_s) * a.rate_hz)) + 1)
        t = a.offset_s + np.arange(n) / a.rate_hz
        if a.jitter_s > 0:
            t = t + rng.uniform(0.0, a.jitter_s, size=n)
    else:
        chunks, last = [], a.offset_s
        while last < horizon_s:
            gaps = rng.exponential(1.0 / a.rate_hz, size=max(16, int((horizon_s - last) * a.rate_hz * 1.1) + 16))
            c = last + np.cumsum(gaps)
            chunks.append(c)
            last = c[-1]
        t = np.concatenate(chunks) if chunks else np.zeros(0)
    return t[t < horizon_s]


class SystemModel:
    """Builds the SimPy processes for one scenario on one hardware config and runs them."""

    def __init__(self, scenario: Scenario, hardware, services: dict, duration_s: float, seed: int,
                 record: bool = True):
        self.scenario = scenario
        self.hw = hardware
        self.clock_hz = hardware.clock_mhz * 1e6
        self.horizon = duration_s * self.clock_hz
        self.env = env = simpy.Environment()
        bw = hardware.dram_bytes_per_cycle
        self.bw = bw
        self.port = DramPort(env, bw, scenario.background_dram_gb_per_s * 1e9 / self.clock_hz, record)
        self.host_cap = scenario.host.dram_gb_per_s * 1e9 / self.clock_hz
        self.policy = scenario.scheduler.policy
        self.preemption = scenario.scheduler.preemption
        self.cores = simpy.Store(env, capacity=scenario.host.cores)
        self.cores.items.extend(range(scenario.host.cores))
        self.ready: list = []
        self._seq = 0
        self._wakeup = None
        self.engine_busy_since = None
        self.host_busy_since: dict = {}
        # logs of engine and host layers: flat float64 arrays, ENGINE_COLUMNS / HOST_COLUMNS values per layer
        self.engine_log = array("d")   # stream, layer, start, end, dma_end, batch, job_seq
        self.host_log = array("d")     # core, stream, layer, start, end, batch, job_seq
        children = np.random.SeedSequence(seed).spawn(len(scenario.streams))
        self.streams = []
        for i, (spec, ss) in enumerate(zip(scenario.streams, children)):
            t = arrival_times(spec, duration_s, np.random.default_rng(ss))
            self.streams.append(_Stream(i, spec, services[spec.name], t * self.clock_hz))
        for s in self.streams:
            env.process(self._arrivals(s))
            if s.drops:
                s.expire = lambda event, s=s: self._expire(s, event.value)
        env.process(self._engine())

    # ---- requests and jobs ----
    def _steps(self, s: _Stream, n: int) -> list:
        st = s.steps_cache.get(n)
        if st is None:
            st = s.steps_cache[n] = s.service.steps(n, self.hw, self.scenario.host)
        return st

    def _key(self, s: _Stream, k: int) -> tuple:
        arrival = s.arrival_cycles[k]
        self._seq += 1
        if self.policy == "edf":
            return (arrival + s.spec.deadline_s * self.clock_hz, arrival, self._seq)
        if self.policy == "priority":
            return (-s.spec.priority, arrival, self._seq)
        return (arrival, self._seq)

    def _arrivals(self, s: _Stream):
        env = self.env
        batch = s.spec.batch
        wait = batch.wait_s * self.clock_hz
        for k, t in enumerate(s.arrival_cycles):
            if t > env.now:
                yield env.timeout(t - env.now)
            if s.drops:
                env.timeout(s.spec.deadline_s * self.clock_hz, k).callbacks.append(s.expire)
            if batch.size > 1 and wait > 0:
                s.forming.append(k)
                if len(s.forming) >= batch.size:
                    self._release(s)
                elif len(s.forming) == 1:
                    s.form_gen += 1
                    gen = s.form_gen
                    ev = env.timeout(wait)
                    ev.callbacks.append(lambda _e, s=s, gen=gen: gen == s.form_gen and s.forming and self._release(s))
            else:
                s.forming.append(k)
                self._release(s)

    def _release(self, s: _Stream):
        reqs, s.forming = s.forming, []
        s.form_gen += 1
        job = _Job(s, reqs, self._key(s, reqs[0]), self._seq)
        job.steps = self._steps(s, len(reqs))
        s.unstarted.append(job)
        if s.drops:
            for k in reqs:
                s.job_of[k] = job
        if not job.steps:
            self._start(job)
            self._finish(job)
        elif job.steps[0][0] == HOST:
            self.env.process(self._host(job))
        else:
            heapq.heappush(self.ready, (job.key, job))
            if self._wakeup is not None and not self._wakeup.triggered:
                self._wakeup.succeed()

    def _start(self, job: _Job):
        """First step of a job: take queued requests of the same stream along, up to the batch size."""
        job.started = True
        s = job.stream
        try:
            s.unstarted.remove(job)
        except ValueError:
            pass
        size = s.spec.batch.size
        if size > 1:
            while s.unstarted and len(job.reqs) < size:
                other = s.unstarted[0]
                if len(job.reqs) + len(other.reqs) > size:
                    break
                s.unstarted.popleft()
                other.absorbed = True
                job.reqs = job.reqs + other.reqs
            job.steps = self._steps(s, len(job.reqs))
        now = self.env.now
        for k in job.reqs:
            s.start[k] = now
            s.batch_of[k] = len(job.reqs)
        if s.drops:
            for k in job.reqs:
                s.job_of.pop(k, None)

    def _expire(self, s: _Stream, k: int):
        """Request ``k``'s deadline has passed: drop it if it has not started (drop streams only)."""
        if s.start[k] == s.start[k]:   # started (not NaN): it runs to the end
            return
        s.dropped[k] = True
        if k in s.forming:
            s.forming.remove(k)
            return
        job = s.job_of.pop(k)
        job.reqs = [r for r in job.reqs if r != k]
        if not job.reqs:   # nothing left to run: the ready heap and a waiting host core skip it
            job.absorbed = True
            try:
                s.unstarted.remove(job)
            except ValueError:
                pass
        else:              # a batch still waiting: its steps are those of the smaller batch
            job.steps = self._steps(s, len(job.reqs))

    def _finish(self, job: _Job):
        now = self.env.now
        for k in job.reqs:
            job.stream.finish[k] = now

    def _pop_ready(self):
        ready = self.ready
        while ready:
            job = heapq.heappop(ready)[1]
            if not job.absorbed:
                return job
        return None

    def _next(self, current):
        if current is None:
            return self._pop_ready()
        if not self.preemption:
            return current
        ready = self.ready
        while ready and ready[0][1].absorbed:
            heapq.heappop(ready)
        if ready and ready[0][0] < current.key:
            heapq.heappush(ready, (current.key, current))
            return self._pop_ready()
        return current

    # ---- processes ----
    def _engine(self):
        env, port, bw, log = self.env, self.port, self.bw, self.engine_log
        job = None
        while True:
            job = self._next(job)
            if job is None:
                self._wakeup = env.event()
                yield self._wakeup
                self._wakeup = None
                continue
            if not job.started:
                self._start(job)
            _, time, nbytes, hide, layer = job.steps[job.pos]
            start = env.now
            self.engine_busy_since = start
            if nbytes > 0.0:
                flow = port.transfer(time, nbytes, hide, bw)
                yield flow.done
                dma_end = flow.dma_end
            else:
                yield env.timeout(time)
                dma_end = start
            self.engine_busy_since = None
            log.extend((job.stream.index, layer, start, env.now, dma_end, len(job.reqs), job.seq))
            job.pos += 1
            if job.pos == len(job.steps):
                self._finish(job)
                job = None
            elif job.steps[job.pos][0] == HOST:
                env.process(self._host(job))
                job = None

    def _host(self, job: _Job):
        env, port = self.env, self.port
        core = yield self.cores.get()
        if job.absorbed:
            yield self.cores.put(core)
            return
        if not job.started:
            self._start(job)
        steps = job.steps
        while job.pos < len(steps) and steps[job.pos][0] == HOST:
            _, time, nbytes, hide, layer = steps[job.pos]
            start = env.now
            self.host_busy_since[core] = start
            if nbytes > 0.0:
                yield port.transfer(time, nbytes, hide, self.host_cap).done
            else:
                yield env.timeout(time)
            del self.host_busy_since[core]
            self.host_log.extend((core, job.stream.index, layer, start, env.now, len(job.reqs), job.seq))
            job.pos += 1
        yield self.cores.put(core)
        if job.pos == len(steps):
            self._finish(job)
        else:
            heapq.heappush(self.ready, (job.key, job))
            if self._wakeup is not None and not self._wakeup.triggered:
                self._wakeup.succeed()

    def run(self, progress=None):
        """Simulate [0, horizon): every event before the horizon, none at or after it.

        ``progress`` (a callable taking the simulated cycles reached) is called after each of
        PROGRESS_SLICES slices of the horizon; running in slices processes the same events in the
        same order, so the results do not depend on it."""
        env, horizon = self.env, self.horizon
        if progress is None or horizon <= 0.0:
            env.run(until=horizon)
        else:
            for i in range(1, PROGRESS_SLICES):
                env.run(until=horizon * i / PROGRESS_SLICES)   # stops before any event at that time
                progress(horizon * i / PROGRESS_SLICES)
            # the last slice ends exactly at the horizon, as one run(until=horizon) would (run(until=t)
            # stops at now + (t - now), which can round past t)
            peek, step = env.peek, env.step
            while peek() < horizon:
                step()
            progress(horizon)
        engine_bytes_and_host = self.port.finalize(self.horizon)
        return engine_bytes_and_host, self.port.bg_moved

    @property
    def reached(self) -> float:
        """Simulated cycles processed so far (the time of the last event)."""
        return float(self.env.now)
