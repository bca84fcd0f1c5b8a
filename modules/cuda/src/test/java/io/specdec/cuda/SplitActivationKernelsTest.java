package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Map;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * With split activations (CudaTransformer, on by default) a matmul reads its input's second part, lo, next to the
 * input. A kernel that writes a matmul input but only its bf16 part would leave last step's lo there, and the matmul
 * would silently add it. This reads the kernel sources (no GPU needed): every writer of a matmul input stores both
 * parts, and none stores a bare bf16.
 */
class SplitActivationKernelsTest {
    /** Writers of matmul inputs (norm outputs, attention outputs, SwiGLU) and what shows they write lo too. */
    private static final Map<String, String> WRITERS = Map.of(
            "rmsnorm_bf16", "store_act(",
            "rmsnorm_vec_store", "if (lo)",
            "swiglu_bf16", "store_act(",
            "attention_paged", "store_act(",
            "attention_split_combine", "store_act(",
            "attention_gqa", "store_act(");

    private static final Pattern BARE_BF16_STORE = Pattern.compile("\\]\\s*=\\s*__float2bfloat16\\(");

    @Test
    void everyWriterOfAMatmulInputStoresBothParts() throws IOException {
        String src = KernelSources.all();
        WRITERS.forEach((kernel, marker) -> {
            String body = KernelSources.body(src, kernel);
            assertThat(body).as("%s writes the second part", kernel).contains(marker);
            assertThat(BARE_BF16_STORE.matcher(body).find()).as("%s stores a bare bf16", kernel).isFalse();
        });
    }

    @Test
    void aBareBf16StoreIsFoundOut() throws IOException {
        // the check above would pass vacuously if the pattern matched nothing the kernels write
        assertThat(BARE_BF16_STORE.matcher(KernelSources.body(KernelSources.all(), "f32_to_bf16")).find()).isTrue();
    }
}
