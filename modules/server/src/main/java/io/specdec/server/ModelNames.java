package io.specdec.server;

import io.specdec.cluster.Coordinator;
import io.specdec.cluster.SpecdecNode;

import java.util.concurrent.TimeUnit;

/** The served model's name and shape, fetched once from any replica (a frontend-only node has no model of its own). */
final class ModelNames {
    private final SpecdecNode node;
    private volatile Coordinator.ModelDescription description;

    ModelNames(SpecdecNode node) {
        this.node = node;
    }

    Coordinator.ModelDescription description() {
        Coordinator.ModelDescription d = description;
        if (d == null) {
            try {
                d = node.describeModel().toCompletableFuture().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new IllegalStateException("no model replica is serving yet: " + e.getMessage(), e);
            }
            description = d;
        }
        return d;
    }

    String name() { return description().name(); }

    /** Empty means the default (only) model; anything else must be its name. */
    void check(String requested) {
        if (requested.isEmpty()) return;
        String name = name();
        if (!requested.equals(name)) {
            throw new IllegalArgumentException("unknown model \"" + (requested.length() > 100 ? requested.substring(0, 100) + "..." : requested)
                    + "\": this cluster serves \"" + name + "\"");
        }
    }
}
