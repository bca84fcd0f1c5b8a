package io.specdec.core.format;

import io.specdec.core.format.gguf.GgufFile;
import io.specdec.core.format.gguf.GgufValueType;
import io.specdec.core.format.gguf.GgufWriter;
import io.specdec.core.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

import static io.specdec.core.format.FormatAssertions.assertFormatError;

/** Each corrupt GGUF fails with a ModelFormatException naming the file and the problem. */
class GgufBadFilesTest {
    /** Offsets in a file with no metadata and one 1-D tensor named "t": 24-byte header, name (8 + 1), n_dims, dim. */
    private static final int TENSOR_TYPE_AT = 24 + 9 + 4 + 8, TENSOR_OFFSET_AT = TENSOR_TYPE_AT + 4;

    @TempDir Path dir;

    @Test
    void rejectsBadMagic() throws IOException {
        Path f = patched("magic.gguf", oneTensor(), b -> b.put(0, "GGML".getBytes()));
        assertFormatError(f, "not a GGUF file: magic 0x4c4d4747", () -> ModelFiles.load(f));
    }

    @Test
    void rejectsUnsupportedVersions() throws IOException {
        for (int version : new int[]{1, 4, -1}) {
            Path f = patched("v" + version + ".gguf", oneTensor(), b -> b.putInt(4, version));
            assertFormatError(f, "unsupported GGUF version " + version, () -> ModelFiles.load(f));
        }
    }

    @Test
    void rejectsTensorOffsetBeyondFile() throws IOException {
        Path f = patched("offset.gguf", oneTensor(), b -> b.putLong(TENSOR_OFFSET_AT, 1 << 20));
        assertFormatError(f, "tensor t at offset 1048576 with 32 bytes does not fit the data section", () -> open(f));
        Path unaligned = patched("unaligned.gguf", oneTensor(), b -> b.putLong(TENSOR_OFFSET_AT, 4));
        assertFormatError(unaligned, "tensor t at offset 4", () -> open(unaligned));
        Path huge = patched("huge.gguf", oneTensor(), b -> b.putLong(TENSOR_TYPE_AT - 8, 1L << 62));
        assertFormatError(huge, "tensor t has a byte size that overflows", () -> open(huge));
    }

    @Test
    void rejectsUnknownGgmlType() throws IOException {
        Path f = patched("type.gguf", oneTensor(), b -> b.putInt(TENSOR_TYPE_AT, 99));
        assertFormatError(f, "tensor t has GGML type 99, which specdec does not read", () -> open(f));
        Path q4k = patched("q4k.gguf", oneTensor(), b -> b.putInt(TENSOR_TYPE_AT, 12));
        assertFormatError(q4k, "GGML type 12", () -> open(q4k));
    }

    @Test
    void rejectsQuantizedRowsThatAreNotWholeBlocks() throws IOException {
        // 8 values of Q8_0 would be a quarter of a block
        Path f = patched("partial.gguf", oneTensor(), b -> b.putInt(TENSOR_TYPE_AT, 8));
        assertFormatError(f, "tensor t of type Q8_0 has 8 elements, not a multiple of its block size 32", () -> open(f));
    }

    @Test
    void rejectsTruncatedMetadata() throws IOException {
        byte[] bytes = write(new GgufWriter().putString("general.name", "a model with a long name")
                .putUInt32("n", 7)
                .putArray("ints", GgufValueType.INT32, IntStream.range(0, 100).boxed().toList()));
        int nValueAt = 24 + 8 + 12 + 4 + 8 + 24 + 8 + 1 + 4;
        Path midScalar = dir.resolve("mid-scalar.gguf");
        Files.write(midScalar, Arrays.copyOf(bytes, nValueAt + 2));
        assertFormatError(midScalar, "header needs 4 bytes at offset " + nValueAt, () -> open(midScalar));
        Path midArray = dir.resolve("mid-array.gguf");
        Files.write(midArray, Arrays.copyOf(bytes, nValueAt + 4 + 8 + 4 + 4 + 8 + 202));
        assertFormatError(midArray, "array length of ints 100 at offset " + (nValueAt + 4 + 8 + 4 + 4 + 4), () -> open(midArray));
        Path midString = dir.resolve("mid-string.gguf");
        Files.write(midString, Arrays.copyOf(bytes, 70)); // inside the 24-byte value of general.name at 48
        assertFormatError(midString, "string of length 24 at offset 48 runs past the end of the file", () -> open(midString));
        Path headerOnly = dir.resolve("header-only.gguf");
        Files.write(headerOnly, Arrays.copyOf(bytes, 10));
        assertFormatError(headerOnly, "truncated or corrupt", () -> open(headerOnly));
    }

    @Test
    void rejectsHugeArrayLength() throws IOException {
        byte[] bytes = write(new GgufWriter().putArray("a", GgufValueType.UINT8, List.of(1, 2, 3)));
        int lengthAt = 24 + 8 + 1 + 4 + 4;
        Path f = patched("array.gguf", bytes, b -> b.putLong(lengthAt, Long.MAX_VALUE / 2));
        assertFormatError(f, "array length of a 4611686018427387903", () -> open(f));
        Path negative = patched("negative.gguf", bytes, b -> b.putLong(lengthAt, -1));
        assertFormatError(negative, "array length of a 18446744073709551615", () -> open(negative));
        Path strings = patched("strings.gguf", write(new GgufWriter().putArray("s", GgufValueType.STRING, List.of("x"))),
                b -> b.putLong(lengthAt, 1_000_000));
        assertFormatError(strings, "array length of s 1000000 at offset 41 cannot fit", () -> open(strings));
        Path count = patched("count.gguf", bytes, b -> b.putLong(16, 1L << 40));
        assertFormatError(count, "metadata count 1099511627776", () -> open(count));
    }

    @Test
    void rejectsModelsSpecdecCannotRun() throws IOException {
        Path gpt2 = dir.resolve("gpt2.gguf");
        Files.write(gpt2, write(new GgufWriter().putString("general.architecture", "gpt2")));
        assertFormatError(gpt2, "general.architecture is gpt2", () -> ModelFiles.load(gpt2));
        Path noArch = dir.resolve("noarch.gguf");
        Files.write(noArch, oneTensor());
        assertFormatError(noArch, "missing metadata key general.architecture", () -> ModelFiles.load(noArch));
        Path tiny = dir.resolve("tiny.gguf");
        TinyModels.writeGguf(tiny, TinyModels.Spec.llama(DType.F32), 1);
        byte[] bytes = Files.readAllBytes(tiny);
        // rename the key llama.block_count -> llama.block_cXunt
        Path missingKey = patched("missing-key.gguf", bytes, b -> b.put(indexOf(bytes, "llama.block_count") + 13, (byte) 'X'));
        assertFormatError(missingKey, "missing metadata key llama.block_count", () -> ModelFiles.load(missingKey));
        // make attn_v of layer 1 vanish by renaming it
        Path missingTensor = patched("missing-tensor.gguf", bytes, b -> b.put(indexOf(bytes, "blk.1.attn_v") + 11, (byte) 'w'));
        assertFormatError(missingTensor, "missing tensor blk.1.attn_v.weight", () -> ModelFiles.load(missingTensor));
        Path wrongType = dir.resolve("wrong-type.gguf");
        Files.write(wrongType, write(new GgufWriter().putString("general.architecture", "llama")
                .putString("llama.embedding_length", "4096")
                .addTensor("token_embd.weight", DType.F32, new long[]{2, 32}, new float[64])));
        assertFormatError(wrongType, "metadata llama.embedding_length must be a non-negative integer", () -> ModelFiles.load(wrongType));
    }

    private static GgufFile open(Path f) {
        return GgufFile.open(f, Arena.ofAuto());
    }

    private byte[] oneTensor() throws IOException {
        return write(new GgufWriter().addTensor("t", DType.F32, new long[]{8}, new float[8]));
    }

    private byte[] write(GgufWriter w) throws IOException {
        Path tmp = Files.createTempFile(dir, "base", ".gguf");
        w.write(tmp);
        return Files.readAllBytes(tmp);
    }

    private Path patched(String name, byte[] base, java.util.function.Consumer<ByteBuffer> patch) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(base.clone()).order(ByteOrder.LITTLE_ENDIAN);
        patch.accept(b);
        Path f = dir.resolve(name);
        Files.write(f, b.array());
        return f;
    }

    private static int indexOf(byte[] haystack, String needle) {
        byte[] n = needle.getBytes();
        outer:
        for (int i = 0; i <= haystack.length - n.length; i++) {
            for (int j = 0; j < n.length; j++) if (haystack[i + j] != n[j]) continue outer;
            return i;
        }
        throw new AssertionError(needle + " not found");
    }
}
