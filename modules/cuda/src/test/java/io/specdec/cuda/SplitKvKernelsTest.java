package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * With split KV ({@code -Dspecdec.cuda.splitKv=true}) each K/V element has a second bf16 part kvLo elements on. The
 * kernel that writes K/V must store both parts (a stale lo would be added to a new key silently), and every kernel that
 * reads K/V must take kvLo. Reads the kernel sources (no GPU needed); GpuCheck splitk checks the values on a GPU.
 */
class SplitKvKernelsTest {
    private static final Pattern BARE_BF16_STORE = Pattern.compile("\\]\\s*=\\s*__float2bfloat16\\(");

    @Test
    void theKvWriterStoresBothPartsAndEveryReaderTakesThem() throws IOException {
        String src = KernelSources.all();
        String writer = KernelSources.body(src, "qkv_rope_append");
        assertThat(writer).contains("store_act(kCache").contains("store_act(vCache").contains("kvLo");
        assertThat(BARE_BF16_STORE.matcher(writer).find()).as("qkv_rope_append stores a bare bf16").isFalse();
        for (String reader : List.of("attention_paged", "attention_split", "attention_gqa")) {
            assertThat(KernelSources.body(src, reader)).as("%s reads the K/V second parts", reader).contains("kvLo");
        }
        // the grouped kernels' split-KV instantiations exist for every head size the Java side names
        for (String hd : List.of("64", "128", "256")) {
            assertThat(src).contains("ATTENTION_GQA_KERNEL(attention_gqa_hd" + hd + "_kvlo,")
                    .contains("ATTENTION_GQA_KERNEL(attention_gqa_hd" + hd + "_many_kvlo,");
            assertThat(CudaDevice.PROGRAMMATIC_KERNELS).contains("attention_gqa_hd" + hd + "_kvlo", "attention_gqa_hd" + hd + "_many_kvlo");
        }
    }

    @Test
    void aKernelThatIgnoresTheSecondPartsIsFoundOut() throws IOException {
        // the check above would pass vacuously if body() returned the whole file
        assertThat(KernelSources.body(KernelSources.all(), "attention_split_combine")).doesNotContain("kvLo");
    }
}
