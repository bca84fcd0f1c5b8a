package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/** Host-side parts that need no GPU. */
class DeviceWeightsTest {

    @Test
    void bf16ConversionRoundsToNearestEven() {
        assertThat(DeviceWeights.toBf16(1.0f)).isEqualTo((short) 0x3f80);
        // 1 + 2^-8 is exactly half-way between two bf16 values: ties go to the even one (1.0)
        assertThat(DeviceWeights.toBf16(1.00390625f)).isEqualTo((short) 0x3f80);
        // 1 + 3*2^-8 is half-way too: ties go up to the even 1 + 2^-6
        assertThat(DeviceWeights.toBf16(1.01171875f)).isEqualTo((short) 0x3f82);
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 10_000; i++) {
            float f = (float) r.nextGaussian();
            float back = Float.intBitsToFloat(DeviceWeights.toBf16(f) << 16);
            assertThat(Math.abs(back - f)).isLessThanOrEqualTo(Math.abs(f) / 256);
        }
    }

    @Test
    void kernelsArePackagedWhenNvccWasPresent() {
        boolean built = CudaDevice.readFatbin().isPresent();
        if (!built) System.out.println("[skip] kernelsArePackagedWhenNvccWasPresent: this build ran without nvcc");
        org.junit.jupiter.api.Assumptions.assumeTrue(built, "built without nvcc");
        assertThat(CudaDevice.readFatbin().orElseThrow().length).isGreaterThan(10_000);
    }

    @Test
    void javacppPointerCarriesTheRawDeviceAddress() {
        assertThat(Cublas.at(0x7f00_1234_5000L).address()).isEqualTo(0x7f00_1234_5000L);
    }

    @Test
    void deviceBufferSlicesStayInBounds() {
        DeviceBuffer b = new DeviceBuffer(4096, 100);
        assertThat(b.slice(10, 90)).isEqualTo(new DeviceBuffer(4106, 90));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> b.slice(50, 51)).isInstanceOf(IndexOutOfBoundsException.class);
    }
}
