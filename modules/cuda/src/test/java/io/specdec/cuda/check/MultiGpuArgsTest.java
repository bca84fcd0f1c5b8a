package io.specdec.cuda.check;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MultiGpuArgsTest {

    @Test
    void defaultsRunStagesAToDOnEveryVisibleGpu() {
        MultiGpuArgs a = MultiGpuArgs.parse(new String[]{"--out", "r"}, 2);
        assertThat(a.out()).isEqualTo(Path.of("r"));
        assertThat(a.stages()).containsExactly("a", "b", "c", "d");
        assertThat(a.gpus()).isEqualTo(2);
        assertThat(a.timeLimitSeconds()).isEqualTo(240);
        assertThat(a.gammas()).containsExactly(3, 4, 5, 6, 7, 8);
        assertThat(a.alphas()).containsExactly(0.6, 0.8, 0.9);
        assertThat(a.sizes()).containsExactly(2);
        assertThat(a.graphs()).containsExactly(true, false);
    }

    @Test
    void fourGpusAddLayerParallelSizeFour() {
        assertThat(MultiGpuArgs.parse(new String[]{"--out", "r"}, 4).sizes()).containsExactly(2, 4);
        assertThat(MultiGpuArgs.parse(new String[]{"--out", "r", "--gpus", "2"}, 4).sizes()).containsExactly(2);
        assertThat(MultiGpuArgs.parse(new String[]{"--out", "r"}, 1).sizes()).isEmpty();
    }

    @Test
    void stagesAreDeduplicatedAndKeptInRunOrder() {
        MultiGpuArgs a = MultiGpuArgs.parse(new String[]{"--out", "r", "--stages", "d,A,d,b"}, 2);
        assertThat(a.stages()).containsExactly("a", "b", "d");
        assertThat(MultiGpuArgs.parse(new String[]{"--out", "r", "--stages", "all"}, 2).stages()).isEqualTo(List.of("a", "b", "c", "d", "e", "f"));
        assertThat(a.runs("b")).isTrue();
        assertThat(a.runs("c")).isFalse();
    }

    @Test
    void readsEveryFlag() {
        MultiGpuArgs a = MultiGpuArgs.parse(new String[]{"--out", "o", "--gpus", "4", "--time-limit", "60", "--configs", "cfg",
                "--prompt", "16", "--new-tokens", "32", "--gammas", "4,6", "--alphas", "0.7", "--sizes", "4", "--edge", "2",
                "--graphs", "off"}, 8);
        assertThat(a.gpus()).isEqualTo(4);
        assertThat(a.timeLimitSeconds()).isEqualTo(60);
        assertThat(a.configs()).isEqualTo(Path.of("cfg"));
        assertThat(a.prompt()).isEqualTo(16);
        assertThat(a.newTokens()).isEqualTo(32);
        assertThat(a.gammas()).containsExactly(4, 6);
        assertThat(a.alphas()).containsExactly(0.7);
        assertThat(a.sizes()).containsExactly(4);
        assertThat(a.edge()).isEqualTo(2);
        assertThat(a.graphs()).containsExactly(false);
    }

    @Test
    void refusesWhatCannotRun() {
        assertThatThrownBy(() -> MultiGpuArgs.parse(new String[]{}, 2)).hasMessageContaining("--out");
        assertThatThrownBy(() -> MultiGpuArgs.parse(new String[]{"--out", "r", "--stages", "x"}, 2)).hasMessageContaining("unknown stage 'x'");
        assertThatThrownBy(() -> MultiGpuArgs.parse(new String[]{"--out", "r", "--gpus", "3"}, 2)).hasMessageContaining("driver sees 2");
        assertThat(MultiGpuArgs.parse(new String[]{"--out", "r", "--gpus", "3"}, 1, true).gpus()).isEqualTo(3);   // ranks share the GPU
        assertThatThrownBy(() -> MultiGpuArgs.parse(new String[]{"--out", "r", "--sizes", "4"}, 2)).hasMessageContaining("size 4");
        assertThatThrownBy(() -> MultiGpuArgs.parse(new String[]{"--out", "r", "--alphas", "1.0"}, 2)).hasMessageContaining("α");
        assertThatThrownBy(() -> MultiGpuArgs.parse(new String[]{"--out", "r", "--graphs", "maybe"}, 2)).hasMessageContaining("on, off or both");
        assertThatThrownBy(() -> MultiGpuArgs.parse(new String[]{"--out", "r", "--bogus", "1"}, 2)).hasMessageContaining("unknown flag --bogus");
        assertThatThrownBy(() -> MultiGpuArgs.parse(new String[]{"--out"}, 2)).hasMessageContaining("needs a value");
        assertThatThrownBy(() -> MultiGpuArgs.parse(new String[]{"--out", "r", "--prompt", "0"}, 2)).hasMessageContaining("positive");
    }
}
