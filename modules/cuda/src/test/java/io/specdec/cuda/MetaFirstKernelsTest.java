package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * With {@code metaFirst} (CudaDevice#metaFirst, the default), RoPE/append and the grouped attention run code before
 * pdl_wait while the kernel before them still writes q/k/v. That code may read only the step's metadata and constants;
 * reading an activation there is a race that no CPU test would see. This reads the kernel sources (no GPU needed) and
 * checks which arrays the pre-wait code indexes.
 */
class MetaFirstKernelsTest {
    private static final Pattern INDEXED = Pattern.compile("\\b([A-Za-z_][A-Za-z0-9_]*)\\s*\\[");

    @Test
    void ropeAppendReadsOnlyMetadataAndConstantsBeforeItsWait() throws IOException {
        String body = KernelSources.body(KernelSources.all(), "qkv_rope_append");
        int wait = body.indexOf("\n    pdl_wait();");
        assertThat(wait).as("the unconditional wait of qkv_rope_append").isPositive();
        assertThat(indexed(body.substring(0, wait))).isSubsetOf("positions", "slots", "cosJ", "sinJ");
    }

    @Test
    void groupedAttentionReadsOnlyMetadataBeforeItsWait() throws IOException {
        String src = KernelSources.all();
        String macro = KernelSources.body(src, "attention_gqa_hd128");
        String beforeWait = macro.substring(0, macro.indexOf("    pdl_wait(); \\"));
        assertThat(beforeWait).contains("gqa_row(");
        assertThat(indexed(beforeWait)).isSubsetOf("smem", "GQA_SMEM_FLOATS");   // declarations, not reads
        assertThat(indexed(KernelSources.body(src, "gqa_row"))).isSubsetOf("tokMeta", "seqMeta", "blockTables", "sm");
        assertThat(indexed(KernelSources.body(src, "row_keys"))).isSubsetOf("tokMeta", "seqMeta", "sm");
    }

    @Test
    void theRopeTwinsOfTheGroupedKernelReadOnlyMetadataAndConstantsBeforeTheirWait() throws IOException {
        String src = KernelSources.all();
        String macro = KernelSources.body(src, "attention_gqa_hd64_rope_f16");
        String beforeWait = macro.substring(0, macro.indexOf("    pdl_wait(); \\\n    const int ropes"));
        assertThat(beforeWait).contains("gqa_row(").contains("rope_rotations(");
        assertThat(indexed(beforeWait)).isSubsetOf("smem", "GQA_SMEM_FLOATS", "slots", "positions", "cosJ", "sinJ",
                "ROPE_MAX_PAIRS");
        assertThat(indexed(KernelSources.body(src, "rope_rotations"))).isSubsetOf("invFreq", "cosJ", "sinJ");
    }

    @Test
    void theForwardsFirstKernelIsANormalLaunch() {
        // what makes the metadata safe to read early: the forward starts with embed_gather launched normally, so every
        // copy or collective that filled the metadata has finished before any kernel of the forward starts
        assertThat(CudaDevice.PROGRAMMATIC_KERNELS).doesNotContain("embed_gather");
    }

    @Test
    void theCheckSeesAnActivationRead() throws IOException {
        // the checks above would pass vacuously if indexed() found nothing: after its wait the kernel reads q
        String macro = KernelSources.body(KernelSources.all(), "attention_gqa");
        assertThat(indexed(macro)).contains("q", "blockTables");
    }

    private static Set<String> indexed(String code) {
        Set<String> names = new TreeSet<>();
        Matcher m = INDEXED.matcher(code.replaceAll("//[^\\n]*", "").replaceAll("\"[^\"]*\"", ""));   // comments, asm strings
        while (m.find()) names.add(m.group(1));
        return names;
    }
}
