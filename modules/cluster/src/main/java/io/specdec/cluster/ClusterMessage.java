package io.specdec.cluster;

/** Marker for messages that cross nodes: bound to {@link JsonSerializer} in reference.conf. */
public interface ClusterMessage {
}
