package io.specdec.cli;

import io.specdec.core.parallel.CalibrationPolicy;
import io.specdec.core.parallel.LayerGroupPlan;
import picocli.CommandLine.Option;

import java.util.Locale;

/** How a model draft runs: sequentially, layer-parallel (EasySpec) or concurrently with the target (CARD). */
public final class DraftModeOptions {

    /** The drafting schemes of docs/ALGORITHMS.md §3-4 (all lossless: the target verifies every token). */
    enum Mode { SEQUENTIAL, EASYSPEC, CARD }

    @Option(names = "--draft-mode", paramLabel = "sequential|easyspec|card", defaultValue = "sequential",
            description = "How a model draft runs: sequential (default: on the target's device, between verifications), "
                    + "easyspec (its layers in parallel across --draft-devices devices; approximate drafts, lossless "
                    + "output), card (on devices of its own, drafting a candidate tree while the target verifies).")
    String mode;

    @Option(names = "--draft-devices", paramLabel = "M", defaultValue = "2",
            description = "Devices given to the draft with --draft-mode easyspec (replicas) or card (on CPU: threads of "
                    + "the draft's own device). Default: ${DEFAULT-VALUE}.")
    int devices;

    @Option(names = "--layer-groups", paramLabel = "PLAN",
            description = "EasySpec layer groups, e.g. 0|1-2|3-4|5 (default: the first and last layers/8 layers alone, the "
                    + "rest in groups of --draft-devices).")
    String layerGroups;

    @Option(names = "--calibration", paramLabel = "never|every-round|every-mismatch", defaultValue = "every-round",
            description = "When EasySpec recomputes the draft's KV exactly (default: ${DEFAULT-VALUE}; measured in "
                    + "docs/multi-gpu.md).")
    String calibration;

    @Option(names = "--card-width", paramLabel = "K",
            description = "CARD: candidate nodes kept per tree level (default: 1 on cuda, where ranking more candidates "
                    + "reads the draft's logits on the host and makes a tree level slower than a target step with a "
                    + "128K vocabulary, docs/multi-gpu.md; 4 on cpu).")
    Integer cardWidth;

    @Option(names = "--card-depth", paramLabel = "D", defaultValue = "8",
            description = "CARD: tree levels drafted ahead of the context (default: ${DEFAULT-VALUE}).")
    int cardDepth;

    /** --card-width, or its backend's default. */
    int cardWidth(boolean cuda) {
        return cardWidth != null ? cardWidth : cuda ? 1 : 4;
    }

    Mode mode() {
        try {
            return Mode.valueOf(mode.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--draft-mode must be sequential, easyspec or card, got " + mode);
        }
    }

    int devices() {
        if (devices < 1) throw new IllegalArgumentException("--draft-devices must be at least 1, got " + devices);
        return devices;
    }

    CalibrationPolicy calibration() {
        try {
            return CalibrationPolicy.valueOf(calibration.toUpperCase(Locale.ROOT).replace('-', '_'));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--calibration must be never, every-round or every-mismatch, got " + calibration);
        }
    }

    LayerGroupPlan plan(int layers) {
        if (layerGroups != null) return LayerGroupPlan.parse(layerGroups);
        return LayerGroupPlan.standard(layers, devices(), layers / 8);
    }
}
