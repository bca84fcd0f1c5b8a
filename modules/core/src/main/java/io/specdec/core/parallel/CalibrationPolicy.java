package io.specdec.core.parallel;

/**
 * When EasySpec recomputes the draft's KV exactly (docs/ALGORITHMS.md §3, "bonus calibration"): fuzzy steps leave
 * approximate K/V behind; a calibrating round crops the draft cache to the last exactly computed position and feeds
 * everything after it through every layer exactly.
 */
public enum CalibrationPolicy {
    /** Keep the approximate K/V for good (every draft forward after the prompt is layer-parallel). */
    NEVER,
    /** Calibrate at the start of every round. */
    EVERY_ROUND,
    /** Calibrate only after a round with a rejected draft (a fully accepted round keeps its approximate K/V). */
    EVERY_MISMATCH
}
