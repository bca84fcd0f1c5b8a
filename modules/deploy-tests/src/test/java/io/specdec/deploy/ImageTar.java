package io.specdec.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.zip.GZIPInputStream;

/**
 * A `docker load` tar as Jib's buildTar writes it (manifest.json, config.json, gzipped layer tars), read the way a
 * container runtime reads it: the config, and the root filesystem the layers stack up to (later layers win).
 */
record ImageTar(Path file, List<String> repoTags, JsonNode config, Map<String, Entry> files, List<byte[]> layers) {
    /** One path of the stacked root filesystem (no leading slash), with its tar metadata. */
    record Entry(String path, int mode, long uid, long gid, boolean directory, boolean symlink, String linkTarget, long size) {
        boolean executable() { return (mode & 0111) != 0; }

        boolean writableByOthersThanRoot() { return (mode & 0022) != 0 || uid != 0; }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    static ImageTar open(Path file) throws IOException {
        Map<String, byte[]> top = new HashMap<>();
        try (var in = new TarArchiveInputStream(Files.newInputStream(file))) {
            for (TarArchiveEntry e; (e = in.getNextEntry()) != null; ) if (e.isFile()) top.put(e.getName(), in.readAllBytes());
        }
        if (!top.containsKey("manifest.json")) throw new IOException(file + " has no manifest.json: not a `docker load` tar");
        JsonNode manifest = JSON.readTree(top.get("manifest.json")).get(0);
        JsonNode config = JSON.readTree(top.get(manifest.get("Config").asText())).get("config");
        List<String> tags = new ArrayList<>();
        manifest.get("RepoTags").forEach(t -> tags.add(t.asText()));
        List<byte[]> layers = new ArrayList<>();
        manifest.get("Layers").forEach(l -> layers.add(top.get(l.asText())));
        Map<String, Entry> files = new LinkedHashMap<>();
        ImageTar partial = new ImageTar(file, tags, config, files, layers);
        partial.eachLayerEntry((e, in) -> {
            String path = normalize(e.getName());
            files.put(path, new Entry(path, e.getMode(), e.getLongUserId(), e.getLongGroupId(), e.isDirectory(),
                    e.isSymbolicLink(), e.getLinkName(), e.getSize()));
        });
        return new ImageTar(file, tags, config, files, layers);
    }

    private static String normalize(String name) {
        String p = name.startsWith("./") ? name.substring(2) : name.startsWith("/") ? name.substring(1) : name;
        return p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
    }

    Optional<Entry> file(String absolutePath) {
        return Optional.ofNullable(files.get(normalize(absolutePath)));
    }

    List<String> strings(String configField) {
        List<String> out = new ArrayList<>();
        JsonNode n = config.get(configField);
        if (n != null && !n.isNull()) n.forEach(v -> out.add(v.asText()));
        return out;
    }

    Map<String, String> env() {
        Map<String, String> m = new LinkedHashMap<>();
        for (String kv : strings("Env")) m.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
        return m;
    }

    /** The bytes of one file of the stacked root filesystem (from the last layer holding it). */
    byte[] read(String absolutePath) throws IOException {
        String want = normalize(absolutePath);
        byte[][] found = {null};
        eachLayerEntry((e, in) -> {
            if (normalize(e.getName()).equals(want)) found[0] = in.readAllBytes();
        });
        if (found[0] == null) throw new IOException(absolutePath + " is in no layer of " + file);
        return found[0];
    }

    private interface EntryVisitor {
        void visit(TarArchiveEntry entry, InputStream content) throws IOException;
    }

    /** Every entry of every layer, in stacking order (the manifest's). */
    private void eachLayerEntry(EntryVisitor visitor) throws IOException {
        for (byte[] layer : layers) {
            try (var in = new TarArchiveInputStream(new GZIPInputStream(new ByteArrayInputStream(layer)))) {
                for (TarArchiveEntry e; (e = in.getNextEntry()) != null; ) visitor.visit(e, in);
            }
        }
    }

    /** The ELF program interpreter (PT_INTERP) of a 64-bit little-endian ELF file: what the kernel starts it with. */
    static String elfInterpreter(byte[] elf) {
        ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
        if (b.getInt(0) != 0x464c457f || elf[4] != 2) throw new IllegalArgumentException("not a 64-bit ELF file");
        long phoff = b.getLong(0x20);
        int phentsize = Short.toUnsignedInt(b.getShort(0x36)), phnum = Short.toUnsignedInt(b.getShort(0x38));
        for (int i = 0; i < phnum; i++) {
            int ph = (int) (phoff + (long) i * phentsize);
            if (b.getInt(ph) == 3) { // PT_INTERP
                int offset = (int) b.getLong(ph + 8), size = (int) b.getLong(ph + 32);
                return new String(elf, offset, size - 1, StandardCharsets.US_ASCII);
            }
        }
        throw new IllegalArgumentException("ELF file has no PT_INTERP (statically linked?)");
    }

    /** Unpacks the stacked root filesystem into dir (as a container runtime would), keeping modes. */
    void extractTo(Path dir) throws IOException {
        eachLayerEntry((e, in) -> {
            Path target = dir.resolve(normalize(e.getName())).normalize();
            if (!target.startsWith(dir)) throw new IOException("layer entry outside the root: " + e.getName());
            if (e.isDirectory()) {
                Files.createDirectories(target);
            } else if (e.isSymbolicLink()) {
                Files.createDirectories(target.getParent());
                Files.deleteIfExists(target);
                Files.createSymbolicLink(target, Path.of(e.getLinkName()));
                return;
            } else {
                Files.createDirectories(target.getParent());
                Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
            }
            Files.setPosixFilePermissions(target, PosixFilePermissions.fromString(rwx(e.getMode())));
        });
    }

    private static String rwx(int mode) {
        String all = "rwxrwxrwx";
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 9; i++) s.append((mode & (1 << (8 - i))) != 0 ? all.charAt(i) : '-');
        return s.toString();
    }
}
