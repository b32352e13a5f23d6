"""ProxylessNAS-style single-shot supernet, searched against a simulated accelerator's latency.

A fixed macro skeleton (3x3 stride-2 stem, stages of searchable blocks, 1x1 head, pooling,
classifier: the shape :func:`codesign.spaces.space.build_network` gives a genome) has at each block
position a *mixed op*: every candidate block (IBN or fused IBN x kernel x expansion, plus "skip" for
the non-first blocks of a stage) with its own weights, and one architecture parameter per candidate
(alpha). Training follows ProxylessNAS (Cai, Zhu and Han, ICLR 2019):

- **Path binarisation.** A weight step samples one candidate per position from softmax(alpha)
  and runs only that path (the others take no memory and get no gradient); its loss is the
  cross-entropy on a training batch.
- **Architecture step** ("two-path" BinaryConnect gradient). On a held-out batch, each position
  samples two distinct candidates by softmax(alpha) and makes one of them active (binary gates
  g = (1, 0)); the forward pass is ``g_a * o_a + g_b * o_b`` with the inactive output computed
  without a graph, so dL/dg_j = <dL/dy, o_j>. The alpha gradient over the two sampled candidates
  is dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i), p the softmax over the *two* alphas.
  After the optimizer step the two alphas are shifted by a common offset so that their total
  softmax mass is unchanged, i.e. the candidates that were not sampled keep their probability
  as far as the cross-entropy is concerned. The alpha optimizer is Adam with beta1 = 0 (as
  ProxylessNAS), so a zero gradient moves nothing.
- **Differentiable latency.** ``latency_table`` measures each candidate block *alone* at its
  position's input shape on the target config (accelsim, or a trained :class:`Estimator`), plus
  the fixed stem and head. The expected latency
  ``E[lat] = fixed + sum_pos sum_j softmax(alpha_pos)_j lat[pos][j]`` is differentiable in alpha
  and its gradient reaches every alpha (not just the sampled ones). The architecture loss is
  ``CE + w * (E[lat] - T) / T`` ("add", the default) or ``CE * (E[lat] / T) ** w`` ("mul"), with
  ``w`` = ``latency_weight`` and ``T`` = ``target_ms`` (by default the expected latency at uniform
  alphas, so one weight means the same relative pressure on every hardware config).

Two departures from the reference code: when the sampled active candidate is "skip", ProxylessNAS
leaves that position's alphas alone for the step, while here the update runs as usual (the skip
gate's gradient is zero, so only the other candidate's gate and the latency term move it); and the
final accuracy of the derived path is measured after re-estimating BatchNorm statistics for that
path, since the supernet's running averages mix every sampled path.

Modules, each importing only those above it:

- :mod:`~codesign.supernet.config`: :class:`SupernetConfig`, its schema (``SUPERNET_SCHEMA``) and the
  constants (``SKIP``, ``LOSS_FORMS``, ``LATENCY_SOURCES``); no torch.
- :mod:`~codesign.supernet.skeleton`: the positions and candidates of the skeleton and the accelsim
  IR networks built from them (candidate, stem, head, derived network, derived genome); no torch.
- :mod:`~codesign.supernet.latency`: the per-candidate :class:`LatencyTable` (accelsim or an
  estimator); no torch.
- :mod:`~codesign.supernet.model`: the torch modules (:class:`Supernet`, :class:`MixedOp`, ...),
  :func:`derive`, and the gradient pieces (BinaryConnect alpha gradient, architecture loss).
- :mod:`~codesign.supernet.data`: the synthetic dataset, .npz files and :func:`as_arrays`.
- :mod:`~codesign.supernet.train`: path sampling, weight and architecture steps, evaluation, run
  identity, checkpoints and resume, :func:`train_supernet` and :func:`train_in_folder`.

Every public name is re-exported here and loaded on first use (``from codesign.supernet import
train_supernet``), so importing this package, or :mod:`codesign.supernet.config`, does not import torch.
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "config": ("LATENCY_SOURCES", "LOSS_FORMS", "SKIP", "SUPERNET_SCHEMA", "SupernetConfig", "reference_markdown",),
    "skeleton": ("Candidate", "Position", "candidate_network", "derived_genome", "derived_network",
        "head_input_shape", "head_network", "positions", "stem_network",),
    "latency": ("LatencyTable", "latency_table",),
    "model": ("BlockBranch", "DerivedArch", "MixedOp", "Supernet", "Zero", "binary_gate_alpha_grad",
        "combine_loss", "derive",),
    "data": ("as_arrays", "load_npz", "save_npz", "synthetic_dataset",),
    "train": ("CHECKPOINT_FILE", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "RESULT_FILE", "SupernetResult",
        "arch_step", "evaluate", "read_checkpoint", "resolve_device", "run_identity", "sample_pairs",
        "sample_path", "save_checkpoint", "train_in_folder", "train_supernet", "weight_step",),
})
