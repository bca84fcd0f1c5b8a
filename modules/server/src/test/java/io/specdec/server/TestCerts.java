package io.specdec.server;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.Date;

/** Certificates made at test time (never committed): a CA, and leaf certificates it signs, written as PEM. */
final class TestCerts {
    record Issued(X509Certificate cert, KeyPair keys, Path certPem, Path keyPem) { }

    private final Path dir;
    private final KeyPair caKeys;
    private final X509Certificate ca;
    final Path caPem;

    TestCerts(Path dir) throws Exception {
        this.dir = dir;
        this.caKeys = keys();
        this.ca = sign("CN=specdec test CA", caKeys, "CN=specdec test CA", caKeys, true);
        this.caPem = write("ca.pem", pem(ca));
    }

    Issued issue(String name, String subject) throws Exception {
        KeyPair k = keys();
        X509Certificate c = sign(subject, k, "CN=specdec test CA", caKeys, false);
        Path certPem = write(name + ".pem", pem(c));
        String key = "-----BEGIN PRIVATE KEY-----\n" + Base64.getMimeEncoder(64, "\n".getBytes())
                .encodeToString(k.getPrivate().getEncoded()) + "\n-----END PRIVATE KEY-----\n";
        return new Issued(c, k, certPem, write(name + ".key", key));
    }

    /** A PKCS#12 key store holding the leaf's key and chain, and a trust store holding the CA (for Pekko remoting). */
    Path keyStore(Issued leaf, String name, char[] password) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry("node", leaf.keys().getPrivate(), password, new java.security.cert.Certificate[] {leaf.cert(), ca});
        Path p = dir.resolve(name + ".p12");
        try (var out = Files.newOutputStream(p)) {
            ks.store(out, password);
        }
        return p;
    }

    Path trustStore(char[] password) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setCertificateEntry("ca", ca);
        Path p = dir.resolve("trust.p12");
        try (var out = Files.newOutputStream(p)) {
            ks.store(out, password);
        }
        return p;
    }

    private static KeyPair keys() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        return g.generateKeyPair();
    }

    private static X509Certificate sign(String subject, KeyPair subjectKeys, String issuer, KeyPair issuerKeys, boolean isCa)
            throws Exception {
        long now = System.currentTimeMillis();
        var b = new JcaX509v3CertificateBuilder(new X500Name(issuer), BigInteger.valueOf(now ^ subject.hashCode()),
                new Date(now - 60_000), new Date(now + 86_400_000L), new X500Name(subject), subjectKeys.getPublic());
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(isCa));
        if (!isCa) {
            b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                    new GeneralName(GeneralName.dNSName, "localhost"), new GeneralName(GeneralName.iPAddress, "127.0.0.1")}));
        }
        X509CertificateHolder holder = b.build(new JcaContentSignerBuilder("SHA256withRSA").build(issuerKeys.getPrivate()));
        return new JcaX509CertificateConverter().getCertificate(holder);
    }

    private static String pem(Object o) throws Exception {
        StringWriter s = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(s)) {
            w.writeObject(o);
        }
        return s.toString();
    }

    private Path write(String name, String content) throws Exception {
        return Files.writeString(dir.resolve(name), content);
    }
}
