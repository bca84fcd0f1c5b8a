package io.specdec.cuda;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class KvCacheFormatTest {
    @AfterEach
    void clear() {
        System.clearProperty(KvCacheFormat.PROPERTY);
        System.clearProperty(KvCacheFormat.SPLIT_KV_PROPERTY);
    }

    @Test
    void fp16UnlessAskedOtherwise() {
        assertThat(KvCacheFormat.fromSystemProperties()).isEqualTo(KvCacheFormat.FP16);
        System.setProperty(KvCacheFormat.PROPERTY, "BF16");
        assertThat(KvCacheFormat.fromSystemProperties()).isEqualTo(KvCacheFormat.BF16);
    }

    @Test
    void theOlderSplitSwitchStillSelectsSplitAndCannotContradictTheNewOne() {
        System.setProperty(KvCacheFormat.SPLIT_KV_PROPERTY, "true");
        assertThat(KvCacheFormat.fromSystemProperties()).isEqualTo(KvCacheFormat.SPLIT);
        System.setProperty(KvCacheFormat.PROPERTY, "split");
        assertThat(KvCacheFormat.fromSystemProperties()).isEqualTo(KvCacheFormat.SPLIT);
        System.setProperty(KvCacheFormat.PROPERTY, "fp16");
        assertThatThrownBy(KvCacheFormat::fromSystemProperties).hasMessageContaining("contradicts");
    }

    @Test
    void anUnknownFormatIsRefusedByName() {
        assertThatThrownBy(() -> KvCacheFormat.parse("fp8")).hasMessageContaining("fp16, bf16 or split, got fp8");
    }

    @Test
    void onlySplitTakesTwoPartsAndOnlyFp16IsHalf() {
        assertThat(KvCacheFormat.SPLIT.parts()).isEqualTo(2);
        assertThat(KvCacheFormat.FP16.parts()).isEqualTo(1);
        assertThat(KvCacheFormat.BF16.parts()).isEqualTo(1);
        assertThat(KvCacheFormat.FP16.half()).isTrue();
        assertThat(KvCacheFormat.BF16.half()).isFalse();
        assertThat(KvCacheFormat.SPLIT.half()).isFalse();
    }
}
