package io.specdec.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * -Dspecdec.cuda.fatbin loads another build of the kernels (bench/gpu/fatbin-rounds.sh compares builds in one run). A
 * file that cannot be read must fail loudly rather than fall back to the packaged kernels, or a comparison would
 * silently time the same build twice. No GPU needed: this reads bytes only.
 */
class FatbinOverrideTest {
    @Test
    void theNamedFileIsLoadedInsteadOfThePackagedKernels(@TempDir Path dir) throws Exception {
        Path f = Files.write(dir.resolve("variant.fatbin"), new byte[]{1, 2, 3, 4});
        String before = System.getProperty(CudaDevice.FATBIN_PROPERTY);
        try {
            System.setProperty(CudaDevice.FATBIN_PROPERTY, f.toString());
            assertThat(CudaDevice.readFatbin()).hasValueSatisfying(b -> assertThat(b).containsExactly(1, 2, 3, 4));
            System.setProperty(CudaDevice.FATBIN_PROPERTY, dir.resolve("missing.fatbin").toString());
            assertThatThrownBy(CudaDevice::readFatbin).isInstanceOf(UncheckedIOException.class)
                    .hasMessageContaining(CudaDevice.FATBIN_PROPERTY).hasMessageContaining("missing.fatbin");
        } finally {
            if (before == null) System.clearProperty(CudaDevice.FATBIN_PROPERTY);
            else System.setProperty(CudaDevice.FATBIN_PROPERTY, before);
        }
    }
}
