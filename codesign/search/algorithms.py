"""Search = (problem, algorithm, budget, seed, runner), with every evaluation journaled.

A **problem** has a categorical genome (``choices``: parameter -> allowed values), objectives to
minimise and an ``evaluate(genomes) -> list[dict]`` that returns each candidate's metrics (the
objectives, plus ``violation`` >= 0 where a hard constraint is broken). **Algorithms** speak
ask/tell and are deterministic given their seed and what they were told, so resuming is replay:
the run asks again from the start, takes the answers the journal already holds, and evaluates only
what is new. Two runs with the same seed give the same front; a killed run loses nothing.

**Each design is evaluated once.** A proposal whose design was already evaluated in the run, or
proposed earlier in the same batch (the problem's ``design_key``, else the genome itself), is not
evaluated, journaled or charged to the budget: it is handed back (``discard``) and the algorithm
draws again, so the budget counts distinct designs and what the algorithm learns from holds no
copies (aging evolution's population, NSGA-II's generations; Optuna records the proposal as a
pruned trial). After :data:`REPEAT_LIMIT` such redraws in a row the run stops short of its budget,
with the reason in :attr:`SearchResult.stop_reason`. Algorithms have ``ask``, ``tell(genome,
metrics)`` for each new design, ``discard(genome)`` for a redrawn one and ``seed(genomes)``.

**The fixed hardware's start comes first.** A search whose problem has a hardware space starts
from :func:`baseline_genomes`: the base hardware config with the networks the fixed-hardware search
(the same network axis on the base config, algorithm and seed) would evaluate first, so its front
can never be dominated by where that search starts. Seeds whose values lie in the choices are the
algorithm's first proposals (part of its first population); the others (the base config's values
need not be in the space's lists) are evaluated and can reach the front, but are not bred from. A
base config over the area limit is left out: it could never be on the front. A search that starts
from a product model (``space.network.type: from_model``) whose choice lists hold the model's own
values proposes the model itself first.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from accelsim.errors import AccelsimError

from .journal import Journal, JournalError
from .pareto import SMALL_SET, dominance, hypervolume_trace, non_dominated


class SearchError(AccelsimError):
    """A search configuration is invalid."""


class Problem(Protocol):
    choices: dict
    objectives: tuple

    def evaluate(self, genomes: list) -> list[dict]: ...


def genome_key(genome: dict) -> str:
    return json.dumps(genome, sort_keys=True, separators=(",", ":"))


def random_genome(choices: dict, rng: np.random.Generator) -> dict:
    return {k: _py(v[int(rng.integers(len(v)))]) for k, v in choices.items()}


def mutate(genome: dict, choices: dict, rng: np.random.Generator, n: int = 1) -> dict:
    """Change ``n`` parameters to another allowed value."""
    child = dict(genome)
    mutable = [k for k, v in choices.items() if len(v) > 1]
    # the same draws as rng.choice(mutable, ...), without turning the names into a numpy array each time
    for i in rng.choice(len(mutable), size=min(n, len(mutable)), replace=False):
        k = mutable[i]
        options = [v for v in choices[k] if _py(v) != child[k]]
        child[k] = _py(options[int(rng.integers(len(options)))])
    return child


def _py(v):
    """numpy scalars -> Python, so genomes are JSON-serialisable and compare equal after a round trip."""
    return v.item() if hasattr(v, "item") else v


# ------------------------------------------------------------------------------------- algorithms
STATIC_TRIES = 100   # draws or mutations tried to meet the problem's static constraints


def _always(genome: dict) -> bool:
    return True


class RandomSearch:
    name = "random"

    def __init__(self, choices: dict, objectives: Sequence[str], seed: int):
        self.choices, self.rng = choices, np.random.default_rng(seed)
        self.static_ok = _always
        self.queue: list = []

    def seed(self, genomes: Sequence[dict]) -> None:
        """Propose these genomes (values within the choices) before any drawn one."""
        self.queue.extend(dict(g) for g in genomes)

    def ask(self) -> dict:
        if self.queue:
            return self.queue.pop(0)
        return _draw(lambda: random_genome(self.choices, self.rng), self.static_ok)

    def tell(self, genome: dict, metrics: dict) -> None:
        pass

    def discard(self, genome: dict) -> None:
        pass


def _draw(make: Callable[[], dict], ok: Callable[[dict], bool]) -> dict:
    """``make()`` until the genome meets the static constraints (area, ...) or the tries run out;
    the search then sees the last one, which its constraint handling ranks as infeasible."""
    for _ in range(STATIC_TRIES):
        g = make()
        if ok(g):
            return g
    return g


def _rank_key(objs: np.ndarray, violation: np.ndarray) -> np.ndarray:
    """Constraint-domination rank (Deb): feasible before infeasible, then non-domination layer."""
    n = len(objs)
    rank = np.zeros(n)
    remaining = np.arange(n)
    feasible = violation <= 0
    layer = 0
    # feasible points by non-domination layer
    idx = remaining[feasible]
    if 0 < idx.size <= SMALL_SET:   # a tournament's sample: one dominance matrix for every layer
        dominates = dominance(np.asarray(objs[idx], dtype=float).reshape(idx.size, -1))
        left = np.ones(idx.size, dtype=bool)
        while left.any():
            front = left & ~(dominates & left[:, None]).any(axis=0)
            rank[idx[front]] = layer
            left &= ~front
            layer += 1
        idx = idx[:0]
    while idx.size:
        mask = non_dominated(objs[idx])
        rank[idx[mask]] = layer
        idx = idx[~mask]
        layer += 1
    if not feasible.all():
        rank[~feasible] = layer + violation[~feasible] / (1 + violation[~feasible].max())
    return rank


def _dominates(a, b) -> bool:
    """``a`` no worse than ``b`` in every objective and better in one (comparisons with NaN are false)."""
    better = False
    for x, y in zip(a, b):
        if not x <= y:
            return False
        if x < y:
            better = True
    return better


def _rank_small(objs: list, violation: list) -> "list | None":
    """:func:`_rank_key` of a tournament's sample (a few points) in plain Python, equal to it value for
    value (a sample of 8 costs a fraction of the numpy calls' time); None when a rank would be NaN (a
    NaN or infinite violation), which only the array version orders."""
    n = len(objs)
    idx = [i for i in range(n) if violation[i] <= 0]
    rank = [0.0] * n
    # non-domination layers of the feasible points: each layer is what no point left dominates
    beaten = {j: [i for i in idx if i != j and _dominates(objs[i], objs[j])] for j in idx}
    left = set(idx)
    layer = 0
    while left:
        front = [j for j in left if not any(i in left for i in beaten[j])]
        for j in front:
            rank[j] = float(layer)
        left.difference_update(front)
        layer += 1
    bad = [i for i in range(n) if not violation[i] <= 0]
    if bad:
        top = max(violation[i] for i in bad)
        for i in bad:
            rank[i] = layer + violation[i] / (1 + top)
    return None if any(r != r for r in rank) else rank


def _tournament_top(objs: list, violation: list, count: int) -> "list | None":
    """The first ``count`` places of a tournament's stable order by :func:`_rank_key` when they are
    all in its first layer (feasible, and dominated by no feasible member): the first such members in
    sample order, found without ranking the rest; None otherwise (the caller ranks the whole sample)."""
    n = len(objs)
    feasible = [i for i in range(n) if violation[i] <= 0]
    top = []
    for j in feasible:
        b = objs[j]
        if not any(_dominates(objs[i], b) for i in feasible if i != j):
            top.append(j)
            if len(top) == count:
                return top
    return None


class AgingEvolution:
    """Regularised (aging) evolution, multi-objective: the tournament winner is the sampled member with
    the best constraint-domination rank within the sample; the oldest member dies each step."""

    name = "evolution"

    def __init__(self, choices: dict, objectives: Sequence[str], seed: int, population: int = 32,
                 sample_size: int = 8, mutations: int = 1, crossover: float = 0.0):
        if not 0.0 <= crossover <= 1.0:
            raise SearchError(f"algorithm evolution: crossover: expected a probability in [0, 1], got {crossover}")
        self.choices, self.objectives = choices, tuple(objectives)
        self.rng = np.random.default_rng(seed)
        self.population_size, self.sample_size, self.mutations = population, sample_size, mutations
        self.crossover = crossover
        self.population: list[tuple[dict, np.ndarray, float]] = []
        self.asked = 0
        self.static_ok = _always
        self.queue: list = []

    def seed(self, genomes: Sequence[dict]) -> None:
        """Propose these genomes (values within the choices) first: members of the first population."""
        self.queue.extend(dict(g) for g in genomes)

    def ask(self) -> dict:
        self.asked += 1
        if self.queue:
            return self.queue.pop(0)
        if self.asked <= self.population_size or len(self.population) < 2:
            return _draw(lambda: random_genome(self.choices, self.rng), self.static_ok)
        k = min(self.sample_size, len(self.population))
        picks = self.rng.choice(len(self.population), size=k, replace=False)
        members = [self.population[i] for i in picks]
        cross = self.crossover and self.rng.random() < self.crossover
        top = _tournament_top([m[1] for m in members], [m[2] for m in members], 2 if cross else 1)
        if top is not None:
            order = [picks[i] for i in top]
        else:
            rank = _rank_small([m[1] for m in members], [m[2] for m in members])
            if rank is not None:
                order = [picks[i] for i in sorted(range(k), key=rank.__getitem__)]   # stable, as argsort's
            else:
                objs = np.array([m[1] for m in members])
                viol = np.array([m[2] for m in members])
                order = picks[np.argsort(_rank_key(objs, viol), kind="stable")]
        parent = self.population[order[0]][0]
        if cross:
            # uniform crossover of the sample's two best, then mutation
            other = self.population[order[1]][0]
            parent = {key: (parent[key] if self.rng.random() < 0.5 else other[key]) for key in parent}
        return _draw(lambda: mutate(parent, self.choices, self.rng, self.mutations), self.static_ok)

    def tell(self, genome: dict, metrics: dict) -> None:
        objs = tuple(float(metrics[o]) for o in self.objectives)
        self.population.append((genome, objs, float(metrics.get("violation", 0.0))))
        if len(self.population) > self.population_size:
            self.population.pop(0)

    def discard(self, genome: dict) -> None:
        """A design already evaluated: it joins nothing and is not counted, so the first population
        still holds ``population`` distinct designs; the next ask draws (or mutates) afresh."""
        self.asked -= 1


class NSGA2:
    """NSGA-II from Optuna (its NSGAIISampler, driven through ask/tell with in-memory storage)."""

    name = "nsga2"

    def __init__(self, choices: dict, objectives: Sequence[str], seed: int, population: int = 32):
        from accelsim.extras import require
        optuna = require("optuna", "codesign", "algorithm nsga2")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.choices, self.objectives = choices, tuple(objectives)
        sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
        self.study = optuna.create_study(directions=["minimize"] * len(self.objectives), sampler=sampler)
        self.pending: dict[str, list] = {}

    def seed(self, genomes: Sequence[dict]) -> None:
        """Propose these genomes (values within the choices) first: Optuna's enqueued trials, part of
        the first generation."""
        for g in genomes:
            self.study.enqueue_trial({k: g[k] for k in self.choices})

    def ask(self) -> dict:
        trial = self.study.ask()
        genome = {k: _py(trial.suggest_categorical(k, list(v))) for k, v in self.choices.items()}
        self.pending.setdefault(genome_key(genome), []).append(trial)
        return genome

    def tell(self, genome: dict, metrics: dict) -> None:
        trial = self.pending[genome_key(genome)].pop(0)
        trial.set_constraint("violation", float(metrics.get("violation", 0.0)))  # <= 0 is feasible
        values = [float(metrics[o]) for o in self.objectives]
        if not all(np.isfinite(values)):
            values = [1e30] * len(values)
        self.study.tell(trial, values)

    def discard(self, genome: dict) -> None:
        """A proposal already evaluated: its trial ends pruned, so it counts in no generation."""
        import optuna
        trial = self.pending[genome_key(genome)].pop(0)
        self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)


ALGORITHMS: dict[str, Callable] = {"random": RandomSearch, "evolution": AgingEvolution, "nsga2": NSGA2}

# Each algorithm's options: name -> (kind, lowest value). NSGA-II needs two parents, so population >= 2.
ALGORITHM_OPTIONS: dict[str, dict] = {
    "random": {},
    "evolution": {"population": ("int", 1), "sample_size": ("int", 1), "mutations": ("int", 1),
                  "crossover": ("probability", 0)},
    "nsga2": {"population": ("int", 2)},
}


def check_options(algorithm: str, options: dict) -> None:
    """Raise :class:`SearchError` ``"<option>: expected ..., got ..."`` (the option name first, so a caller
    can prefix its key path) for an unknown option or a value of the wrong type or range."""
    allowed = ALGORITHM_OPTIONS.get(algorithm, {})
    for key, value in options.items():
        if key not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise SearchError(f"{key}: unknown option for {algorithm}; expected one of: {known}")
        kind, low = allowed[key]
        text = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise SearchError(f"{key}: expected an integer >= {low}, got {text}")
        if kind == "probability" and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 <= value <= 1):
            raise SearchError(f"{key}: expected a probability in [0, 1], got {text}")


# ------------------------------------------------------------------------------------- runner
REPEAT_LIMIT = 1000   # proposals in a row of designs already evaluated before a run stops early
BUDGET_SPENT = "budget spent"


@dataclass
class SearchResult:
    """A run's distinct evaluations in order (what its journal holds) and how it got them."""

    genomes: list
    metrics: list
    objectives: tuple
    evaluated: int = 0        # evaluations run in this call (the rest came from the journal)
    replayed: int = 0
    proposals: int = 0        # designs the algorithm (and the seeds) proposed, repeats included
    repeats: int = 0          # proposals of a design already evaluated: redrawn, not evaluated or charged
    stop_reason: str = BUDGET_SPENT   # why the run ended: the budget, or too many repeats in a row

    def objective_matrix(self) -> np.ndarray:
        return np.array([[m[o] for o in self.objectives] for m in self.metrics], dtype=float)

    @property
    def feasible(self) -> np.ndarray:
        return np.array([m.get("violation", 0.0) <= 0 for m in self.metrics], dtype=bool)

    def front(self) -> list[int]:
        """Indices of the feasible, non-dominated evaluations (hard constraints never violated); of
        several with the same objective values only the first evaluated is kept."""
        objs = self.objective_matrix()
        idx = np.nonzero(self.feasible & np.all(np.isfinite(objs), axis=1))[0]
        if idx.size == 0:
            return []
        keep = idx[non_dominated(objs[idx])]
        seen, out = set(), []
        for i in sorted(keep):
            k = tuple(objs[i])
            if k not in seen:
                seen.add(k)
                out.append(int(i))
        return out

    def hypervolume_trace(self, reference: Sequence[float], progress=None) -> np.ndarray:
        """Hypervolume of the feasible front after each evaluation (see :func:`pareto.hypervolume_trace`;
        ``progress(k)`` is told every few hundred evaluations done)."""
        objs = self.objective_matrix()
        if objs.size == 0:
            return np.zeros(len(self.metrics))
        return hypervolume_trace(objs, self.feasible, reference, progress=progress)


def run_hash(problem_id: str, algorithm: str, seed: int, options: dict, batch_size: int) -> str:
    """Identity of a run's sequence of evaluations (what its journal may be replayed into)."""
    text = json.dumps({"problem": problem_id, "algorithm": algorithm, "seed": seed,
                       "options": {**options, "batch": batch_size}}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _design_key(problem: Problem) -> Callable[[dict], object]:
    """What makes two genomes the same design: the problem's ``design_key`` (genes that do not change
    the design, e.g. separate buffer sizes under a unified buffer, left out), else the whole genome."""
    key = getattr(problem, "design_key", None)
    return key if key is not None else genome_key


def _make_algorithm(algorithm: str, choices: dict, objectives: Sequence[str], seed: int, options: dict):
    if algorithm not in ALGORITHMS:
        raise SearchError(f"algorithm {algorithm!r}: expected one of {', '.join(ALGORITHMS)}")
    try:
        check_options(algorithm, options)
    except SearchError as exc:
        raise SearchError(f"algorithm {algorithm}: {exc}") from None
    return ALGORITHMS[algorithm](choices, objectives, seed, **options)


def baseline_genomes(problem: Problem, algorithm: str, seed: int, batch_size: int,
                     options: dict | None = None) -> list[dict]:
    """Where a search starts, as designs of ``problem``: the product model itself when the network axis
    starts from one and the model is a design of it (``problem.baseline_network_genes()``), so a front
    never ends up dominated by the model it started from; and, when the problem has a hardware space
    (``problem.baseline_hardware()`` gives the base config's hardware genes) whose base config meets the
    hardware-only constraints (area), the fixed-hardware search's start: the base config with the first
    ``batch_size`` distinct networks the same algorithm and seed propose over the network axis alone
    (what a search on the base config would evaluate first), or with the fixed network."""
    net_base = getattr(problem, "baseline_network_genes", None)
    model = net_base() if net_base is not None else None
    base = getattr(problem, "baseline_hardware", None)
    hw = base() if base is not None else None
    static = getattr(problem, "static_violation", None)
    if not hw or (static is not None and static(hw) > 0):   # a base over the area limit is never on a front
        return [model] if model is not None and set(model) == set(problem.choices) else []
    net_choices = {k: v for k, v in problem.choices.items() if k not in hw}
    if not net_choices:
        return [dict(hw)]
    algo = _make_algorithm(algorithm, net_choices, problem.objectives, seed, dict(options or {}))
    nets: dict = {}
    if model is not None:
        nets[genome_key(model)] = model
    in_a_row = 0
    while len(nets) < batch_size and in_a_row < REPEAT_LIMIT:   # a network space smaller than a batch
        g = algo.ask()
        in_a_row = in_a_row + 1 if genome_key(g) in nets else 0
        nets.setdefault(genome_key(g), g)
    return [{**g, **hw} for g in nets.values()]


def run_search(problem: Problem, algorithm: str, budget: int, seed: int, journal_path=None,
               batch_size: int = 16, options: dict | None = None, problem_id: str = "",
               progress: bool = False, runner=None, seeds: "Sequence[dict] | None" = None) -> SearchResult:
    """Evaluate ``budget`` distinct designs; with ``journal_path`` every finished evaluation is appended
    there and a rerun with the same arguments resumes (replays what is recorded, evaluates the rest).

    A design proposed again is redrawn, not evaluated (see the module docstring); after
    :data:`REPEAT_LIMIT` redraws in a row the run stops short of its budget, and ``stop_reason``
    says so. ``seeds`` are proposed first (default: :func:`baseline_genomes`; ``[]``
    for none). ``runner`` (see :mod:`codesign.runners`) decides where each batch is evaluated; the
    sequence of results, and so the search, is the same for every runner."""
    if algorithm not in ALGORITHMS:
        raise SearchError(f"algorithm {algorithm!r}: expected one of {', '.join(ALGORITHMS)}")
    if budget <= 0 or batch_size <= 0:
        raise SearchError(f"budget and batch_size must be positive, got {budget} and {batch_size}")
    options = dict(options or {})
    algo = _make_algorithm(algorithm, problem.choices, problem.objectives, seed, options)
    static = getattr(problem, "static_violation", None)
    if static is not None and hasattr(algo, "static_ok"):
        algo.static_ok = lambda g: static(g) <= 0
    if seeds is None:
        seeds = baseline_genomes(problem, algorithm, seed, batch_size, options)
    inside = [g for g in seeds if all(g.get(k) in v for k, v in problem.choices.items())]
    outside = [dict(g) for g in seeds if g not in inside]   # proposed by the run, never told to the algorithm
    if inside:
        algo.seed(inside)
    key_of = _design_key(problem)
    journal = None
    replay: list[dict] = []
    if journal_path is not None:
        journal = Journal(journal_path, run_hash(problem_id, algorithm, seed, options, batch_size),
                          meta={"algorithm": algorithm, "seed": seed, "options": options, "problem": problem_id})
        replay = journal.records
    genomes, metrics = [], []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=budget, desc=f"{algorithm} search", unit="eval")
    try:
        stop_reason, evaluated, replayed, proposals, repeats = _search_loop(
            problem, algo, budget, batch_size, runner, journal, replay, outside, key_of, genomes, metrics, bar)
    finally:
        if journal is not None:
            journal.sync()   # what the last appends wrote, on disk before the run returns (or raises)
        if bar is not None:
            bar.close()
    return SearchResult(genomes, metrics, tuple(problem.objectives), evaluated, replayed, proposals, repeats,
                        stop_reason)


def _search_loop(problem, algo, budget, batch_size, runner, journal, replay, outside, key_of, genomes, metrics,
                 bar) -> tuple:
    """run_search's ask / evaluate / journal / tell loop; fills ``genomes`` and ``metrics``."""
    known: dict = {}          # design key -> metrics of its evaluation
    evaluated = replayed = proposals = repeats = in_a_row = 0
    stop_reason = BUDGET_SPENT
    while len(genomes) < budget and stop_reason == BUDGET_SPENT:
        n = min(batch_size, budget - len(genomes))
        fresh = {}            # design key -> (genome, told to the algorithm): this batch's new designs
        while len(fresh) < n:
            g, told = (outside.pop(0), False) if outside else (algo.ask(), True)
            k = key_of(g)
            proposals += 1
            if k not in known and k not in fresh:
                fresh[k] = (g, told)
                in_a_row = 0
                continue
            if told:
                algo.discard(g)
            repeats += 1
            in_a_row += 1
            if in_a_row >= REPEAT_LIMIT:
                stop_reason = (f"stopped early: the last {REPEAT_LIMIT} proposals were all designs already "
                               "evaluated (the space may be exhausted)")
                break
        todo = []
        for j, (k, (g, _)) in enumerate(fresh.items(), start=len(genomes)):
            if j < len(replay):
                if replay[j]["genome"] != g:
                    raise JournalError(f"{journal.path}: record {j + 1} holds {replay[j]['genome']}, but the run "
                                       f"asked for {g}; the problem or code changed since it was written")
                known[k] = replay[j]["metrics"]
                replayed += 1
            else:
                todo.append((j, k, g))
        if todo:
            pending = [g for _, _, g in todo]
            results = runner.evaluate(problem, pending) if runner is not None else problem.evaluate(pending)
            records = []
            for (j, k, g), m in zip(todo, results):
                m = {key: _py(v) for key, v in m.items()}
                known[k] = m
                records.append({"i": j, "genome": g, "metrics": m})
                evaluated += 1
            if journal is not None:
                journal.append_many(records)
        for k, (g, told) in fresh.items():
            genomes.append(g)
            metrics.append(known[k])
            if told:
                algo.tell(g, known[k])
        if bar is not None:
            bar.update(len(fresh))
    return stop_reason, evaluated, replayed, proposals, repeats
