package io.specdec.server;

import java.nio.file.Path;
import java.util.Set;

/**
 * The gRPC and metrics endpoints of one node.
 *
 * @param grpcPort          0 picks a free port
 * @param metricsPort       Prometheus HTTP port; -1 = off, 0 = a free port
 * @param tlsCertChain      PEM certificate chain; null = plaintext
 * @param tlsPrivateKey     PEM private key (PKCS#8)
 * @param tlsClientCa       PEM CA bundle: when set, clients must present a certificate it signed (mTLS)
 * @param adminToken        operator bearer token for AdminService; null/empty = none
 * @param operatorSubjects  client certificate subjects (RFC 2253) accepted as operators under mTLS
 * @param maxInboundBytes   largest request message; larger ones get RESOURCE_EXHAUSTED
 * @param maxTokensLimit    largest max_tokens accepted
 */
public record ServerOptions(String host, int grpcPort, int metricsPort, Path tlsCertChain, Path tlsPrivateKey,
                            Path tlsClientCa, String adminToken, Set<String> operatorSubjects, int maxInboundBytes,
                            int maxTokensLimit) {

    public ServerOptions {
        if (grpcPort < 0 || grpcPort > 65535) throw new IllegalArgumentException("gRPC port must be in [0, 65535]: " + grpcPort);
        if (metricsPort < -1 || metricsPort > 65535) throw new IllegalArgumentException("metrics port must be in [-1, 65535]: " + metricsPort);
        if ((tlsCertChain == null) != (tlsPrivateKey == null)) {
            throw new IllegalArgumentException("TLS needs both a certificate chain and a private key");
        }
        if (tlsClientCa != null && tlsCertChain == null) throw new IllegalArgumentException("mTLS (client CA) needs TLS");
        operatorSubjects = operatorSubjects == null ? Set.of() : Set.copyOf(operatorSubjects);
    }

    public static ServerOptions plaintext(String host, int grpcPort, int metricsPort, String adminToken) {
        return new ServerOptions(host, grpcPort, metricsPort, null, null, null, adminToken, Set.of(), 1 << 20, 65536);
    }

    public ServerOptions withTls(Path certChain, Path privateKey, Path clientCa) {
        return new ServerOptions(host, grpcPort, metricsPort, certChain, privateKey, clientCa, adminToken, operatorSubjects,
                maxInboundBytes, maxTokensLimit);
    }

    public ServerOptions withOperatorSubjects(Set<String> subjects) {
        return new ServerOptions(host, grpcPort, metricsPort, tlsCertChain, tlsPrivateKey, tlsClientCa, adminToken, subjects,
                maxInboundBytes, maxTokensLimit);
    }
}
