package io.specdec.cuda;

import jcuda.driver.CUdeviceptr;

/** A JCuda device pointer that can tell its raw address (JCuda keeps it protected). */
final class DevicePointer extends CUdeviceptr {
    long address() {
        return getNativePointer() + getByteOffset();
    }
}
