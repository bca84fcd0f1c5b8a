package io.specdec.core.parallel;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * EasySpec's split of the draft's layers into consecutive groups (docs/ALGORITHMS.md §3): the layers of a group run
 * their attention at the same time on different devices from the group's entry residual; a one-layer group runs
 * exactly. Written as text like {@code 0|1-2|3-4|5} (ranges inclusive).
 */
public record LayerGroupPlan(List<int[]> groups) {

    public LayerGroupPlan {
        groups = List.copyOf(groups);
        int next = 0;
        for (int[] g : groups) {
            if (g.length == 0) throw new IllegalArgumentException("empty layer group");
            for (int layer : g) {
                if (layer != next) throw new IllegalArgumentException("layer groups must cover 0.." + "n-1 in order; expected layer " + next + ", found " + layer);
                next++;
            }
        }
        if (next == 0) throw new IllegalArgumentException("a plan needs at least one layer");
    }

    public int layers() { return groups.stream().mapToInt(g -> g.length).sum(); }

    /** The widest group: how many devices the plan keeps busy at once. */
    public int width() { return groups.stream().mapToInt(g -> g.length).max().orElse(1); }

    /** Layers that run with a stale residual (all but the first of each group): the approximation's extent. */
    public int fuzzyLayers() { return groups.stream().mapToInt(g -> g.length - 1).sum(); }

    /**
     * The default plan: the first {@code edge} and last {@code edge} layers alone, the middle in groups of
     * {@code groupSize} (a shorter last group when it does not divide).
     */
    public static LayerGroupPlan standard(int layers, int groupSize, int edge) {
        if (groupSize < 1) throw new IllegalArgumentException("group size must be positive: " + groupSize);
        List<int[]> groups = new ArrayList<>();
        int e = Math.min(edge, layers / 2);
        for (int l = 0; l < e; l++) groups.add(new int[] {l});
        for (int l = e; l < layers - e; l += groupSize) {
            int end = Math.min(layers - e, l + groupSize);
            int[] g = new int[end - l];
            for (int i = 0; i < g.length; i++) g[i] = l + i;
            groups.add(g);
        }
        for (int l = Math.max(e, layers - e); l < layers; l++) groups.add(new int[] {l});
        return new LayerGroupPlan(groups);
    }

    /** Parses {@code 0|1-2|3-4|5}. */
    public static LayerGroupPlan parse(String text) {
        List<int[]> groups = new ArrayList<>();
        for (String part : text.trim().split("\\|")) {
            String p = part.trim();
            try {
                int dash = p.indexOf('-');
                int from = Integer.parseInt(dash < 0 ? p : p.substring(0, dash).trim());
                int to = dash < 0 ? from : Integer.parseInt(p.substring(dash + 1).trim());
                if (to < from) throw new IllegalArgumentException("layer range " + p + " runs backwards");
                int[] g = new int[to - from + 1];
                for (int i = 0; i < g.length; i++) g[i] = from + i;
                groups.add(g);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("cannot read layer group '" + p + "' in plan '" + text + "' (expected e.g. 0|1-2|3)");
            }
        }
        return new LayerGroupPlan(groups);
    }

    @Override public String toString() {
        StringBuilder b = new StringBuilder();
        for (int[] g : groups) {
            if (!b.isEmpty()) b.append('|');
            b.append(g[0]);
            if (g.length > 1) b.append('-').append(g[g.length - 1]);
        }
        return b.toString();
    }

    @Override public boolean equals(Object o) {
        if (!(o instanceof LayerGroupPlan other) || other.groups.size() != groups.size()) return false;
        for (int i = 0; i < groups.size(); i++) if (!Arrays.equals(groups.get(i), other.groups.get(i))) return false;
        return true;
    }

    @Override public int hashCode() { return toString().hashCode(); }
}
