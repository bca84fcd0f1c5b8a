package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * With split KV ({@code -Dspecdec.cuda.kvCache=split}) each K/V element has a second bf16 part kvLo elements on; with
 * an fp16 cache ({@code kvCache=fp16}) the elements are fp16. The kernel that writes K/V must store through store_kv,
 * which handles both (a stale lo would be added to a new key silently; a bf16 store into an fp16 cache would be read
 * as garbage), and every kernel that reads K/V must take kvLo and the fp16 choice. Reads the kernel sources (no GPU
 * needed); GpuCheck splitk checks the values on a GPU.
 */
class SplitKvKernelsTest {
    private static final Pattern BARE_BF16_STORE = Pattern.compile("\\]\\s*=\\s*__float2bfloat16\\(");

    @Test
    void theKvWriterStoresBothPartsAndEveryReaderTakesThem() throws IOException {
        String src = KernelSources.all();
        // qkv_rope_append and the grouped kernels' RoPE twins write K/V through rope_store
        assertThat(KernelSources.body(src, "qkv_rope_append")).contains("rope_store(h, i, v, t, slot, qOut, kCache, vCache")
                .contains("kvLo, kvHalf");
        String writer = KernelSources.body(src, "rope_store");
        assertThat(writer).contains("store_kv(kCache").contains("store_kv(vCache").contains("kvLo").contains("kvHalf")
                .doesNotContain("store_act(kCache").doesNotContain("store_act(vCache");
        assertThat(BARE_BF16_STORE.matcher(writer).find()).as("rope_store stores a bare bf16").isFalse();
        assertThat(KernelSources.body(src, "rope_head")).doesNotContain("store_act").doesNotContain("Cache");
        assertThat(KernelSources.body(src, "store_kv")).contains("store_act(cache, i, v, kvLo)").contains("__float2half_rn");
        for (String reader : List.of("attention_paged", "attention_split")) {
            assertThat(KernelSources.body(src, reader)).as("%s reads the K/V second parts and fp16 caches", reader)
                    .contains("kvLo").contains("kvHalf");
        }
        assertThat(KernelSources.body(src, "attention_gqa")).contains("kvLo").contains("lane_dot<DPL, HALF>")
                .contains("lane_accumulate<DPL, HALF>");
        // the grouped kernels' split-KV instantiations exist for every head size the Java side names
        for (String hd : List.of("64", "128", "256")) {
            assertThat(src).contains("ATTENTION_GQA_KERNEL(attention_gqa_hd" + hd + "_kvlo,")
                    .contains("ATTENTION_GQA_KERNEL(attention_gqa_hd" + hd + "_many_kvlo,");
            assertThat(CudaDevice.PROGRAMMATIC_KERNELS).contains("attention_gqa_hd" + hd + "_kvlo", "attention_gqa_hd" + hd + "_many_kvlo");
            assertThat(src).contains("ATTENTION_GQA_KERNEL(attention_gqa_hd" + hd + "_f16,")
                    .contains("ATTENTION_GQA_KERNEL(attention_gqa_hd" + hd + "_many_f16,");
            assertThat(CudaDevice.PROGRAMMATIC_KERNELS).contains("attention_gqa_hd" + hd + "_f16", "attention_gqa_hd" + hd + "_many_f16");
        }
    }

    @Test
    void aKernelThatIgnoresTheSecondPartsIsFoundOut() throws IOException {
        // the check above would pass vacuously if body() returned the whole file
        assertThat(KernelSources.body(KernelSources.all(), "attention_split_combine")).doesNotContain("kvLo");
    }
}
