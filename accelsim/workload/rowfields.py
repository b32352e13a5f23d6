"""The columns of a network's rows (:mod:`accelsim.workload.packed`), shared with the compiled loops
that read them (:mod:`accelsim.engine.rows`): one integer per field, one row per layer."""

(R_OP, R_IH, R_IW, R_IC, R_OH, R_OW, R_OC, R_KH, R_KW, R_SH, R_SW, R_GROUPS, R_WPREC, R_APREC, R_DH, R_DW,
 R_BIAS, R_MACS, R_NIN) = range(19)
N_ROW_FIELDS = 19
