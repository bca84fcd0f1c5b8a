package io.specdec.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * A range of device memory as a raw address: the one currency between JCuda (driver API: launches, copies) and
 * JavaCPP's cuBLAS, which both take device pointers as plain 64-bit addresses. Owned by the {@link CudaDevice}
 * that allocated it; slices share the owner's lifetime.
 */
public record DeviceBuffer(long address, long bytes) {

    public DeviceBuffer slice(long offset, long length) {
        if (offset < 0 || length < 0 || offset + length > bytes) {
            throw new IndexOutOfBoundsException("slice [" + offset + ", " + (offset + length) + ") of a " + bytes + "-byte buffer");
        }
        return new DeviceBuffer(address + offset, length);
    }

    /** The address as JCuda's pointer type (a zero base plus a byte offset, which JCuda adds up natively). */
    public CUdeviceptr pointer() {
        return new CUdeviceptr().withByteOffset(address);
    }
}
