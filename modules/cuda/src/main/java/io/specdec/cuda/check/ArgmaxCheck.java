package io.specdec.cuda.check;

import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.DeviceBuffer;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * GpuCheck mode {@code argmax}: argmax_rows_split (a row over 32 blocks, the last one to finish merging the slices)
 * against argmax_rows and a CPU argmax (lowest index on ties) on rows made to catch a wrong merge: the maximum tied at
 * two or three places (in one slice, in different slices, at both ends), all -inf, NaN entries, a vocabulary smaller
 * than the slices, 1..64 rows. Each case runs three times on the same counters, as a replayed graph would. Also
 * times both kernels on one 128K row. One JSON line per vocabulary.
 */
final class ArgmaxCheck {
    private ArgmaxCheck() {
    }

    private static final int SLICES = 32;

    static void run(CudaDevice device) {
        int[] vocabs = {128256, 32000, 151936, 100, 7};
        for (int vocab : vocabs) {
            int rows = 64;
            float[] logits = rows(vocab, rows, new SplittableRandom(vocab));
            int[] want = new int[rows];
            for (int r = 0; r < rows; r++) want[r] = cpuArgmax(logits, r * vocab, vocab);
            DeviceBuffer in = device.allocate(4L * rows * vocab), out = device.allocate(4L * rows),
                    parts = device.allocate(4L * rows * (2 * SLICES + 1));
            try {
                device.copyToDevice(in, logits);
                device.copyToDevice(parts, new int[rows * (2 * SLICES + 1)]);
                int mismatches = 0, cases = 0;
                for (int n : new int[] {1, 2, 5, 64}) {
                    for (int repeat = 0; repeat < 3; repeat++) {
                        int[] got = split(device, in, vocab, n, out, parts);
                        for (int r = 0; r < n; r++) if (got[r] != want[r]) mismatches++;
                        cases += n;
                    }
                }
                device.launch("argmax_rows", rows, 1, 1024, in, vocab, out);
                int[] single = new int[rows];
                device.synchronize();
                device.copyToHost(single, out, rows);
                int singleMismatches = 0;
                for (int r = 0; r < rows; r++) if (single[r] != want[r]) singleMismatches++;
                double splitUs = time(device, () -> launchSplit(device, in, vocab, 1, out, parts));
                double singleUs = time(device, () -> device.launch("argmax_rows", 1, 1, 1024, in, vocab, out));
                GpuCheck.emit(String.format(Locale.ROOT, "{\"check\":\"argmax-split\",\"vocab\":%d,\"rows_checked\":%d,"
                                + "\"mismatches_split\":%d,\"mismatches_single\":%d,\"us_split_1row\":%.2f,\"us_single_1row\":%.2f,"
                                + "\"pass\":%b}", vocab, cases, mismatches, singleMismatches, splitUs, singleUs,
                        mismatches == 0 && singleMismatches == 0));
            } finally {
                device.free(in);
                device.free(out);
                device.free(parts);
            }
        }
    }

    /** Random rows, then row r's special case by r % 8 (see the class comment). */
    private static float[] rows(int vocab, int rows, SplittableRandom rnd) {
        float[] x = new float[rows * vocab];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        int per = ((vocab + SLICES - 1) / SLICES + 3) & ~3;
        for (int r = 0; r < rows; r++) {
            int o = r * vocab;
            float top = 10f + r;
            switch (r % 8) {
                case 0 -> { }
                case 1 -> { x[o + vocab - 1] = top; x[o] = top; }                                  // both ends
                case 2 -> { x[o + Math.min(vocab - 1, 3)] = top; x[o + Math.min(vocab - 1, 1)] = top; }   // one slice
                case 3 -> { x[o + Math.min(vocab - 1, per + 5)] = top; x[o + Math.min(vocab - 1, 2 * per + 1)] = top;
                            x[o + vocab / 2] = top; }                                              // different slices
                case 4 -> Arrays.fill(x, o, o + vocab, Float.NEGATIVE_INFINITY);
                case 5 -> { x[o + vocab / 3] = Float.NaN; x[o + vocab - 1] = top; x[o] = Float.NaN; }
                case 6 -> x[o + vocab - 1] = top;
                default -> { x[o + vocab / 2] = Float.POSITIVE_INFINITY; x[o + vocab / 4] = Float.POSITIVE_INFINITY; }
            }
        }
        return x;
    }

    /** The kernels' rule: larger value wins, then the lower index; NaN never wins; all -inf gives index 0. */
    private static int cpuArgmax(float[] x, int off, int n) {
        float best = Float.NEGATIVE_INFINITY;
        int idx = Integer.MAX_VALUE;
        for (int i = 0; i < n; i++) {
            float v = x[off + i];
            if (v > best || (v == best && i < idx)) {
                best = v;
                idx = i;
            }
        }
        return idx;
    }

    private static void launchSplit(CudaDevice device, DeviceBuffer in, int vocab, int rows, DeviceBuffer out,
                                    DeviceBuffer parts) {
        int cap = (int) (parts.bytes() / 4 / (2 * SLICES + 1));
        device.launch("argmax_rows_split", SLICES, rows, 256, in, vocab, out, parts,
                parts.slice(4L * cap * SLICES, 4L * cap * SLICES), parts.slice(8L * cap * SLICES, 4L * cap));
    }

    private static int[] split(CudaDevice device, DeviceBuffer in, int vocab, int rows, DeviceBuffer out,
                               DeviceBuffer parts) {
        launchSplit(device, in, vocab, rows, out, parts);
        int[] got = new int[rows];
        device.synchronize();
        device.copyToHost(got, out, rows);
        return got;
    }

    /** Median µs of 50 launches, each timed alone ({@link CudaDevice#time}), after 5 of warm-up. */
    private static double time(CudaDevice device, Runnable launch) {
        for (int i = 0; i < 5; i++) launch.run();
        double[] us = new double[50];
        for (int i = 0; i < us.length; i++) us[i] = device.time(launch) * 1e3;
        Arrays.sort(us);
        return us[us.length / 2];
    }
}
