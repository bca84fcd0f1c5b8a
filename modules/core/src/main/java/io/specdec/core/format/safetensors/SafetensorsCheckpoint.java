package io.specdec.core.format.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import io.specdec.core.model.ModelFormatException;
import io.specdec.core.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The safetensors weights of a HuggingFace model directory: one {@code model.safetensors}, shards listed by
 * {@code model.safetensors.index.json}'s {@code weight_map}, or (without either) every {@code *.safetensors} file in
 * the directory. Tensor lookups go to the file that holds the tensor.
 */
public final class SafetensorsCheckpoint {
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Path directory;
    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsFile> byTensor;

    private SafetensorsCheckpoint(Path directory, List<SafetensorsFile> files, Map<String, SafetensorsFile> byTensor) {
        this.directory = directory;
        this.files = files;
        this.byTensor = byTensor;
    }

    /** Maps the checkpoint's files into {@code arena}. */
    public static SafetensorsCheckpoint open(Path directory, Arena arena) {
        Path index = directory.resolve(INDEX_FILE);
        if (Files.isRegularFile(index)) return openSharded(directory, index, arena);
        List<Path> paths;
        Path single = directory.resolve(SINGLE_FILE);
        if (Files.isRegularFile(single)) {
            paths = List.of(single);
        } else {
            try (Stream<Path> s = Files.list(directory)) {
                paths = s.filter(p -> p.getFileName().toString().endsWith(".safetensors") && Files.isRegularFile(p))
                        .sorted().toList();
            } catch (IOException e) {
                throw new ModelFormatException(directory, "cannot list directory: " + e.getMessage(), e);
            }
            if (paths.isEmpty()) {
                throw new ModelFormatException(directory, "no " + SINGLE_FILE + ", " + INDEX_FILE
                        + " or other *.safetensors file in this directory");
            }
        }
        List<SafetensorsFile> files = new ArrayList<>();
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        for (Path p : paths) {
            SafetensorsFile f = SafetensorsFile.open(p, arena);
            files.add(f);
            for (String name : f.tensorInfos().keySet()) {
                SafetensorsFile other = byTensor.put(name, f);
                if (other != null) {
                    throw new ModelFormatException(p, "tensor " + name + " is also in " + other.path().getFileName());
                }
            }
        }
        return new SafetensorsCheckpoint(directory, List.copyOf(files), Collections.unmodifiableMap(byTensor));
    }

    private static SafetensorsCheckpoint openSharded(Path directory, Path index, Arena arena) {
        JsonNode root;
        try {
            root = SafetensorsFile.JSON.readTree(Files.readAllBytes(index));
        } catch (IOException e) {
            throw new ModelFormatException(index, "not a readable JSON index: " + e.getMessage(), e);
        }
        JsonNode weightMap = root == null ? null : root.get("weight_map");
        if (weightMap == null || !weightMap.isObject()) {
            throw new ModelFormatException(index, "missing weight_map object");
        }
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : weightMap.properties()) {
            String tensor = e.getKey();
            if (!e.getValue().isTextual()) {
                throw new ModelFormatException(index, "weight_map entry for " + tensor + " is not a file name");
            }
            String shardName = e.getValue().asText();
            Path shardPath = directory.resolve(shardName).normalize();
            if (shardName.isEmpty() || !directory.normalize().equals(shardPath.getParent())) {
                throw new ModelFormatException(index, "weight_map entry for " + tensor + " names " + shardName
                        + ", which is not a file in this directory");
            }
            SafetensorsFile shard = shards.computeIfAbsent(shardName, n -> SafetensorsFile.open(shardPath, arena));
            if (!shard.hasTensor(tensor)) {
                throw new ModelFormatException(index, "weight_map puts tensor " + tensor + " in " + shardName
                        + ", which does not hold it");
            }
            byTensor.put(tensor, shard);
        }
        return new SafetensorsCheckpoint(directory, List.copyOf(shards.values()), Collections.unmodifiableMap(byTensor));
    }

    public Path directory() { return directory; }

    public List<SafetensorsFile> files() { return files; }

    public boolean hasTensor(String name) { return byTensor.containsKey(name); }

    /** The named tensor, or null when no file holds it. */
    public Tensor find(String name) {
        SafetensorsFile f = byTensor.get(name);
        return f == null ? null : f.tensor(name);
    }

    /** The file holding {@code name}, or null. */
    public SafetensorsFile fileOf(String name) { return byTensor.get(name); }
}
