package io.specdec.cuda;

import io.specdec.core.sampling.SamplingParams;

import java.util.Optional;

/**
 * Token sampling on the device (kernel {@code sample_rows}): greedy, or temperature, top-k, top-p (within the top-k)
 * and min-p followed by one inverse-CDF draw per row — core's {@code LogitsProcessor} then
 * {@code Sampler.inverseCdf} with the same uniform, so a seeded request draws the same tokens as on the CPU. The host
 * supplies one uniform per row from the request's own random stream and reads back one int per row.
 *
 * <p>Where the two can differ (all rounding, see the kernel's comment): the device orders tokens by logit, the CPU by
 * the float of the probability, so two different logits whose probabilities round to the same float tie on the CPU
 * (lower index first) but not here; masses are exact sums of weights rounded to 2^-45 of the top token's, so a uniform
 * or a top-p/min-p threshold within that distance of a boundary may land on the neighbouring token; tokens more than
 * ~31 T below the top logit get no mass. Repetition, presence and frequency penalties depend on the token history and
 * stay on the host path: {@link #unsupportedReason} says so and {@link #sample} refuses them.
 */
public final class DeviceSampler implements AutoCloseable {
    /** 2^45 fixed-point weights of at most 1 per token must sum within 64 bits. */
    public static final int MAX_VOCAB = 1 << 19;
    static final int THREADS = 1024;

    private final CudaDevice device;
    private final int maxRows;
    private final DeviceBuffer uniforms, tokens;

    /** The kernel's view of a request: temperature 0 = greedy; topK 0 = off; topP 1 = off; minP 0 = off. */
    record Arguments(float temperature, int topK, double topP, double minP) {
        boolean greedy() { return temperature == 0; }
    }

    public DeviceSampler(CudaDevice device, int maxRows) {
        if (maxRows < 1) throw new IllegalArgumentException("maxRows must be at least 1, got " + maxRows);
        this.device = device;
        this.maxRows = maxRows;
        uniforms = device.allocate(8L * maxRows);
        tokens = device.allocate(4L * maxRows);
        device.preload("sample_rows");
    }

    /** Why these parameters need the host path, or empty when the device sampler implements them. */
    public int maxRows() { return maxRows; }

    public static Optional<String> unsupportedReason(SamplingParams p) {
        if (p.hasPenalties()) {
            return Optional.of("repetition/presence/frequency penalties depend on the token history: they stay on the host path");
        }
        return Optional.empty();
    }

    static Arguments arguments(SamplingParams p, int vocab) {
        if (vocab < 1 || vocab > MAX_VOCAB) {
            throw new IllegalArgumentException("vocabulary of " + vocab + " tokens: the device sampler takes 1.." + MAX_VOCAB);
        }
        String reason = unsupportedReason(p).orElse(null);
        if (reason != null) throw new IllegalArgumentException("device sampling: " + reason);
        if (p.isGreedy()) return new Arguments(0f, 0, 1, 0);
        // a temperature that underflows float still means "all mass on the top logit(s)", not greedy's single argmax
        float t = Math.max((float) p.temperature(), Float.MIN_NORMAL);
        int k = p.topK() >= vocab ? 0 : p.topK();
        return new Arguments(t, k, p.topP(), p.minP());
    }

    /** Checks that there is one uniform in [0, 1) per row (greedy rows need none: {@code u} may then be null). */
    static void checkUniforms(double[] u, int rows, boolean greedy) {
        if (greedy && u == null) return;
        if (u == null || u.length < rows) {
            throw new IllegalArgumentException("need one uniform per row: " + rows + " rows, " + (u == null ? 0 : u.length) + " uniforms");
        }
        for (int r = 0; r < rows; r++) {
            if (!(u[r] >= 0 && u[r] < 1)) throw new IllegalArgumentException("uniform " + r + " is " + u[r] + ", not in [0, 1)");
        }
    }

    /**
     * Samples one token from each of {@code rows} rows of f32 logits [rows, vocab] on the device.
     *
     * @param uniforms one uniform in [0, 1) per row (null allowed for greedy)
     * @throws IllegalArgumentException for parameters the device does not implement, or a row that cannot be sampled
     *                                  (a NaN logit; when sampling, every logit -inf or one +inf), as the CPU path
     */
    public int[] sample(DeviceBuffer logits, int rows, int vocab, SamplingParams params, double[] uniforms) {
        launch(logits, rows, vocab, params, uniforms);
        int[] out = new int[rows];
        if (rows == 0) return out;
        device.copyToHost(out, tokens, rows);
        for (int r = 0; r < rows; r++) {
            if (out[r] < 0) {
                throw new IllegalArgumentException("logit row " + r + " cannot be sampled: it holds a NaN"
                        + (params.isGreedy() ? "" : ", or no finite maximum (every logit -inf, or one +inf)"));
            }
        }
        return out;
    }

    /** Uploads the uniforms and enqueues the kernel; nothing is read back (timing, graph capture of the launch). */
    public void launch(DeviceBuffer logits, int rows, int vocab, SamplingParams params, double[] u) {
        Arguments a = arguments(params, vocab);
        if (rows < 0 || rows > maxRows) throw new IllegalArgumentException(rows + " rows, this sampler takes up to " + maxRows);
        if (logits.bytes() < 4L * rows * vocab) {
            throw new IllegalArgumentException("logits buffer of " + logits.bytes() + " bytes < " + rows + " x " + vocab + " floats");
        }
        checkUniforms(u, rows, a.greedy());
        if (rows == 0) return;
        if (!a.greedy()) device.copyToDevice(this.uniforms, java.util.Arrays.copyOf(u, rows));
        device.launch("sample_rows", rows, 1, THREADS, logits, vocab, this.uniforms, a.temperature(), a.topK(), a.topP(),
                a.minP(), tokens);
    }

    /**
     * Draws of {@code rows} consecutive rows with their uniforms already on the device ({@code uniforms}: one f64 a
     * row) into {@code out} (one int a row): the kernel and arguments of {@link #launch}, so a held round's draft step
     * draws what {@link #sample} draws.
     */
    void launchRows(DeviceBuffer logits, int rows, int vocab, SamplingParams params, DeviceBuffer uniforms, DeviceBuffer out) {
        Arguments a = arguments(params, vocab);
        device.launch("sample_rows", rows, 1, THREADS, logits, vocab, uniforms, a.temperature(), a.topK(), a.topP(), a.minP(), out);
    }

    @Override public void close() {
        device.free(uniforms);
        device.free(tokens);
    }
}
