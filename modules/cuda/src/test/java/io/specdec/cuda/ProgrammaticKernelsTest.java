package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A kernel launched as a programmatic dependent may start before the kernel before it ends; unless it calls
 * pdl_wait() first, it reads half-written activations. This reads the kernel sources (no GPU needed) and checks that
 * every kernel CudaDevice launches that way has the wait in its body.
 */
class ProgrammaticKernelsTest {
    @Test
    void everyProgrammaticKernelWaitsForTheKernelBeforeIt() throws IOException {
        String src = KernelSources.all();
        assertThat(CudaDevice.PROGRAMMATIC_KERNELS).isNotEmpty();
        for (String kernel : CudaDevice.PROGRAMMATIC_KERNELS) {
            assertThat(KernelSources.body(src, kernel)).as("body of %s", kernel).contains("pdl_wait()");
        }
    }

    @Test
    void aKernelWithoutTheWaitIsFoundOut() throws IOException {
        // the check above would pass vacuously if body() found nothing to look at
        assertThat(KernelSources.body(KernelSources.all(), "embed_gather")).contains("tokens").doesNotContain("pdl_wait()");
    }
}
