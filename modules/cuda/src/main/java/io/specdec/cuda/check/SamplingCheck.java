package io.specdec.cuda.check;

import io.specdec.core.sampling.LogitsProcessor;
import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.TokenHistory;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.DeviceBuffer;
import io.specdec.cuda.DeviceSampler;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * GpuCheck mode {@code sample}: the device sampler against core's CPU path (LogitsProcessor, then Sampler.inverseCdf
 * with the same uniform) on random logit rows, and a χ² test of its draws against the processed distribution.
 * A token that differs from the CPU's is allowed only on a row where rounding can decide (see {@link #ambiguous}), never
 * on a greedy row; rows of quantized logits put many exact ties at the top-k and top-p cuts, which both sides must
 * resolve by index alike.
 */
final class SamplingCheck {
    private SamplingCheck() {
    }

    /** Relative distance to a boundary (CDF step, top-p mass, min-p ratio) under which float rounding may decide. */
    static final double BAND = 1e-5;

    record Setting(String name, SamplingParams params) {
    }

    static List<Setting> settings() {
        SamplingParams d = SamplingParams.defaults();
        return List.of(
                new Setting("greedy", SamplingParams.greedy()),
                new Setting("t1", d),
                new Setting("t0.7-k50", d.withTemperature(0.7).withTopK(50)),
                new Setting("t1-p0.9", d.withTopP(0.9)),
                new Setting("t1.3-minp0.05", d.withTemperature(1.3).withMinP(0.05)),
                new Setting("t0.8-k200-p0.95-minp0.02", d.withTemperature(0.8).withTopK(200).withTopP(0.95).withMinP(0.02)),
                new Setting("t1-k1", d.withTopK(1)));
    }

    /**
     * One summary line per vocabulary (all settings and logit shapes) and one of kernel times per setting; the
     * per-(shape, setting) counts go to plain lines (check.sh's log).
     */
    static void run(CudaDevice device) {
        int rows = 48;
        for (int vocab : new int[]{32000, 128256}) {
            DeviceBuffer logits = device.allocate(4L * rows * vocab);
            int total = 0, mismatches = 0, unexplained = 0, ambiguousRows = 0;
            String firstUnexplained = "-";
            StringBuilder times = new StringBuilder();
            try (DeviceSampler sampler = new DeviceSampler(device, rows)) {
                for (String shape : new String[]{"normal", "peaked", "quantized"}) {
                    SplittableRandom r = new SplittableRandom(vocab * 31L + shape.hashCode());
                    float[] host = new float[rows * vocab];
                    for (int i = 0; i < rows; i++) fillRow(host, i * vocab, vocab, shape, r);
                    device.copyToDevice(logits, host);
                    for (Setting s : settings()) {
                        double[] u = r.doubles(rows).toArray();
                        int[] got = sampler.sample(logits, rows, vocab, s.params(), u);
                        int mis = 0, bad = 0, amb = 0;
                        LogitsProcessor lp = new LogitsProcessor(s.params());
                        for (int i = 0; i < rows; i++) {
                            float[] row = Arrays.copyOfRange(host, i * vocab, (i + 1) * vocab);
                            int want = Sampler.inverseCdf(lp.probabilities(row, TokenHistory.empty()), u[i]);
                            boolean near = !s.params().isGreedy() && ambiguous(row, s.params(), u[i]);
                            if (near) amb++;
                            if (got[i] != want) {
                                mis++;
                                if (!near) bad++;
                            }
                        }
                        if (bad > 0 && unexplained == 0) firstUnexplained = shape + "/" + s.name();
                        total += rows;
                        mismatches += mis;
                        unexplained += bad;
                        ambiguousRows += amb;
                        System.out.printf("  sampling vocab %d %s %s: %d rows, %d mismatches (%d unexplained), %d near a boundary%n",
                                vocab, shape, s.name(), rows, mis, bad, amb);
                        if (shape.equals("normal")) {
                            times.append(times.isEmpty() ? "" : " | ").append(s.name()).append(' ')
                                    .append(Math.round(timeUs(device, sampler, logits, rows, vocab, s.params(), u)));
                        }
                    }
                }
            } finally {
                device.free(logits);
            }
            GpuCheck.emit(String.format("{\"check\":\"device-sampling-vs-cpu\",\"vocab\":%d,\"rows\":%d,\"mismatches\":%d,"
                            + "\"near_boundary_rows\":%d,\"unexplained\":%d,\"first_unexplained\":\"%s\",\"pass\":%b}",
                    vocab, total, mismatches, ambiguousRows, unexplained, firstUnexplained, unexplained == 0));
            GpuCheck.emit(String.format("{\"check\":\"device-sampling-us\",\"vocab\":%d,\"rows\":%d,\"us\":\"%s\"}",
                    vocab, rows, times));
        }
        chiSquare(device);
    }

    /** normal: 3 N(0,1); peaked: plus a few logits 6-12 above; quantized: multiples of 1/4 (many exact ties). */
    static void fillRow(float[] x, int off, int vocab, String shape, SplittableRandom r) {
        for (int v = 0; v < vocab; v++) {
            double g = 3 * r.nextGaussian();
            x[off + v] = (float) (shape.equals("quantized") ? Math.rint(g * 4) / 4 : g);
        }
        if (shape.equals("peaked")) for (int j = 0; j < 5; j++) x[off + r.nextInt(vocab)] += (float) (6 + 6 * r.nextDouble());
    }

    /** Median time of one launch over all rows (they run side by side, one block each), uniform upload included, µs. */
    static double timeUs(CudaDevice device, DeviceSampler sampler, DeviceBuffer logits, int rows, int vocab,
                         SamplingParams p, double[] u) {
        for (int i = 0; i < 3; i++) sampler.launch(logits, rows, vocab, p, u);
        double[] ms = new double[15];
        for (int i = 0; i < ms.length; i++) ms[i] = device.time(() -> sampler.launch(logits, rows, vocab, p, u));
        Arrays.sort(ms);
        return ms[ms.length / 2] * 1e3;
    }

    /**
     * Whether float rounding may decide this row's token: the uniform within {@link #BAND} of a CDF step, the top-p
     * mass or a min-p ratio within BAND of its threshold, or two different logits whose probabilities round to the
     * same float at the top-k or top-p cut (the CPU orders by that float, the device by logit). In double precision.
     */
    static boolean ambiguous(float[] logits, SamplingParams p, double u) {
        int n = logits.length;
        double m = Double.NEGATIVE_INFINITY;
        for (float v : logits) m = Math.max(m, v);
        double[] w = new double[n];
        double total = 0;
        for (int i = 0; i < n; i++) total += w[i] = Math.exp((logits[i] - m) / p.temperature());
        int[] order = orderByLogit(logits);
        int keep = p.topK() > 0 ? Math.min(p.topK(), n) : n;
        final double sum = total;
        java.util.function.IntPredicate floatTie = k -> k > 0 && k < n && logits[order[k - 1]] != logits[order[k]]
                && (float) (w[order[k - 1]] / sum) == (float) (w[order[k]] / sum);
        if (floatTie.test(keep)) return true;
        if (p.topP() < 1) {
            double kept = 0;
            for (int k = 0; k < keep; k++) kept += w[order[k]];
            double threshold = p.topP() * kept, cumulative = 0;
            int k = 0;
            while (k < keep) {
                double before = cumulative;
                cumulative += w[order[k]];
                k++;
                if (Math.abs(before - threshold) < BAND * kept || Math.abs(cumulative - threshold) < BAND * kept) return true;
                if (cumulative >= threshold) break;
            }
            if (floatTie.test(k)) return true;
            keep = k;
        }
        boolean[] in = new boolean[n];
        for (int k = 0; k < keep; k++) in[order[k]] = true;
        double q = 0;
        for (int i = 0; i < n; i++) {
            if (!in[i]) continue;
            if (p.minP() > 0 && Math.abs(w[i] - p.minP()) < BAND) return true;
            if (w[i] < p.minP()) in[i] = false; else q += w[i];
        }
        double target = u * q, cumulative = 0;
        for (int i = 0; i < n; i++) {
            if (!in[i]) continue;
            cumulative += w[i];
            if (Math.abs(cumulative - target) < BAND * q) return true;
        }
        return false;
    }

    /** Indices by logit descending, lower index first among equal logits (the device's order). */
    static int[] orderByLogit(float[] logits) {
        long[] keys = new long[logits.length];
        for (int i = 0; i < keys.length; i++) {
            int bits = Float.floatToRawIntBits(logits[i] + 0f);   // -0 == +0
            bits ^= (bits >> 31) & 0x7fffffff;   // monotone in the float's value, as a signed int
            keys[i] = ((long) bits << 32) | (Integer.MAX_VALUE - i);
        }
        Arrays.sort(keys);
        int[] order = new int[keys.length];
        for (int k = 0; k < keys.length; k++) order[k] = Integer.MAX_VALUE - (int) keys[keys.length - 1 - k];
        return order;
    }

    /** Draws of the kernel from one row, repeated over many launches, against the CPU's processed distribution. */
    static void chiSquare(CudaDevice device) {
        int vocab = 256, rows = 1024, launches = 200;
        SamplingParams params = SamplingParams.defaults().withTemperature(0.9).withTopK(40).withTopP(0.95).withMinP(0.01);
        SplittableRandom r = new SplittableRandom(77);
        float[] one = new float[vocab];
        for (int v = 0; v < vocab; v++) one[v] = (float) (2 * r.nextGaussian());
        double[] expected = new LogitsProcessor(params).probabilities(one, TokenHistory.empty());
        float[] host = new float[rows * vocab];
        for (int i = 0; i < rows; i++) System.arraycopy(one, 0, host, i * vocab, vocab);
        DeviceBuffer logits = device.allocate(4L * host.length);
        long[] counts = new long[vocab];
        long n = 0;
        try (DeviceSampler sampler = new DeviceSampler(device, rows)) {
            device.copyToDevice(logits, host);
            for (int l = 0; l < launches; l++) {
                for (int t : sampler.sample(logits, rows, vocab, params, r.doubles(rows).toArray())) { counts[t]++; n++; }
            }
        } finally {
            device.free(logits);
        }
        double chi = 0;
        int bins = 0;
        long outside = 0;
        for (int v = 0; v < vocab; v++) {
            double e = n * expected[v];
            if (e == 0) { outside += counts[v]; continue; }
            chi += (counts[v] - e) * (counts[v] - e) / e;
            bins++;
        }
        int df = bins - 1;
        double z = (Math.cbrt(chi / df) - (1 - 2.0 / (9 * df))) / Math.sqrt(2.0 / (9 * df));   // Wilson–Hilferty
        double pValue = 0.5 * GpuCheck.erfc(z / Math.sqrt(2));
        GpuCheck.emit(String.format("{\"check\":\"device-sampling-chi2\",\"samples\":%d,\"support\":%d,\"chi2\":%.2f,\"df\":%d,"
                + "\"p_value\":%.4f,\"samples_outside_support\":%d,\"pass\":%b}", n, bins, chi, df, pValue, outside,
                pValue > 0.001 && outside == 0));
    }
}
