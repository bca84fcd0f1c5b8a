package io.specdec.cuda;

import io.specdec.core.format.hf.HuggingFaceModel;
import io.specdec.core.model.ModelConfig;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The host side of the persistent decode kernel against its source (no GPU needed; GpuCheck persistent compares its
 * output with the graph path's on a GPU): the layer table's order is struct PdLayer's, the kernel names the host asks
 * for are instantiated, the block size and blocks per SM agree, and which models it takes.
 */
class PersistentDecodeTest {
    private static final Path ONE_B = Path.of("../../bench/gpu/llama-3.2-1b");
    private static final Path EIGHT_B = Path.of("../../bench/gpu/llama-3-8b");

    @Test
    void theLayerTableFollowsTheStructsFieldOrder() throws IOException {
        String struct = KernelSources.all().split("struct PdLayer \\{", 2)[1].split("};", 2)[0];
        Matcher field = Pattern.compile("\\*\\s*(\\w+);").matcher(struct);
        List<String> fields = new java.util.ArrayList<>();
        while (field.find()) fields.add(field.group(1));
        assertThat(fields).containsExactly("attnNorm", "wqkv", "wo", "ffnNorm", "wGateUp", "wDown", "keys", "values",
                "bqkv", "qNorm", "kNorm");
        assertThat(fields).hasSize(PersistentDecode.LAYER_POINTERS);
        // layer 1's q/k/v weights at 0x1_0000_0200: index 11 + 1 of the pointers, low word first; absent norms are 0
        DeviceBuffer[] keys = {buffer(0x100), buffer(0x200)}, values = {buffer(0x300), buffer(0x400)};
        List<DeviceWeights.Layer> layers = List.of(layer(0x1000), layer(0x1_0000_0000L));
        int[] words = PersistentDecode.layerTable(layers, keys, values);
        assertThat(words).hasSize(2 * 2 * PersistentDecode.LAYER_POINTERS);
        int at = 2 * (PersistentDecode.LAYER_POINTERS + 1);
        assertThat(words[at]).isEqualTo(0x200);
        assertThat(words[at + 1]).isEqualTo(1);
        assertThat(words[2 * (PersistentDecode.LAYER_POINTERS + 7)]).isEqualTo(0x400);          // values of layer 1
        assertThat(Arrays.copyOfRange(words, 2 * 9, 2 * 11)).containsOnly(0);               // layer 0: no q/k norms
    }

    @Test
    void theKernelsTheHostNamesExistWithItsBlockShape() throws IOException {
        String src = KernelSources.all();
        for (int hd : new int[]{64, 128}) {
            for (KvCacheFormat f : List.of(KvCacheFormat.BF16, KvCacheFormat.FP16)) {
                assertThat(src).contains("DECODE_PERSISTENT_KERNEL(" + PersistentDecode.kernelName(hd, f) + ", " + hd / 32 + ", ");
            }
        }
        Matcher release = Pattern.compile("#define PD_RELEASE_WORD (\\d+)").matcher(src);
        assertThat(release.find()).isTrue();
        // the release word sits on a cache line of its own, inside the words the host allocates
        assertThat(Integer.parseInt(release.group(1))).isGreaterThanOrEqualTo(32).isLessThan(PersistentDecode.BARRIER_WORDS);
        assertThat(src).contains("#define PD_WARPS " + PersistentDecode.THREADS / 32)
                .contains("__launch_bounds__(PD_THREADS, " + PersistentDecode.BLOCKS_PER_SM + ")");
        // launched normally and never a programmatic dependent: its blocks must all be resident, and no dependent may
        // take an SM while it runs
        assertThat(CudaDevice.PROGRAMMATIC_KERNELS).noneMatch(k -> k.startsWith("decode_persistent"));
        assertThat(KernelSources.body(src, "decode_persistent")).doesNotContain("pdl_trigger");
    }

    @Test
    void itTakesTheLlamaShapesWithEightWarpTilesAndNamesWhatOthersLack() {
        ModelConfig oneB = HuggingFaceModel.config(ONE_B), eightB = HuggingFaceModel.config(EIGHT_B);
        SkinnyGemmPlan eight = new SkinnyGemmPlan(132, 8), sixteen = new SkinnyGemmPlan(132, 16);
        assertThat(PersistentDecode.unsupported(oneB, KvCacheFormat.FP16, true, true, true, eight)).isEmpty();
        assertThat(PersistentDecode.unsupported(eightB, KvCacheFormat.BF16, true, true, true, eight)).isEmpty();
        // the 1B shape's o and down projections (128 tiles on 132 SMs) take 16 warps by default: not in 8-warp blocks
        assertThat(PersistentDecode.unsupported(oneB, KvCacheFormat.FP16, true, true, true, sixteen)).get().asString()
                .contains("16 warps per tile of a 2048-row matrix");
        assertThat(PersistentDecode.unsupported(oneB, KvCacheFormat.SPLIT, false, false, true, eight)).get().asString()
                .contains("split KV cache").contains("no grouped split-K attention").contains("SwiGLU epilogue off");
    }

    private static DeviceBuffer buffer(long address) {
        return new DeviceBuffer(address, 16);
    }

    private static DeviceWeights.Layer layer(long base) {
        return new DeviceWeights.Layer(buffer(base), buffer(base + 0x200), null, null, null, buffer(base + 0x300),
                buffer(base + 0x400), buffer(base + 0x500), buffer(base + 0x600));
    }
}
