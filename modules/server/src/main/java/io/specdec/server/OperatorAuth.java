package io.specdec.server;

import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Set;

/**
 * Admits an AdminService call only with the operator credential: {@code authorization: Bearer <token>}, or (with
 * mTLS) a client certificate whose subject is one of the configured operator identities. Everything else is
 * UNAUTHENTICATED; with neither configured the admin API refuses every call.
 */
final class OperatorAuth implements ServerInterceptor {
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final byte[] token;
    private final Set<String> operatorSubjects;

    OperatorAuth(String token, Set<String> operatorSubjects) {
        this.token = token == null || token.isEmpty() ? null : ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
        this.operatorSubjects = Set.copyOf(operatorSubjects);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        if (authorized(call, headers)) return next.startCall(call, headers);
        String why = token == null && operatorSubjects.isEmpty()
                ? "the admin API is disabled: no operator token or identity is configured"
                : headers.get(AUTHORIZATION) == null ? "admin calls need 'authorization: Bearer <operator token>'"
                : "the operator credential was not accepted";
        call.close(Status.UNAUTHENTICATED.withDescription(why), new Metadata());
        return new ServerCall.Listener<>() { };
    }

    private boolean authorized(ServerCall<?, ?> call, Metadata headers) {
        String given = headers.get(AUTHORIZATION);
        if (token != null && given != null && MessageDigest.isEqual(token, given.getBytes(StandardCharsets.UTF_8))) return true;
        if (operatorSubjects.isEmpty()) return false;
        SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
        if (session == null) return false;
        try {
            Certificate[] chain = session.getPeerCertificates();
            return chain.length > 0 && chain[0] instanceof X509Certificate x
                    && operatorSubjects.contains(x.getSubjectX500Principal().getName());
        } catch (SSLPeerUnverifiedException e) {
            return false;
        }
    }
}
