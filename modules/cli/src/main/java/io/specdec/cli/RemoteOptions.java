package io.specdec.cli;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.AbstractStub;
import io.grpc.stub.MetadataUtils;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** How a client command reaches a specdec server. */
public final class RemoteOptions {
    // Defaults from the environment so a Kubernetes exec hook (no shell, no $(VAR) expansion) needs no arguments.
    @Option(names = "--server", paramLabel = "HOST:PORT", defaultValue = "${env:SPECDEC_SERVER:-127.0.0.1:50051}",
            description = "A specdec gRPC server (env SPECDEC_SERVER; default: ${DEFAULT-VALUE}).")
    String server;

    @Option(names = "--tls-ca", paramLabel = "PEM", description = "Trust this CA (enables TLS).") Path tlsCa;
    @Option(names = "--tls-cert", paramLabel = "PEM", description = "Client certificate (mTLS).") Path tlsCert;
    @Option(names = "--tls-key", paramLabel = "PEM", description = "Client private key (mTLS).") Path tlsKey;

    @Option(names = "--token", paramLabel = "TOKEN", description = "Operator token for admin calls (env SPECDEC_ADMIN_TOKEN).")
    String token;

    @Option(names = "--token-file", paramLabel = "FILE", defaultValue = "${env:SPECDEC_ADMIN_TOKEN_FILE}",
            description = "Read the operator token from this file, e.g. a mounted Secret (env SPECDEC_ADMIN_TOKEN_FILE).")
    Path tokenFile;

    ManagedChannel channel() throws IOException {
        if (server == null) throw new IllegalArgumentException("--server HOST:PORT is required");
        int colon = server.lastIndexOf(':');
        if (colon < 0) throw new IllegalArgumentException("--server expects HOST:PORT, got " + server);
        String host = server.substring(0, colon);
        int port;
        try {
            port = Integer.parseInt(server.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--server expects HOST:PORT, got " + server);
        }
        ChannelCredentials creds = InsecureChannelCredentials.create();
        if (tlsCa != null || tlsCert != null) {
            TlsChannelCredentials.Builder b = TlsChannelCredentials.newBuilder();
            if (tlsCa != null) b.trustManager(tlsCa.toFile());
            if (tlsCert != null) b.keyManager(tlsCert.toFile(), tlsKey.toFile());
            creds = b.build();
        }
        return Grpc.newChannelBuilderForAddress(host, port, creds).build();
    }

    /** --token, else --token-file, else SPECDEC_ADMIN_TOKEN; null when none is given. */
    String token() throws IOException {
        if (token != null) return token;
        if (tokenFile != null) {
            if (!Files.isReadable(tokenFile)) throw new IllegalArgumentException("--token-file " + tokenFile + " is not a readable file");
            return Files.readString(tokenFile).strip();
        }
        return System.getenv("SPECDEC_ADMIN_TOKEN");
    }

    <S extends AbstractStub<S>> S withToken(S stub) throws IOException {
        String t = token();
        if (t == null || t.isEmpty()) return stub;
        Metadata m = new Metadata();
        m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + t);
        return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(m));
    }
}
