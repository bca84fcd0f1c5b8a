package io.specdec.core.sampling;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SamplingParamsTest {

    @Test
    void defaultsTurnEveryTransformOff() {
        SamplingParams p = SamplingParams.defaults();
        assertThat(p.temperature()).isEqualTo(1.0);
        assertThat(p.topK()).isZero();
        assertThat(p.topP()).isEqualTo(1.0);
        assertThat(p.minP()).isZero();
        assertThat(p.hasPenalties()).isFalse();
        assertThat(p.seed()).isNull();
        assertThat(p.maxTokens()).isEqualTo(SamplingParams.DEFAULT_MAX_TOKENS);
        assertThat(p.stopStrings()).isEmpty();
        assertThat(p.stopTokenIds()).isEmpty();
        assertThat(p.ignoreEos()).isFalse();
        assertThat(SamplingParams.greedy().isGreedy()).isTrue();
    }

    @Test
    void builderAndWithersSetFields() {
        SamplingParams p = SamplingParams.builder().temperature(0.7).topK(40).topP(0.9).minP(0.05)
                .repetitionPenalty(1.1).presencePenalty(0.5).frequencyPenalty(0.25).seed(7L).maxTokens(10)
                .stopStrings(List.of("\n\n")).stopTokenIds(Set.of(2)).ignoreEos(true).build();
        assertThat(p.temperature()).isEqualTo(0.7);
        assertThat(p.topK()).isEqualTo(40);
        assertThat(p.hasPenalties()).isTrue();
        assertThat(p.withSeed(8L).seed()).isEqualTo(8L);
        assertThat(p.withSeed(8L).topK()).isEqualTo(40);
        assertThat(p.withMaxTokens(3).maxTokens()).isEqualTo(3);
        assertThat(p.toBuilder().build()).isEqualTo(p);
    }

    @Test
    void rejectsInvalidValuesWithTheFieldName() {
        assertThatThrownBy(() -> SamplingParams.defaults().withTemperature(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("temperature");
        assertThatThrownBy(() -> SamplingParams.defaults().withTopK(-2)).hasMessageContaining("topK");
        assertThatThrownBy(() -> SamplingParams.defaults().withTopP(0)).hasMessageContaining("topP");
        assertThatThrownBy(() -> SamplingParams.defaults().withTopP(1.5)).hasMessageContaining("topP");
        assertThatThrownBy(() -> SamplingParams.defaults().withMinP(1)).hasMessageContaining("minP");
        assertThatThrownBy(() -> SamplingParams.builder().repetitionPenalty(0).build()).hasMessageContaining("repetitionPenalty");
        assertThatThrownBy(() -> SamplingParams.builder().presencePenalty(3).build()).hasMessageContaining("presencePenalty");
        assertThatThrownBy(() -> SamplingParams.builder().frequencyPenalty(Double.NaN).build()).hasMessageContaining("frequencyPenalty");
        assertThatThrownBy(() -> SamplingParams.defaults().withMaxTokens(0)).hasMessageContaining("maxTokens");
        assertThatThrownBy(() -> SamplingParams.defaults().withStopStrings(List.of(""))).hasMessageContaining("stop strings");
        assertThatThrownBy(() -> SamplingParams.defaults().withStopTokenIds(Set.of(-1))).hasMessageContaining("stop token ids");
    }

    @Test
    void temperatureOnlyMeansSamplingWithNothingButATemperature() {
        SamplingParams t = SamplingParams.defaults().withTemperature(0.8);
        assertThat(t.isTemperatureOnly()).isTrue();
        assertThat(SamplingParams.greedy().isTemperatureOnly()).isFalse();
        assertThat(t.withTopK(40).isTemperatureOnly()).isFalse();
        assertThat(t.withTopP(0.9).isTemperatureOnly()).isFalse();
        assertThat(t.withMinP(0.05).isTemperatureOnly()).isFalse();
        assertThat(t.toBuilder().repetitionPenalty(1.1).build().isTemperatureOnly()).isFalse();
    }
}
