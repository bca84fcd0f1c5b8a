package io.specdec.core.format;

import io.specdec.core.format.gguf.GgufValueType;
import io.specdec.core.format.gguf.GgufWriter;
import io.specdec.core.format.safetensors.SafetensorsFile;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelFormatException;
import io.specdec.core.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Randomly corrupted headers (fixed seed) must load or fail with a ModelFormatException: never another exception,
 * an OutOfMemoryError or a hang.
 */
class HeaderFuzzTest {
    private static final long SEED = 20240611L;
    private static final long[] INTERESTING = {0, 1, -1, 31, 32, 33, 255, 0x7fffffffL, 0x80000000L, 0xffffffffL,
            Long.MAX_VALUE, Long.MIN_VALUE, 1L << 32, 1L << 40, 1L << 62};

    @TempDir Path dir;

    private record Outcome(int loaded, int rejected, List<String> failures) {
    }

    @Test
    void corruptedHeadersFailOnlyWithModelFormatException() throws IOException {
        // bases: a loadable GGUF model, a GGUF of every metadata type, a HuggingFace dir, a llama2.c checkpoint
        Path ggufModel = dir.resolve("model.gguf");
        TinyModels.writeGguf(ggufModel, new TinyModels.Spec("qwen2", DType.Q4_0, false, true, false), 1);
        Path ggufMeta = dir.resolve("meta.gguf");
        new GgufWriter().putString("general.architecture", "llama").put("u8", GgufValueType.UINT8, 1)
                .put("i16", GgufValueType.INT16, -2).put("f64", GgufValueType.FLOAT64, 3.0)
                .put("b", GgufValueType.BOOL, true).put("u64", GgufValueType.UINT64, 7L)
                .putArray("tokens", GgufValueType.STRING, List.of("<unk>", "<s>", "a", "bc"))
                .putArray("scores", GgufValueType.FLOAT32, List.of(0f, 0f, -1f, -2f))
                .addTensor("token_embd.weight", DType.Q8_0, new long[]{4, 32}, new float[128])
                .addTensor("x", DType.BF16, new long[]{2, 2}, new float[4])
                .write(ggufMeta);
        Path hf = Files.createDirectory(dir.resolve("hf"));
        TinyModels.writeHuggingFace(hf, new TinyModels.Spec("qwen3", DType.BF16, true, false, true), 1, 1);
        Path safetensors = hf.resolve("model.safetensors");
        Path llama2c = dir.resolve("tiny.bin");
        TinyModels.writeLlama2c(llama2c, false, 1);

        Outcome total = assertTimeoutPreemptively(Duration.ofMinutes(3), () -> {
            SplittableRandom rng = new SplittableRandom(SEED);
            List<Outcome> outcomes = new ArrayList<>();
            outcomes.add(fuzz(ggufModel, 500, 400, rng, ModelFiles::load));
            outcomes.add(fuzz(ggufMeta, 300, 300, rng, ModelFiles::load));
            outcomes.add(fuzz(safetensors, 500, 0, rng, p -> ModelFiles.load(hf)));
            outcomes.add(fuzz(safetensors, 200, 0, rng, p -> SafetensorsFile.open(p, Arena.ofAuto())));
            outcomes.add(fuzz(llama2c, 200, 28, rng, ModelFiles::load));
            List<String> failures = new ArrayList<>();
            int loaded = 0, rejected = 0;
            for (Outcome o : outcomes) {
                loaded += o.loaded;
                rejected += o.rejected;
                failures.addAll(o.failures);
            }
            return new Outcome(loaded, rejected, failures);
        });
        System.out.printf("header fuzz: %d mutated files, %d loaded, %d rejected with ModelFormatException%n",
                total.loaded + total.rejected + total.failures.size(), total.loaded, total.rejected);
        assertThat(total.failures).as("mutations that failed with something other than ModelFormatException").isEmpty();
        assertThat(total.loaded + total.rejected).isGreaterThanOrEqualTo(1000);
        assertThat(total.rejected).isGreaterThan(total.loaded / 2); // the mutations do reach the validation
    }

    /**
     * Mutates the first {@code span} bytes of {@code base} (for safetensors, span 0 means the whole JSON header),
     * writes the result over the original path and runs {@code load} on it.
     */
    private Outcome fuzz(Path file, int iterations, int span, SplittableRandom rng, Function<Path, ?> load) throws IOException {
        byte[] original = Files.readAllBytes(file);
        if (span == 0) {
            span = (int) Math.min(8 + ByteBuffer.wrap(original).order(ByteOrder.LITTLE_ENDIAN).getLong(0), original.length);
        }
        int loaded = 0, rejected = 0;
        List<String> failures = new ArrayList<>();
        try {
            for (int i = 0; i < iterations; i++) {
                byte[] mutated = mutate(original, Math.min(span, original.length), rng);
                Files.write(file, mutated);
                try {
                    closeIfModel(load.apply(file));
                    loaded++;
                } catch (ModelFormatException e) {
                    rejected++;
                } catch (Throwable t) {
                    StringWriter trace = new StringWriter();
                    t.printStackTrace(new PrintWriter(trace));
                    failures.add(file.getFileName() + " mutation " + i + ": " + trace);
                }
            }
        } finally {
            Files.write(file, original);
        }
        return new Outcome(loaded, rejected, failures);
    }

    /** LoadedModel results are closed; other results are ignored. */
    private static void closeIfModel(Object o) {
        if (o instanceof LoadedModel m) m.close();
    }

    private static byte[] mutate(byte[] original, int span, SplittableRandom rng) {
        byte[] b = original.clone();
        int edits = 1 + rng.nextInt(3);
        for (int e = 0; e < edits; e++) {
            int at = rng.nextInt(span);
            switch (rng.nextInt(6)) {
                case 0 -> b[at] ^= (byte) (1 << rng.nextInt(8));                       // flip a bit
                case 1 -> b[at] = (byte) rng.nextInt(256);                             // overwrite a byte
                case 2 -> {                                                            // plant an interesting integer
                    long v = INTERESTING[rng.nextInt(INTERESTING.length)];
                    int width = rng.nextBoolean() ? 4 : 8;
                    for (int k = 0; k < width && at + k < b.length; k++) b[at + k] = (byte) (v >>> (8 * k));
                }
                case 3 -> { return Arrays.copyOf(b, at); }                             // truncate
                case 4 -> {                                                            // delete a byte
                    byte[] shorter = new byte[b.length - 1];
                    System.arraycopy(b, 0, shorter, 0, at);
                    System.arraycopy(b, at + 1, shorter, at, b.length - at - 1);
                    b = shorter;
                }
                default -> {                                                           // insert a byte
                    byte[] longer = new byte[b.length + 1];
                    System.arraycopy(b, 0, longer, 0, at);
                    longer[at] = (byte) rng.nextInt(256);
                    System.arraycopy(b, at, longer, at + 1, b.length - at);
                    b = longer;
                }
            }
            span = Math.min(span, b.length);
            if (span == 0) break;
        }
        return b;
    }
}
