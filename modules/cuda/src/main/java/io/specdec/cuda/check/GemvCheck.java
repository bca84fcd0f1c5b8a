package io.specdec.cuda.check;

import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.DeviceBuffer;

import java.util.Arrays;
import java.util.Locale;

/**
 * Decode GEMV microbenchmark (issue #4: decode at the HBM floor): the skinny kernel in use and the split-warp
 * variants on the matrix shapes of Llama-3.2-1B, Llama-3-8B and a 70B tensor-parallel shard, batch 1, each as GB/s
 * of weights read and as a fraction of the device's copy bandwidth; variants must give the baseline's result.
 * Prints one JSON line per (shape, kernel).
 */
final class GemvCheck {
    private GemvCheck() {
    }

    private static final int[][] SHAPES = {
            {3072, 2048}, {2048, 2048}, {16384, 2048}, {2048, 8192},          // 1B: qkv, o, gate|up, down
            {6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336},         // 8B
            {5120, 8192}, {8192, 4096}, {28672, 8192}, {8192, 14336},         // 70B, TP=2 shard
            {128256, 4096}};                                                  // 8B output layer

    static void run(CudaDevice device) {
        double copy = GpuCheck.copyBandwidth(device);
        System.out.printf(Locale.ROOT, "{\"check\":\"gemv-copy-bandwidth\",\"d2d_GBps\":%.0f,\"pass\":true}%n", copy / 1e9);
        for (int[] shape : SHAPES) {
            int n = shape[0], k = shape[1];
            long bytes = 2L * n * k;
            DeviceBuffer w = device.allocate(bytes), x = device.allocate(2L * k), y = device.allocate(4L * n),
                    yRef = device.allocate(4L * n);
            try {
                device.launch("fill_normal_bf16", 4096, 1, 256, w, (long) n * k, 7L, 0.02f);
                device.launch("fill_normal_bf16", 64, 1, 256, x, (long) k, 9L, 1.0f);
                device.launch("gemv_bf16", (n + 7) / 8, 1, 256, w, x, yRef, n, k, 1, 0, 0L);
                float[] ref = new float[n];
                device.synchronize();
                device.copyToHost(ref, yRef, n);
                double base = time(device, () -> device.launch("gemv_bf16", (n + 7) / 8, 1, 256, w, x, y, n, k, 1, 0, 0L));
                report(n, k, "gemv_bf16", 1, 256, bytes, base, copy, 0);
                for (String kernel : new String[] {"gemv_bf16_split4", "gemv_bf16_split8"}) {
                    for (int s : new int[] {1, 2, 4}) {
                        for (int block : new int[] {128, 256}) {
                            int warps = block / 32;
                            if (warps % s != 0) continue;
                            int rows = warps / s;
                            int grid = (n + rows - 1) / rows;
                            Runnable launch = () -> device.launchShared(kernel, grid, 1, block, 4 * warps, w, x, y, n, k, 1, 0, s);
                            launch.run();
                            device.synchronize();
                            float[] got = new float[n];
                            device.copyToHost(got, y, n);
                            double err = 0, norm = 0;
                            for (int i = 0; i < n; i++) {
                                err = Math.max(err, Math.abs(got[i] - ref[i]));
                                norm = Math.max(norm, Math.abs(ref[i]));
                            }
                            report(n, k, kernel, s, block, bytes, time(device, launch), copy, err / norm);
                        }
                    }
                }
            } finally {
                device.free(w);
                device.free(x);
                device.free(y);
                device.free(yRef);
            }
        }
    }

    private static double time(CudaDevice device, Runnable launch) {
        for (int i = 0; i < 5; i++) launch.run();
        double[] ms = new double[15];
        for (int r = 0; r < ms.length; r++) {
            ms[r] = device.time(() -> {
                for (int i = 0; i < 20; i++) launch.run();
            }) / 20.0;
        }
        Arrays.sort(ms);
        return ms[ms.length / 2];
    }

    private static void report(int n, int k, String kernel, int s, int block, long bytes, double ms, double copy, double relErr) {
        double gbps = bytes / (ms / 1e3);
        System.out.printf(Locale.ROOT, "{\"check\":\"gemv\",\"n\":%d,\"k\":%d,\"kernel\":\"%s\",\"warps_per_row\":%d,\"block\":%d,"
                        + "\"us\":%.2f,\"GBps\":%.0f,\"fraction_of_copy\":%.3f,\"rel_err\":%.2e,\"pass\":%b}%n",
                n, k, kernel, s, block, ms * 1e3, gbps / 1e9, gbps / copy, relErr, relErr < 1e-3);
    }
}
