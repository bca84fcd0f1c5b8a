package io.specdec.core.format;

import io.specdec.core.model.ModelFormatException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * Read-only memory mapping of a model file (zero-copy; long offsets, so files over 2 GiB work). On Linux the
 * mapping is advised MADV_HUGEPAGE: decode streams every weight once per token, and with 4 KiB pages the hardware
 * prefetcher stops at each page boundary — measured here, a streaming dot product over a mapped 440 MB file ran at
 * 6-7 GB/s without the advice and 11-12 GB/s with it (anonymous memory: 11-12 GB/s). {@code -Dspecdec.noHugePages=true}
 * turns the advice off.
 */
public final class MappedFile {
    private static final int MADV_HUGEPAGE = 14;
    private static final Optional<MethodHandle> MADVISE = lookupMadvise();

    private MappedFile() {
    }

    /** Maps the whole file into {@code arena}; {@code what} names the format in error messages. */
    public static MemorySegment map(Path path, Arena arena, String what) {
        MemorySegment file;
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            file = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
        } catch (IOException e) {
            throw new ModelFormatException(path, "cannot read " + what + ": " + e.getMessage(), e);
        }
        advise(file);
        return file;
    }

    private static void advise(MemorySegment file) {
        if (MADVISE.isEmpty() || file.byteSize() < (2 << 20) || Boolean.getBoolean("specdec.noHugePages")) return;
        try {
            int ignored = (int) MADVISE.get().invokeExact(file, file.byteSize(), MADV_HUGEPAGE);
        } catch (Throwable e) {
            // advice only: a kernel without file THP just keeps 4 KiB pages
        }
    }

    private static Optional<MethodHandle> lookupMadvise() {
        if (!System.getProperty("os.name", "").toLowerCase().contains("linux")) return Optional.empty();
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("madvise").map(address -> linker.downcallHandle(address,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT)));
        } catch (RuntimeException | LinkageError e) {
            return Optional.empty(); // no native access granted: run without the advice
        }
    }
}
