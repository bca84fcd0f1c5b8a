package io.specdec.server;

import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.specdec.cluster.StreamEvent;
import io.specdec.core.kv.KvCacheExhaustedException;

import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;

/** The one place where failures become gRPC statuses (with the message that says what was wrong). */
public final class GrpcErrors {
    private GrpcErrors() { }

    public static StatusRuntimeException toStatus(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) t = t.getCause();
        Status status = switch (t) {
            case StatusRuntimeException e -> e.getStatus();
            case StatusException e -> e.getStatus();
            case IllegalArgumentException e -> Status.INVALID_ARGUMENT.withDescription(e.getMessage());
            case KvCacheExhaustedException e -> Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage());
            case TimeoutException e -> Status.UNAVAILABLE.withDescription("the cluster did not answer in time: " + e.getMessage());
            case IllegalStateException e -> Status.UNAVAILABLE.withDescription(e.getMessage());
            default -> Status.INTERNAL.withDescription(t.getClass().getSimpleName() + ": " + t.getMessage()).withCause(t);
        };
        return status.asRuntimeException();
    }

    /** A coordinator's failure event (its status name comes from the cluster module, which knows no gRPC). */
    public static StatusRuntimeException toStatus(StreamEvent.Failed failed) {
        Status.Code code;
        try {
            code = Status.Code.valueOf(failed.status());
        } catch (IllegalArgumentException e) {
            code = Status.Code.INTERNAL;
        }
        return Status.fromCode(code).withDescription(failed.message()).asRuntimeException();
    }

    public static StatusRuntimeException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asRuntimeException();
    }
}
