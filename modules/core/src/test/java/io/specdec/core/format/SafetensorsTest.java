package io.specdec.core.format;

import io.specdec.core.format.safetensors.SafetensorsCheckpoint;
import io.specdec.core.format.safetensors.SafetensorsFile;
import io.specdec.core.format.safetensors.SafetensorsWriter;
import io.specdec.core.tensor.BF16Tensor;
import io.specdec.core.tensor.DType;
import io.specdec.core.tensor.F16Tensor;
import io.specdec.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static io.specdec.core.format.FormatAssertions.assertFormatError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class SafetensorsTest {
    @TempDir Path dir;

    @Test
    void tensorsOfEverySafetensorsTypeRoundTrip() throws IOException {
        float[] a = TinyModels.random(1, 6 * 10, 3f);
        float[] b = TinyModels.random(2, 7, 1f);
        float[] c = TinyModels.random(3, 2 * 3 * 4, 100f);
        Path file = dir.resolve("t.safetensors");
        new SafetensorsWriter().metadata("format", "pt")
                .add("a", DType.F32, new long[]{6, 10}, a)
                .add("b", DType.F16, new long[]{7}, b)
                .add("c", DType.BF16, new long[]{2, 3, 4}, c)
                .write(file);
        long headerLength = ByteBuffer.wrap(Files.readAllBytes(file), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertThat(headerLength % 8).isZero();
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile f = SafetensorsFile.open(file, arena);
            assertThat(f.metadata()).containsEntry("format", "pt");
            assertThat(f.tensorInfos().keySet()).containsExactly("a", "b", "c");
            Tensor ta = f.tensor("a"), tb = f.tensor("b"), tc = f.tensor("c");
            assertThat(ta.shape()).containsExactly(6, 10);
            for (int i = 0; i < a.length; i++) assertThat(ta.get(i)).isEqualTo(a[i]);
            assertThat(tb).isInstanceOf(F16Tensor.class);
            for (int i = 0; i < b.length; i++) assertThat(tb.get(i)).isEqualTo(Float.float16ToFloat(Float.floatToFloat16(b[i])));
            assertThat(tc).isInstanceOf(BF16Tensor.class);
            assertThat(tc.shape()).containsExactly(2, 3, 4);
            for (int i = 0; i < c.length; i++) assertThat(tc.get(i)).isCloseTo(c[i], within(Math.abs(c[i]) / 256));
            assertThat(ta.data().isReadOnly()).isTrue(); // a slice of the read-only mapping, not a copy
        }
    }

    @Test
    void bf16ConversionRoundsToNearestEven() {
        assertThat(TensorEncoder.toBFloat16(1f)).isEqualTo((short) 0x3f80);
        assertThat(TensorEncoder.toBFloat16(Float.intBitsToFloat(0x3f808000))).isEqualTo((short) 0x3f80); // tie -> even
        assertThat(TensorEncoder.toBFloat16(Float.intBitsToFloat(0x3f818000))).isEqualTo((short) 0x3f82); // tie -> even
        assertThat(TensorEncoder.toBFloat16(Float.intBitsToFloat(0x3f808001))).isEqualTo((short) 0x3f81);
        assertThat(Float.isNaN(Float.intBitsToFloat(TensorEncoder.toBFloat16(Float.NaN) << 16))).isTrue();
    }

    @Test
    void shardedCheckpointFollowsItsIndex() {
        TinyModels.Weights w = TinyModels.writeHuggingFace(dir, TinyModels.Spec.llama(DType.F32), 3, 9);
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir, arena);
            assertThat(ckpt.files()).hasSize(3);
            for (var e : w.values().entrySet()) {
                Tensor t = ckpt.find(e.getKey());
                assertThat(t).as(e.getKey()).isNotNull();
                assertThat(t.get(e.getValue().length - 1)).isEqualTo(e.getValue()[e.getValue().length - 1]);
            }
            assertThat(ckpt.find("nope")).isNull();
        }
    }

    @Test
    void rejectsIndexNamingAFileOutsideTheDirectory() throws IOException {
        Files.writeString(dir.resolve("model.safetensors.index.json"),
                "{\"weight_map\": {\"x\": \"../evil.safetensors\"}}");
        Path index = dir.resolve("model.safetensors.index.json");
        assertFormatError(index, "not a file in this directory", () -> SafetensorsCheckpoint.open(dir, Arena.ofAuto()));
    }

    @Test
    void rejectsIndexPuttingATensorInTheWrongShard() throws IOException {
        new SafetensorsWriter().add("a", DType.F32, new long[]{1}, new float[]{1}).write(dir.resolve("s1.safetensors"));
        Path index = dir.resolve("model.safetensors.index.json");
        Files.writeString(index, "{\"weight_map\": {\"b\": \"s1.safetensors\"}}");
        assertFormatError(index, "tensor b in s1.safetensors, which does not hold it",
                () -> SafetensorsCheckpoint.open(dir, Arena.ofAuto()));
    }

    @Test
    void readsTensorsPastTwoGigabytesOfASparseFile() throws IOException {
        long padFloats = 600_000_000L; // 2.4 GB before the tensor we read, never touched, so the file stays sparse
        long padBytes = padFloats * 4;
        String json = "{\"pad\": {\"dtype\": \"F32\", \"shape\": [" + padFloats + "], \"data_offsets\": [0, " + padBytes
                + "]}, \"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [" + padBytes + ", " + (padBytes + 16) + "]}}";
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        Path f = dir.resolve("big.safetensors");
        try (var ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE, java.nio.file.StandardOpenOption.SPARSE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length));
            ch.write(ByteBuffer.wrap(header));
            ByteBuffer w = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putFloat(1).putFloat(-2).putFloat(3).putFloat(-4.5f).flip();
            ch.write(w, 8 + header.length + padBytes);
        }
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile file = SafetensorsFile.open(f, arena);
            assertThat(file.tensor("pad").elementCount()).isEqualTo(padFloats);
            assertThat(file.tensor("pad").data().byteSize()).isEqualTo(padBytes);
            Tensor w = file.tensor("w");
            assertThat(new float[]{w.get(0), w.get(1), w.get(2), w.get(3)}).containsExactly(1, -2, 3, -4.5f);
        }
    }

    // ---- bad files: each names the file and the problem ----

    @Test
    void rejectsTruncatedHeaderLength() throws IOException {
        Path f = dir.resolve("short.safetensors");
        Files.write(f, new byte[5]);
        assertFormatError(f, "too short for its 8-byte header length", () -> open(f));
    }

    @Test
    void rejectsHeaderLongerThanFile() throws IOException {
        Path f = write("long.safetensors", 1000, "{}");
        assertFormatError(f, "header length 1000 is larger than the rest of the file", () -> open(f));
        Path negative = write("neg.safetensors", -1, "{}");
        assertFormatError(negative, "header length 18446744073709551615", () -> open(negative));
    }

    @Test
    void rejectsNonJsonHeader() throws IOException {
        Path f = write("junk.safetensors", -2, "{\"a\": [1, 2");
        assertFormatError(f, "not valid JSON", () -> open(f));
        Path array = write("array.safetensors", -2, "[1, 2]");
        assertFormatError(array, "must be a JSON object", () -> open(array));
        Path trailing = write("trailing.safetensors", -2, "{} {}");
        assertFormatError(trailing, "not valid JSON", () -> open(trailing));
        Path duplicate = write("dup.safetensors", -2,
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]}, \"a\": {}}", 4);
        assertFormatError(duplicate, "Duplicate field 'a'", () -> open(duplicate));
    }

    @Test
    void rejectsOffsetsOutsideData() throws IOException {
        Path f = write("off.safetensors", -2, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", 16);
        assertFormatError(f, "tensor w has data_offsets [8, 24] outside the data section of 16 bytes", () -> open(f));
        Path reversed = write("rev.safetensors", -2, "{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 16);
        assertFormatError(reversed, "tensor w has data_offsets [8, 4]", () -> open(reversed));
        Path negative = write("negoff.safetensors", -2, "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 16);
        assertFormatError(negative, "tensor w: data_offsets must be an array of 2 non-negative integers", () -> open(negative));
    }

    @Test
    void rejectsUnknownDtypes() throws IOException {
        for (String dtype : new String[]{"I8", "F64", "U8", "F8_E4M3", "float32"}) {
            Path f = write(dtype + ".safetensors", -2,
                    "{\"w\": {\"dtype\": \"" + dtype + "\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 16);
            assertFormatError(f, "tensor w has dtype " + dtype + ", which specdec does not read", () -> open(f));
        }
    }

    @Test
    void rejectsShapeThatDoesNotMatchSize() throws IOException {
        Path f = write("size.safetensors", -2, "{\"w\": {\"dtype\": \"BF16\", \"shape\": [2, 3], \"data_offsets\": [0, 8]}}", 16);
        assertFormatError(f, "tensor w of BF16[2, 3] needs 12 bytes but its data_offsets span 8", () -> open(f));
        Path overflow = write("overflow.safetensors", -2,
                "{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 8]}}", 16);
        assertFormatError(overflow, "size overflows", () -> open(overflow));
        Path fractional = write("frac.safetensors", -2, "{\"w\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 16);
        assertFormatError(fractional, "shape must be an array of non-negative integers", () -> open(fractional));
        Path missing = write("noshape.safetensors", -2, "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 16);
        assertFormatError(missing, "tensor w: shape must be an array", () -> open(missing));
    }

    private static SafetensorsFile open(Path f) {
        return SafetensorsFile.open(f, Arena.ofAuto());
    }

    /** A file with {@code json} as header; {@code declaredLength} -2 means the true length. */
    private Path write(String name, long declaredLength, String json) throws IOException {
        return write(name, declaredLength, json, 0);
    }

    private Path write(String name, long declaredLength, String json, int dataBytes) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(declaredLength == -2 ? h.length : declaredLength).put(h);
        Path f = dir.resolve(name);
        Files.write(f, Arrays.copyOf(b.array(), b.capacity()));
        return f;
    }
}
