package io.specdec.server;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import com.google.protobuf.UnknownFieldSet;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * grpc-java answers a request that does not parse (e.g. invalid UTF-8 in a proto3 string) with UNKNOWN; it is the
 * client's fault, so each method's request marshaller is wrapped: a message that fails to parse becomes an empty
 * message carrying the parse error in an unknown field, and an interceptor answers it with INVALID_ARGUMENT before
 * the service sees it.
 */
final class InvalidArgumentOnBadMessages {
    /** A field number no specdec message uses. */
    private static final int MARKER = 536_870_000;

    private InvalidArgumentOnBadMessages() { }

    static ServerServiceDefinition wrap(ServerServiceDefinition service) {
        // Keep the schema descriptor, so server reflection still describes the service.
        ServiceDescriptor original = service.getServiceDescriptor();
        List<ServerMethodDefinition<?, ?>> methods = new ArrayList<>();
        for (ServerMethodDefinition<?, ?> m : service.getMethods()) methods.add(wrap(m));
        ServiceDescriptor.Builder sd = ServiceDescriptor.newBuilder(original.getName())
                .setSchemaDescriptor(original.getSchemaDescriptor());
        for (ServerMethodDefinition<?, ?> m : methods) sd.addMethod(m.getMethodDescriptor());
        ServerServiceDefinition.Builder b = ServerServiceDefinition.builder(sd.build());
        for (ServerMethodDefinition<?, ?> m : methods) b.addMethod(m);
        return ServerInterceptors.intercept(b.build(), new Refuse());
    }

    private static <Q, R> ServerMethodDefinition<Q, R> wrap(ServerMethodDefinition<Q, R> m) {
        MethodDescriptor.Marshaller<Q> inner = m.getMethodDescriptor().getRequestMarshaller();
        if (!(inner instanceof MethodDescriptor.PrototypeMarshaller<Q> pm) || !(pm.getMessagePrototype() instanceof Message proto)) {
            return m;
        }
        MethodDescriptor.Marshaller<Q> checked = new MethodDescriptor.PrototypeMarshaller<>() {
            @Override public Q getMessagePrototype() { return pm.getMessagePrototype(); }

            @Override public Class<Q> getMessageClass() { return pm.getMessageClass(); }

            @Override public InputStream stream(Q value) { return inner.stream(value); }

            @Override
            @SuppressWarnings("unchecked")
            public Q parse(InputStream stream) {
                try {
                    return inner.parse(stream);
                } catch (StatusRuntimeException e) {
                    Throwable cause = e.getCause() != null ? e.getCause() : e;
                    String why = "malformed request message: " + cause.getMessage();
                    return (Q) proto.toBuilder().setUnknownFields(UnknownFieldSet.newBuilder().addField(MARKER,
                            UnknownFieldSet.Field.newBuilder().addLengthDelimited(ByteString.copyFromUtf8(why)).build())
                            .build()).build();
                }
            }
        };
        MethodDescriptor<Q, R> descriptor = m.getMethodDescriptor().toBuilder().setRequestMarshaller(checked).build();
        return ServerMethodDefinition.create(descriptor, m.getServerCallHandler());
    }

    private static final class Refuse implements ServerInterceptor {
        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            ServerCall.Listener<Q> delegate = next.startCall(call, headers);
            return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(delegate) {
                private boolean refused;

                @Override
                public void onMessage(Q message) {
                    if (message instanceof Message m && m.getUnknownFields().hasField(MARKER)) {
                        refused = true;
                        String why = m.getUnknownFields().getField(MARKER).getLengthDelimitedList().getFirst().toStringUtf8();
                        call.close(Status.INVALID_ARGUMENT.withDescription(why), new Metadata());
                        return;
                    }
                    super.onMessage(message);
                }

                @Override
                public void onHalfClose() {
                    if (!refused) super.onHalfClose();
                }
            };
        }
    }
}
