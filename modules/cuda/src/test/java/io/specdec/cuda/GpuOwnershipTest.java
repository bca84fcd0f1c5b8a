package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The audit's bookkeeping, without a GPU: address ranges stand in for allocations of two GPUs. */
class GpuOwnershipTest {
    private final GpuOwnership owners = new GpuOwnership();

    @Test
    void buffersAndTheirSlicesPassOnTheirOwnGpu() {
        owners.allocated(0x1000, 0x100, 0);
        owners.allocated(0x2000, 0x100, 1);
        DeviceBuffer a = new DeviceBuffer(0x1000, 0x100), b = new DeviceBuffer(0x2000, 0x100);

        assertThatCode(() -> {
            owners.require(0, a, "x");
            owners.require(0, a.slice(0x80, 0x80), "x");
            owners.require(1, b.slice(0x10, 0x20), "x");
            owners.require(1, null, "absent");
        }).doesNotThrowAnyException();
        assertThat(owners.ownerOf(a)).isZero();
        assertThat(owners.ownerOf(b.slice(0xff, 1))).isEqualTo(1);
        assertThat(owners.checked()).isEqualTo(3);
    }

    @Test
    void anotherGpusBufferIsRefusedWithBothGpusNamed() {
        owners.allocated(0x1000, 0x100, 0);
        owners.allocated(0x2000, 0x100, 1);

        assertThatThrownBy(() -> owners.requireArguments(0, "argmax_rows", 7, null, new DeviceBuffer(0x1000, 0x10),
                3.5f, new DeviceBuffer(0x2040, 0x40)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("kernel argmax_rows argument 4 on GPU 0")
                .hasMessageContaining("belongs to GPU 1");
    }

    @Test
    void freedMemoryAndOverrunsBelongToNoGpu() {
        owners.allocated(0x1000, 0x100, 0);
        owners.allocated(0x1100, 0x100, 0);
        owners.freed(0x1100);

        assertThatThrownBy(() -> owners.require(0, new DeviceBuffer(0x1100, 0x10), "copy"))
                .hasMessageContaining("in no live allocation");
        assertThatThrownBy(() -> owners.require(0, new DeviceBuffer(0x10f0, 0x20), "copy"))
                .hasMessageContaining("in no live allocation");
        assertThatThrownBy(() -> owners.require(0, new DeviceBuffer(0x500, 0x10), "copy"))
                .hasMessageContaining("in no live allocation");
    }

    @Test
    void anEmptySliceAtTheEndIsItsAllocationsEvenWhereTheNextBegins() {
        owners.allocated(0x1000, 0x100, 0);
        owners.allocated(0x1100, 0x100, 1);
        DeviceBuffer end = new DeviceBuffer(0x1000, 0x100).slice(0x100, 0);

        assertThatCode(() -> owners.require(0, end, "x")).doesNotThrowAnyException();
        assertThatCode(() -> owners.require(1, end, "x")).doesNotThrowAnyException();
        assertThatThrownBy(() -> owners.require(2, end, "x")).hasMessageContaining("belongs to GPU 1");
    }
}
