package io.specdec.cuda;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SplitActivationsTest {
    @AfterEach
    void clear() {
        System.clearProperty(SplitActivations.PROPERTY);
    }

    @Test
    void prefillUnlessAskedOtherwiseAndTheOlderTrueMeansDecode() {
        assertThat(SplitActivations.fromSystemProperties()).isEqualTo(SplitActivations.PREFILL);
        System.setProperty(SplitActivations.PROPERTY, "true");
        assertThat(SplitActivations.fromSystemProperties()).isEqualTo(SplitActivations.DECODE);
        System.setProperty(SplitActivations.PROPERTY, "ALL");
        assertThat(SplitActivations.fromSystemProperties()).isEqualTo(SplitActivations.ALL);
        System.setProperty(SplitActivations.PROPERTY, "false");
        assertThat(SplitActivations.fromSystemProperties().any()).isFalse();
    }

    @Test
    void anUnknownModeIsRefusedByName() {
        assertThatThrownBy(() -> SplitActivations.parse("yes")).hasMessageContaining("got yes");
    }

    @Test
    void prefillSplitsTheCublasPassesOfPromptChunksButNotOfBatchedDecodeSteps() {
        int decodeSized = CudaTransformer.SAME_KERNEL_AS_DECODE_MAX_TOKENS;
        assertThat(SplitActivations.PREFILL.cublasPasses(decodeSized + 1)).isTrue();
        assertThat(SplitActivations.PREFILL.cublasPasses(1)).as("64 sequences of one token").isFalse();
        assertThat(SplitActivations.PREFILL.cublasPasses(decodeSized)).isFalse();
        assertThat(SplitActivations.ALL.cublasPasses(1)).isTrue();
        assertThat(SplitActivations.DECODE.cublasPasses(2048)).isFalse();
        assertThat(SplitActivations.OFF.cublasPasses(2048)).isFalse();
    }
}
