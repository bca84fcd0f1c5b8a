package io.specdec.cuda;

import io.specdec.core.sampling.SamplingParams;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The device sampler's host side (no GPU), and the kernel against the CPU sampling path (GPU). */
class DeviceSamplerTest {

    @Test
    void greedyIgnoresTruncationAndSendsTemperatureZero() {
        DeviceSampler.Arguments a = DeviceSampler.arguments(SamplingParams.greedy().withTopK(5).withTopP(0.5), 1000);
        assertThat(a).isEqualTo(new DeviceSampler.Arguments(0f, 0, 1, 0));
        assertThat(a.greedy()).isTrue();
    }

    @Test
    void truncationParametersReachTheKernelAsTheCpuPathReadsThem() {
        SamplingParams p = SamplingParams.defaults().withTemperature(0.7).withTopK(50).withTopP(0.9).withMinP(0.05);
        assertThat(DeviceSampler.arguments(p, 32000)).isEqualTo(new DeviceSampler.Arguments(0.7f, 50, 0.9, 0.05));
        // the CPU keeps min(k, vocab): a k of the vocabulary or more is no truncation
        assertThat(DeviceSampler.arguments(p.withTopK(32000), 32000).topK()).isZero();
        assertThat(DeviceSampler.arguments(p.withTopK(31999), 32000).topK()).isEqualTo(31999);
    }

    @Test
    void temperatureThatUnderflowsFloatStillSamplesInsteadOfTurningGreedy() {
        DeviceSampler.Arguments a = DeviceSampler.arguments(SamplingParams.defaults().withTemperature(1e-60), 100);
        assertThat(a.greedy()).isFalse();
        assertThat(a.temperature()).isEqualTo(Float.MIN_NORMAL);
    }

    @Test
    void penaltiesStayOnTheHostPath() {
        SamplingParams p = SamplingParams.builder().repetitionPenalty(1.1).build();
        assertThat(DeviceSampler.unsupportedReason(p)).get().asString().contains("host path");
        assertThat(DeviceSampler.unsupportedReason(SamplingParams.defaults().withTopP(0.9))).isEmpty();
        assertThatThrownBy(() -> DeviceSampler.arguments(p, 1000)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("penalties");
        assertThatThrownBy(() -> DeviceSampler.arguments(SamplingParams.builder().frequencyPenalty(0.5).build(), 1000))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void vocabularyBeyondTheFixedPointHeadroomIsRefused() {
        assertThat(DeviceSampler.arguments(SamplingParams.defaults(), DeviceSampler.MAX_VOCAB).topK()).isZero();
        assertThatThrownBy(() -> DeviceSampler.arguments(SamplingParams.defaults(), DeviceSampler.MAX_VOCAB + 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("vocabulary");
        assertThatThrownBy(() -> DeviceSampler.arguments(SamplingParams.defaults(), 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void everyRowNeedsAUniformInTheHalfOpenUnitInterval() {
        DeviceSampler.checkUniforms(new double[]{0, 0.5, Math.nextDown(1.0)}, 3, false);
        DeviceSampler.checkUniforms(null, 3, true);
        assertThatThrownBy(() -> DeviceSampler.checkUniforms(null, 1, false)).hasMessageContaining("one uniform per row");
        assertThatThrownBy(() -> DeviceSampler.checkUniforms(new double[]{0.1}, 2, false)).hasMessageContaining("2 rows, 1 uniforms");
        assertThatThrownBy(() -> DeviceSampler.checkUniforms(new double[]{0.1, 1.0}, 2, false)).hasMessageContaining("uniform 1 is 1.0");
        assertThatThrownBy(() -> DeviceSampler.checkUniforms(new double[]{Double.NaN}, 1, false)).hasMessageContaining("NaN");
        assertThatThrownBy(() -> DeviceSampler.checkUniforms(new double[]{-0.25}, 1, false)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    @Tag("gpu")
    void kernelDrawsTheCpuPathsTokensWithTheSameUniforms() throws Exception {
        GpuAvailable.require("kernelDrawsTheCpuPathsTokensWithTheSameUniforms");
        String out = CudaTransformerTest.capture("sample");
        assertThat(out).contains("\"check\":\"device-sampling-vs-cpu\"").contains("device-sampling-chi2")
                .doesNotContain("\"pass\":false");
    }
}
