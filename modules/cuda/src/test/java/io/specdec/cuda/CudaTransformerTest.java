package io.specdec.cuda;

import io.specdec.cuda.check.GpuCheck;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;

import static org.assertj.core.api.Assertions.assertThat;

/** The CUDA forward against the CPU backend on random bf16 models (every config switch, prefill/decode/tree/fork). */
@Tag("gpu")
class CudaTransformerTest {

    @Test
    void cudaForwardMatchesCpuBackendOnEveryConfigVariant() throws Exception {
        GpuAvailable.require("cudaForwardMatchesCpuBackendOnEveryConfigVariant");
        String out = capture("cpu");
        assertThat(out).contains("\"check\":\"cuda-vs-cpu\"").doesNotContain("\"pass\":false");
    }

    @Test
    void speculativeGreedyEqualsTargetGreedyOnTheGpu() throws Exception {
        GpuAvailable.require("speculativeGreedyEqualsTargetGreedyOnTheGpu");
        assertThat(capture("spec")).contains("spec-greedy-equals-target").doesNotContain("\"pass\":false");
    }

    @Test
    void fusedDecodePathMatchesCpuBackendOnEveryConfigVariant() throws Exception {
        GpuAvailable.require("fusedDecodePathMatchesCpuBackendOnEveryConfigVariant");
        assertThat(capture("cpu", "fused")).contains("\"fused_decode\":true").doesNotContain("\"pass\":false");
    }

    @Test
    void speculativeGreedyEqualsTargetGreedyOnTheFusedDecodePath() throws Exception {
        GpuAvailable.require("speculativeGreedyEqualsTargetGreedyOnTheFusedDecodePath");
        assertThat(capture("spec", "fused")).contains("\"fused_decode\":true").doesNotContain("\"pass\":false");
    }

    @Test
    void fusedAcceptanceMatchesCpuReference() throws Exception {
        GpuAvailable.require("fusedAcceptanceMatchesCpuReference");
        assertThat(capture("accept")).contains("fused-residual-chi2").doesNotContain("\"pass\":false");
    }

    static String capture(String... mode) throws Exception {
        PrintStream old = System.out;
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buffer, true));
        try {
            GpuCheck.main(mode);
        } finally {
            System.setOut(old);
        }
        String s = buffer.toString();
        System.out.print(s);
        return s;
    }
}
