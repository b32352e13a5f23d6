"""Record columns and engineered features shared by the dataset writer and the estimator (numpy only).

Raw columns are the engine's own structure-of-arrays tables: one layer row per layer (the fields of
``accelsim.engine.tables.pack_network``) and one hardware row per config (``pack_hardware`` plus
per-format numbers). Engineered features are computed from those rows alone, vectorised over
thousands of (layer, hardware) rows: SCALE-Sim fold counts and compute cycles for the config's
dataflow, the vector-unit cycles, operand bytes, the DRAM-bound time, arithmetic intensity and how
the operands compare with the SRAM buffers. Hardware enters in per-cycle units (DRAM bytes per
cycle = GB/s x 1000 / MHz, DRAM latency cycles = ns x MHz / 1000, as the engine's tables hold them),
so a config's clock needs no feature of its own: it changes exactly these two. The estimator predicts
corrections to two analytic bases (the roofline time and the compulsory DRAM bytes); energy is then
composed from the predicted cycles and DRAM bytes with the config's per-event energies, exactly as
the engine composes it (so energy numbers are not features).
"""

from __future__ import annotations

import numpy as np

from accelsim import precision as prec
from accelsim.config import require_kind
from accelsim.errors import ConfigError
from accelsim.engine import kernels as K
from accelsim.engine import tables as T
from accelsim.engine.folds import array_folds_rows, runnable_units, sram_traffic_rows, vector_cycles

from ..errors import CodesignError

LAYER_COLUMNS = ("op", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "kh", "kw", "sh", "sw", "groups",
                 "wprec", "aprec", "filter_elems", "in_factor", "ops_per_out", "kh_extent", "kw_extent", "src0",
                 "src1", "in0_share", "last_use", "consumers", "resident_ok")
HW_TABLE_COLUMNS = ("rows", "cols", "dataflow", "lanes", "unified", "ifmap_bytes", "filter_bytes", "ofmap_bytes",
                    "unified_bytes", "dram_bytes_per_cycle", "dram_latency_cycles", "e_vec_pj",
                    "e_sram_pj_per_byte", "e_dram_pj_per_byte", "static_pj_per_cycle", "activation_policy",
                    "weights_resident", "channel_alignment")
FORMAT_COLUMNS = tuple(f"{kind}_{name}" for kind in ("macs_pe", "vops", "emac", "bytes") for name in prec.NAMES)
HW_INFO_COLUMNS = ("clock_mhz", "dram_gb_per_s", "memory_budget_mb", "area_mm2")
HW_COLUMNS = HW_TABLE_COLUMNS + FORMAT_COLUMNS + HW_INFO_COLUMNS
OUT_COLUMNS = tuple(T.OUT_NAMES)

FAMILIES = ("conv_kxk", "conv_1x1", "depthwise", "matmul", "vector")
FREE = -1  # family code of layers that cost nothing (concat / reshape)


def schema() -> dict:
    """What a checkpoint's features were computed from; a mismatch on load is an error."""
    return {"layer_columns": list(LAYER_COLUMNS), "hw_columns": list(HW_COLUMNS), "formats": list(prec.NAMES),
            "ops": {"conv": T.OP_CONV, "pool": T.OP_POOL, "add": T.OP_ADD, "act": T.OP_ACT,
                    "concat": T.OP_CONCAT, "upsample": T.OP_UPSAMPLE, "matmul": T.OP_MATMUL},
            "families": list(FAMILIES), "feature_names": list(FEATURE_NAMES)}


def check_engine_tables() -> None:
    if len(LAYER_COLUMNS) != T.N_LAYER_FIELDS or len(HW_TABLE_COLUMNS) != T.N_HW_FIELDS:
        raise RuntimeError("codesign.estimator.features: accelsim's table layout changed; update LAYER_COLUMNS/HW_TABLE_COLUMNS")


check_engine_tables()


def hardware_table(hws) -> dict:
    """One row per config: name -> array, in ``HW_COLUMNS`` order. Only what the features read: a
    systolic config without a calibration section (one ConfigError line otherwise)."""
    hws = list(hws)
    for h in hws:
        check_estimable(h)
    hwt, macs, vops, emac, pbytes = T.pack_hardware(hws)
    out = {name: hwt[i].copy() for i, name in enumerate(HW_TABLE_COLUMNS)}
    for kind, arr in (("macs_pe", macs), ("vops", vops), ("emac", emac), ("bytes", pbytes)):
        for j, name in enumerate(prec.NAMES):
            out[f"{kind}_{name}"] = arr[j].copy()
    out["clock_mhz"] = np.array([h.array.clock_mhz for h in hws], dtype=float)
    out["dram_gb_per_s"] = np.array([h.dram.bandwidth_gb_per_s for h in hws], dtype=float)
    out["memory_budget_mb"] = np.array([h.memory_budget_mb for h in hws], dtype=float)
    out["area_mm2"] = np.array([h.area_mm2 for h in hws], dtype=float)
    return out


def check_estimable(hw) -> None:
    """The estimator's features describe a systolic config as the engine runs it without corrections:
    a roofline config, or one with a calibration section (overhead, per-class efficiency), is one
    ConfigError line saying to simulate it instead."""
    require_kind(hw, "systolic", "estimator")
    if not hw.calibration.is_default:
        raise ConfigError(f"estimator: hardware {hw.name!r} has a calibration section (per-layer overhead or "
                          "per-class efficiency), which the estimator's features do not see; simulate it with "
                          "the engine instead")


def take_rows(table: dict, index: np.ndarray) -> dict:
    return {k: v[index] for k, v in table.items()}


def family_of(lay: np.ndarray) -> np.ndarray:
    """Family code per layer row of a ``[field, row]`` layer table (``FREE`` for concat/reshape)."""
    op = lay[T.L_OP]
    if np.any(op == T.OP_CONV_T):
        raise CodesignError("the estimator has no features for conv_transpose layers yet; "
                            "score networks that have them with the engine (scorer: engine)")
    fam = np.full(op.shape, FAMILIES.index("vector"), dtype=np.int64)
    conv = op == T.OP_CONV
    dw = conv & (lay[T.L_GROUPS] > 1) & (lay[T.L_GROUPS] == lay[T.L_IN_C])
    one = conv & ~dw & (lay[T.L_KH] == 1) & (lay[T.L_KW] == 1)
    fam[conv & ~dw & ~one] = FAMILIES.index("conv_kxk")
    fam[one] = FAMILIES.index("conv_1x1")
    fam[dw] = FAMILIES.index("depthwise")
    fam[op == T.OP_MATMUL] = FAMILIES.index("matmul")
    fam[op == T.OP_CONCAT] = FREE
    return fam


def _fmt(hw: dict, kind: str, index: np.ndarray) -> np.ndarray:
    """Per-row value of a per-format hardware number at each row's format index."""
    stack = np.stack([hw[f"{kind}_{name}"] for name in prec.NAMES])
    return stack[index, np.arange(index.shape[0])]


def _cdiv(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.ceil(a / b)


def _log(x):
    return np.log2(np.maximum(x, 1e-12))


FEATURE_NAMES = (
    "log_in_h", "log_in_w", "log_in_c", "log_out_h", "log_out_w", "log_out_c", "log_pixels", "kh", "kw",
    "stride", "log_groups", "act_bytes", "weight_bytes", "log_k_red", "log_m_per_group", "log_rows", "log_cols",
    "df_os", "df_ws", "df_is", "log_lanes", "log_macs_pe", "log_vector_ops", "log_array_cycles", "has_array",
    "log_vector_cycles", "has_vector", "on_array", "log_compute", "log_folds", "mapping_eff",
    "log_fold_row", "log_fold_col", "log_fold_time",
    "log_ifmap_bytes", "log_filter_bytes", "log_ofmap_bytes", "log_dram_min", "log_bw", "log_latency",
    "log_mem_cycles", "log_compute_over_mem", "log_intensity", "unified", "log_ifmap_fill", "log_filter_fill",
    "log_ofmap_fill", "log_all_fill", "log_row_ifmap_fill", "log_row_ofmap_fill", "log_rows_per_tile",
    "log_row_tiles", "log_latency_over_compute", "in_factor", "log_ops_per_out", "is_pool", "is_add", "is_act",
    "is_upsample", "depthwise", "dense",
    # where the layer's tensors may live (activation placement): its place in the network and how
    # its input and output compare with the on-chip activation SRAM
    "from_layer", "from_previous", "second_from_layer", "log_lifetime", "log_consumers", "resident_ok",
    "policy_resident", "policy_fused", "weights_resident", "log_alignment", "log_in_pool_fill",
    "log_out_pool_fill", "log_in_out_pool_fill",
    # the DMA latency paid per tile transfer (a load and a store per row tile), alone and against the
    # roofline: with clocks and DRAM latencies that vary, latency cycles (ns x MHz) decide small layers
    "log_tile_latency", "log_tile_latency_over_base",
    # whether the network's weights stay on chip (memory.weights_resident) is one decision for the whole
    # network: its stored parameter bytes (and peak activations) against the buffer that would hold them
    "log_net_weight_fill", "log_net_memory_fill", "net_weights_fit",
    # the engine's tiling, every operand through DRAM: its bytes against the compulsory ones (the
    # re-fetches when a layer's filters or inputs outgrow their buffers), against compute, and its
    # tile count (a DMA latency per tile)
    "log_plan_refetch", "log_plan_mem_cycles", "log_compute_over_plan", "log_plan_tiles",
    "log_plan_latency_over_base",
)
LOG_NEGLIGIBLE = -12.0   # a share below 2^-12 of a layer's time reads as this (no latency: any base alike)
NET_COLUMNS = ("param_bytes", "peak_activation_bytes")   # per row: the row's network, stored on the row's config


def engineered(lay: np.ndarray, hw: dict, net: dict | None = None) -> dict:
    """Analytic quantities per row: ``lay`` is ``[field, row]``, ``hw`` holds per-row hardware arrays,
    ``net`` per-row figures of the row's network on the row's config (``NET_COLUMNS``; without them a
    config that keeps weights on chip reads as if the network's weights did not fit).

    Returns a dict with ``X`` (``[row, feature]`` float32, ``FEATURE_NAMES``), ``family``,
    ``base_cycles`` (max(compute, bytes of the engine's tiling / bandwidth) + two DRAM latencies),
    ``dram_min`` (compulsory DRAM bytes), ``dram_plan`` (bytes of the engine's tiling, ≥ ``dram_min``)
    and the pieces the energy composition needs.
    """
    lay = np.asarray(lay, dtype=np.float64)
    n = lay.shape[1]
    op = lay[T.L_OP]
    in_h, in_w, in_c = lay[T.L_IN_H], lay[T.L_IN_W], lay[T.L_IN_C]
    out_h, out_w, out_c = lay[T.L_OUT_H], lay[T.L_OUT_W], lay[T.L_OUT_C]
    kh, kw, sh = lay[T.L_KH], lay[T.L_KW], lay[T.L_SH]
    groups = np.maximum(lay[T.L_GROUPS], 1)
    wp, ap = lay[T.L_WPREC].astype(np.int64), lay[T.L_APREC].astype(np.int64)
    in_factor, ops_per_out = lay[T.L_IN_FACTOR], lay[T.L_OPS_PER_OUT]
    conv, mm = op == T.OP_CONV, op == T.OP_MATMUL
    free = op == T.OP_CONCAT
    is_mm = conv | mm
    dw = conv & (groups > 1) & (groups == in_c)
    dense = (conv & (groups == 1)) | mm
    ab = _fmt(hw, "bytes", ap)
    fb = np.where(mm, ab, _fmt(hw, "bytes", wp))

    rows, cols, df = hw["rows"], hw["cols"], hw["dataflow"]
    lanes, bw, lat = hw["lanes"], hw["dram_bytes_per_cycle"], hw["dram_latency_cycles"]
    mac_w, mac_a, vop_w, vop_a = (_fmt(hw, kind, p) for kind in ("macs_pe", "vops") for p in (wp, ap))
    k_pe = np.where(is_mm, np.minimum(mac_w, mac_a), 0.0)
    v_ops = np.where(conv, np.minimum(vop_w, vop_a), vop_a)
    e_mac = np.maximum(_fmt(hw, "emac", wp), _fmt(hw, "emac", ap))

    pixels = out_h * out_w
    n_ops = pixels * out_c * ops_per_out
    k_red = np.where(mm, in_c, kh * kw * in_c / groups)
    m_g = np.where(mm, out_c, out_c / groups)
    g = np.where(mm, 1.0, groups)

    # SCALE-Sim folds for the config's dataflow and the vector-unit cycles: the engine's formulas
    k_pe_1 = np.where(k_pe > 0, k_pe, 1.0)
    os_, is_ = df == T.DF_OS, df == T.DF_IS
    with np.errstate(divide="ignore", invalid="ignore"):
        arr, folds, eff, fold_r, fold_c, per_fold = array_folds_rows(df, rows, cols, k_red, pixels, m_g, g, k_pe_1)
        vec = vector_cycles(lanes, np.where(v_ops > 0, v_ops, 1.0), out_c, pixels, ops_per_out)
    has_arr, has_vec = runnable_units(op, groups, in_c, mac_w, mac_a, vop_w, vop_a, lanes)   # the engine's rule
    arr = np.where(has_arr, arr, np.inf)
    eff = np.where(has_arr, eff, 0.0)
    vec = np.where(has_vec, vec, np.inf)
    on_array = arr <= vec
    compute = np.minimum(arr, vec)
    compute = np.where(free | ~np.isfinite(compute), 0.0, compute)

    # bytes as stored: channels padded to the config's alignment
    align = np.maximum(hw["channel_alignment"], 1.0)
    in_cp, out_cp = _cdiv(in_c, align) * align, _cdiv(out_c, align) * align
    ifmap_b = in_h * in_w * in_cp * ab * in_factor
    filt_b = np.where(is_mm, lay[T.L_FILTER_ELEMS] * (out_cp / out_c) * np.where(dense, in_cp / in_c, 1.0) * fb, 0.0)
    ofmap_b = pixels * out_cp * ab
    dram_min = ifmap_b + filt_b + ofmap_b
    mem_cycles = dram_min / bw
    # the bytes of the tiling the engine chooses (re-fetches when operands outgrow their buffers)
    plan, plan_tiles = planned_traffic(lay, hw, on_array)
    plan = np.where(plan > 0, np.maximum(plan, dram_min), dram_min)
    plan_cycles = plan / bw
    base_cycles = np.maximum(compute, plan_cycles) + 2 * lat

    # how the operands compare with the (double-buffered) SRAM
    unified = hw["unified"] > 0
    ub = hw["unified_bytes"]
    if_buf = np.where(unified, ub, hw["ifmap_bytes"])
    f_buf = np.where(unified, ub, hw["filter_bytes"])
    o_buf = np.where(unified, ub, hw["ofmap_bytes"])
    row_if = np.minimum(kh, in_h) * in_w * np.where(dense, in_cp, np.where(conv, in_cp, out_cp)) * ab * in_factor
    row_of = out_w * out_cp * ab
    step_if = np.minimum(sh, in_h) * in_w * in_cp * ab * in_factor
    halo_if = np.maximum(kh - sh, 0) * in_w * in_cp * ab * in_factor
    filt_fit = 2 * filt_b <= f_buf
    h_sep = np.minimum((if_buf / 2 - halo_if) / np.maximum(step_if, 1e-9), (o_buf / 2) / np.maximum(row_of, 1e-9))
    h_uni = (ub / 2 - filt_b - halo_if) / np.maximum(step_if + row_of, 1e-9)
    h_fit = np.where(unified, h_uni, np.where(filt_fit, h_sep, 0.0))
    h_fit = np.clip(np.floor(h_fit), 0, out_h)
    row_tiles = np.where(h_fit >= 1, _cdiv(out_h, np.maximum(h_fit, 1)), 2 * out_h)

    cols_ = {
        "log_in_h": _log(in_h), "log_in_w": _log(in_w), "log_in_c": _log(in_c), "log_out_h": _log(out_h),
        "log_out_w": _log(out_w), "log_out_c": _log(out_c), "log_pixels": _log(pixels), "kh": kh, "kw": kw,
        "stride": sh, "log_groups": _log(groups), "act_bytes": ab, "weight_bytes": fb, "log_k_red": _log(k_red),
        "log_m_per_group": _log(m_g), "log_rows": _log(rows), "log_cols": _log(cols),
        "df_os": os_.astype(float), "df_ws": (df == T.DF_WS).astype(float), "df_is": is_.astype(float),
        "log_lanes": _log(np.maximum(lanes, 1)), "log_macs_pe": _log(np.maximum(k_pe, 1e-3)),
        "log_vector_ops": _log(np.maximum(v_ops, 1e-3)),
        "log_array_cycles": np.where(np.isfinite(arr), _log(np.where(np.isfinite(arr), arr, 1)), 0.0),
        "has_array": has_arr.astype(float),
        "log_vector_cycles": np.where(np.isfinite(vec), _log(np.where(np.isfinite(vec), vec, 1)), 0.0),
        "has_vector": has_vec.astype(float), "on_array": on_array.astype(float), "log_compute": _log(compute + 1),
        "log_folds": _log(np.maximum(folds, 1)), "mapping_eff": eff, "log_fold_row": _log(np.maximum(fold_r, 1)),
        "log_fold_col": _log(np.maximum(fold_c, 1)), "log_fold_time": _log(np.maximum(per_fold, 1)),
        "log_ifmap_bytes": _log(ifmap_b), "log_filter_bytes": _log(filt_b + 1), "log_ofmap_bytes": _log(ofmap_b),
        "log_dram_min": _log(dram_min), "log_bw": _log(bw), "log_latency": _log(lat + 1),
        "log_mem_cycles": _log(mem_cycles), "log_compute_over_mem": _log(compute + 1) - _log(mem_cycles),
        "log_intensity": _log(n_ops + 1) - _log(dram_min), "unified": unified.astype(float),
        "log_ifmap_fill": _log(2 * ifmap_b / if_buf), "log_filter_fill": _log(2 * filt_b / f_buf + 1e-6),
        "log_ofmap_fill": _log(2 * ofmap_b / o_buf), "log_all_fill": _log(2 * dram_min / (if_buf + f_buf + o_buf)),
        "log_row_ifmap_fill": _log(2 * row_if / if_buf), "log_row_ofmap_fill": _log(2 * row_of / o_buf),
        "log_rows_per_tile": _log(np.maximum(h_fit, 0.5)), "log_row_tiles": _log(row_tiles),
        "log_latency_over_compute": _log(lat + 1) - _log(compute + 1), "in_factor": in_factor,
        "log_ops_per_out": _log(ops_per_out), "is_pool": (op == T.OP_POOL).astype(float),
        "is_add": (op == T.OP_ADD).astype(float), "is_act": (op == T.OP_ACT).astype(float),
        "is_upsample": (op == T.OP_UPSAMPLE).astype(float), "depthwise": dw.astype(float),
        "dense": dense.astype(float),
    }
    pool = np.where(unified, ub, hw["ifmap_bytes"] + hw["ofmap_bytes"])
    cols_.update({
        "from_layer": (lay[T.L_SRC0] > 0).astype(float), "from_previous": (lay[T.L_SRC0] == 1).astype(float),
        "second_from_layer": (lay[T.L_SRC1] > 0).astype(float), "log_lifetime": _log(np.maximum(lay[T.L_LAST_USE], 1)),
        "log_consumers": _log(lay[T.L_N_CONSUMERS] + 1), "resident_ok": lay[T.L_RESIDENT_OK],
        "policy_resident": (hw["activation_policy"] == T.POLICY_RESIDENT).astype(float),
        "policy_fused": (hw["activation_policy"] == T.POLICY_FUSED).astype(float),
        "weights_resident": hw["weights_resident"], "log_alignment": _log(hw["channel_alignment"]),
        "log_in_pool_fill": _log(ifmap_b / pool), "log_out_pool_fill": _log(ofmap_b / pool),
        "log_in_out_pool_fill": _log((ifmap_b + ofmap_b) / pool),
        "log_tile_latency": _log(2 * lat * row_tiles + 1),
        "log_tile_latency_over_base": np.maximum(_log(2 * lat * row_tiles + 1) - _log(base_cycles + 1), LOG_NEGLIGIBLE),
        "log_plan_refetch": _log(plan / dram_min), "log_plan_mem_cycles": _log(plan_cycles),
        "log_compute_over_plan": _log(compute + 1) - _log(plan_cycles), "log_plan_tiles": _log(plan_tiles + 1),
        "log_plan_latency_over_base": np.maximum(_log(lat * plan_tiles + 1) - _log(base_cycles + 1), LOG_NEGLIGIBLE),
        **_network_columns(hw, net, n),
    })
    X = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)
    for j, name in enumerate(FEATURE_NAMES):
        X[:, j] = cols_[name]

    # energy pieces: array-side SRAM traffic per dataflow (the engine's formula, accelsim.engine.folds)
    with np.errstate(divide="ignore", invalid="ignore"):
        sram_r_arr, sram_w_arr = sram_traffic_rows(df, rows, cols, k_red, pixels, m_g, g, k_pe_1, ab, fb)
    sram_vec = n_ops * ab + lay[T.L_FILTER_ELEMS] * fb + pixels * out_c * ab
    sram_base = np.where(on_array, sram_r_arr + sram_w_arr, sram_vec)
    dyn = np.where(on_array, n_ops * e_mac, n_ops * hw["e_vec_pj"])
    # classical roofline: operations at the unit's peak rate vs compulsory bytes at full bandwidth
    peak_rate = np.where(on_array, rows * cols * np.maximum(k_pe, 1e-9), np.maximum(lanes * v_ops, 1e-9))
    macs = np.where(mm, pixels * out_c * in_c, np.where(conv, n_ops, 0.0))
    peak_cycles = np.maximum(np.where(on_array, macs, n_ops) / peak_rate, mem_cycles)
    return {"X": X, "family": family_of(lay), "base_cycles": np.where(free, 0.0, base_cycles),
            "dram_min": np.where(free, 0.0, dram_min), "dram_plan": np.where(free, 0.0, plan),
            "compute": compute, "free": free,
            "dyn_energy": np.where(free, 0.0, dyn), "sram_base": np.where(free, 0.0, sram_base),
            "e_sram": hw["e_sram_pj_per_byte"], "e_dram": hw["e_dram_pj_per_byte"],
            "static": hw["static_pj_per_cycle"], "macs": macs,
            "macs_at_peak": np.where(k_pe > 0, macs / (rows * cols * np.maximum(k_pe, 1e-9)), 0.0),
            "mem_cycles": np.where(free, 0.0, mem_cycles), "peak_cycles": np.where(free, 0.0, peak_cycles)}


def planned_traffic(lay: np.ndarray, hw: dict, on_array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DRAM bytes and tile count per row of the tiling the engine chooses, every operand through DRAM
    (``accelsim.engine.kernels.planned_traffic_rows``); 0 where no tiling fits."""
    n = lay.shape[1]
    out = np.zeros((2, n))
    if n:
        hwt = np.ascontiguousarray(np.stack([np.asarray(hw[c], dtype=np.float64) for c in HW_TABLE_COLUMNS]))
        pbytes = np.ascontiguousarray(np.stack([np.asarray(hw[f"bytes_{name}"], dtype=np.float64)
                                                for name in prec.NAMES]))
        K.planned_traffic_rows(np.ascontiguousarray(lay), hwt, pbytes, np.asarray(on_array, dtype=np.bool_), out)
    return out[0], out[1]


def _network_columns(hw: dict, net: dict | None, n: int) -> dict:
    """The network-level features: 0 on a config that does not keep weights on chip."""
    wres = hw["weights_resident"] > 0
    if net is None:
        pb = pk = np.zeros(n)
    else:
        pb, pk = (np.broadcast_to(np.asarray(net[k], dtype=np.float64), (n,)) for k in NET_COLUMNS)
    cap = np.maximum(np.where(hw["unified"] > 0, hw["unified_bytes"], hw["filter_bytes"]), 1.0)
    fits = wres & (pb > 0) & (pb <= cap)
    return {"log_net_weight_fill": np.where(wres, _log(np.maximum(pb, 1.0) / cap), 0.0),
            "log_net_memory_fill": np.where(wres, _log(np.maximum(pb + pk, 1.0) / cap), 0.0),
            "net_weights_fit": fits.astype(float)}


def compose_energy(eng: dict, cycles: np.ndarray, dram_bytes: np.ndarray):
    """Engine energy from cycles and DRAM bytes: MAC/vector ops + SRAM bytes (array-side traffic
    plus every DRAM byte passing through SRAM) + DRAM bytes + static power over the cycles."""
    e = (eng["dyn_energy"] + (eng["sram_base"] + dram_bytes) * eng["e_sram"] + dram_bytes * eng["e_dram"]
         + cycles * eng["static"])
    return np.where(eng["free"], 0.0, e)


def network_layer_table(networks) -> tuple:
    """Concatenated layer tables of ``networks``: (lay ``[field, row]``, row_start per network, sizes)."""
    from accelsim.engine.simulate import packed_network
    lays = [packed_network(n) for n in networks]
    sizes = np.array([l.shape[1] for l in lays], dtype=np.int64)
    start = np.cumsum(sizes) - sizes
    return np.concatenate(lays, axis=1), start, sizes
