package io.specdec.cuda;

import org.junit.jupiter.api.Assumptions;

/** Skips a GPU test with a printed reason where there is no usable GPU (CI, developer machines). */
final class GpuAvailable {
    private GpuAvailable() {
    }

    static void require(String test) {
        String reason = CudaDevice.unavailableReason().orElse(null);
        if (reason != null) System.out.println("[skip] " + test + ": " + reason);
        Assumptions.assumeTrue(reason == null, reason);
    }
}
