package io.specdec.cuda;

import io.specdec.cuda.check.MultiGpuCheck;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** Stage a of the multi-GPU check (NCCL sanity, TP=N vs TP=1) where two or more GPUs are usable. */
@Tag("gpu")
class MultiGpuTest {

    @Test
    void tensorParallelLogitsMatchOneGpu(@TempDir Path out) throws Exception {
        GpuAvailable.require("tensorParallelLogitsMatchOneGpu");
        Assumptions.assumeTrue(CudaDevice.count() >= 2, "needs two GPUs");
        // MultiGpuCheck ends its JVM (a stuck collective cannot be stopped otherwise): run it in a child JVM
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-Dorg.bytedeco.javacpp.pathsFirst=true", "--add-modules", "jdk.incubator.vector",
                "-cp", System.getProperty("java.class.path"), MultiGpuCheck.class.getName(), "--out", out.toString(),
                "--stages", "a", "--gpus", "2", "--time-limit", "300", "--configs", Path.of("../../bench/gpu").toString())
                .inheritIO().start();
        assertThat(p.waitFor()).isZero();
        String json = Files.readString(out.resolve("stage-a.json"));
        assertThat(json).contains("tp2-vs-tp1-small-untied").doesNotContain("\"FAIL\"");
    }
}
