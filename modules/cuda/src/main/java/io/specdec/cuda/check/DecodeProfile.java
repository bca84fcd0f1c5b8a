package io.specdec.cuda.check;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;
import io.specdec.cuda.Cublas;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.CudaTransformer;
import io.specdec.cuda.CudaTransformer.Stage;
import io.specdec.cuda.DeviceWeights;
import io.specdec.cuda.FusedDecode;
import jcuda.driver.CUevent;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * GpuCheck mode {@code decode-profile CONFIG.json LABEL} (issue #4: batch-1 decode at the HBM floor): on random
 * weights of the config's shape, for the unfused and the fused ({@link FusedDecode}) decode path,
 * <ul>
 *   <li>decode ms/token replayed as CUDA graphs (what serving runs) against the floor of mode {@code bench}: every
 *       parameter's bytes at the device's copy bandwidth;</li>
 *   <li>where a step's time goes: steps run without graphs with an event at each stage boundary, summed over the
 *       layers (µs a token), and each GEMV stage's weight bytes as a fraction of the copy bandwidth. A spin kernel
 *       holds the stream while the host enqueues the whole step, so the events time the GPU, not the host's launch
 *       rate ({@code spin_covered}); the gaps between kernels count to the stage that follows them;</li>
 *   <li>the fused forward against the unfused one: logits of 64 greedy decode steps and of verify chunks of 2..16
 *       tokens (relative L2 error, argmax), expected bit-identical.</li>
 * </ul>
 */
final class DecodeProfile {
    private DecodeProfile() {
    }

    static final int PROMPT = 128;
    static final int GRAPH_STEPS = 128;
    static final int PROFILE_STEPS = 16;
    static final int EQUIVALENCE_STEPS = 64;
    static final int[] VERIFY_CHUNKS = {2, 3, 4, 5, 6, 7, 8, 12, 16};

    static void run(CudaDevice device, Cublas cublas, Path configJson, String label) {
        ModelConfig c = GpuCheck.configOf(configJson);
        double bw = GpuCheck.copyBandwidth(device);
        DeviceWeights w = DeviceWeights.random(device, c, 1);
        device.synchronize();
        long readBytes = w.matrixBytes() - (c.tiedEmbeddings() ? 0 : 2L * c.vocabSize() * c.dim());
        double floorMs = 2.0 * c.parameterCount() / bw * 1e3, floorReadMs = readBytes / bw * 1e3;
        int[] prompt = new SplittableRandom(5).ints(PROMPT, 0, c.vocabSize()).toArray();
        double unfusedMs = Double.NaN;
        for (boolean fused : new boolean[]{false, true}) {
            System.setProperty(FusedDecode.PROPERTY, String.valueOf(fused));
            try (CudaTransformer model = new CudaTransformer(device, cublas, c, w, PROMPT + GRAPH_STEPS + 64, 16)) {
                if (fused && !model.fusedDecode()) {
                    GpuCheck.emit(String.format("{\"check\":\"decode-profile\",\"label\":\"%s\",\"path\":\"fused\","
                            + "\"error\":\"the fused path does not fit this device and model\",\"pass\":false}", label));
                    continue;
                }
                double[] graph = graphMsPerToken(model, prompt);
                if (!fused) unfusedMs = graph[0];
                Profile p = profile(device, model, prompt);
                StringBuilder json = new StringBuilder(String.format(
                        "{\"check\":\"decode-profile\",\"label\":\"%s\",\"path\":\"%s\",\"prompt\":%d,"
                                + "\"graph_ms_per_token\":%.3f,\"graph_ms_per_token_median\":%.3f,\"floor_ms_all_params\":%.3f,"
                                + "\"fraction_of_floor\":%.3f,\"floor_ms_bytes_read\":%.3f,\"fraction_of_read_floor\":%.3f,"
                                + "\"d2d_GBps\":%.0f,\"profiled_ms_per_token\":%.3f",
                        label, fused ? "fused" : "unfused", PROMPT, graph[0], graph[1], floorMs, floorMs / graph[0],
                        floorReadMs, floorReadMs / graph[0], bw / 1e9, p.totalUs() / 1e3));
                if (fused) json.append(String.format(",\"speedup_vs_unfused\":%.3f", unfusedMs / graph[0]));
                for (Map.Entry<Stage, Double> e : p.us().entrySet()) {
                    json.append(String.format(",\"us_%s\":%.1f", e.getKey().name().toLowerCase(), e.getValue()));
                }
                for (Map.Entry<Stage, Long> e : weightBytes(c).entrySet()) {
                    Double us = p.us().get(e.getKey());
                    if (us != null && us > 0) {
                        json.append(String.format(",\"copy_frac_%s\":%.3f", e.getKey().name().toLowerCase(),
                                e.getValue() / (us * 1e-6) / bw));
                    }
                }
                json.append(String.format(",\"host_enqueue_ms\":%.2f,\"spin_ms\":%.1f,\"spin_covered\":%b,\"pass\":%b}",
                        p.enqueueMs(), p.spinMs(), p.covered(), p.covered()));
                GpuCheck.emit(json.toString());
            } catch (RuntimeException e) {
                GpuCheck.emit(String.format("{\"check\":\"decode-profile\",\"label\":\"%s\",\"path\":\"%s\",\"error\":\"%s\",\"pass\":false}",
                        label, fused ? "fused" : "unfused", String.valueOf(e).replace("\"", "'")));
                e.printStackTrace();
            }
        }
        equivalence(device, cublas, c, w, prompt, label);
        System.clearProperty(FusedDecode.PROPERTY);
    }

    /** {mean, median} ms of a graph-replayed greedy decode step after a prefill of {@code prompt}. */
    static double[] graphMsPerToken(CudaTransformer model, int[] prompt) {
        model.useGraphs(true);
        KvSequence seq = model.newSequence();
        int next = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, prompt)))[0];
        for (int s = 0; s < 8; s++) next = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, new int[]{next})))[0];
        double[] ms = new double[GRAPH_STEPS];
        for (int s = 0; s < GRAPH_STEPS; s++) {
            long t0 = System.nanoTime();
            next = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, new int[]{next})))[0];
            ms[s] = (System.nanoTime() - t0) / 1e6;
        }
        seq.release();
        double mean = Arrays.stream(ms).average().orElse(Double.NaN);
        Arrays.sort(ms);
        return new double[]{mean, ms[ms.length / 2]};
    }

    /** Per-stage µs a token, averaged over the profiled steps; host enqueue time vs the spin that covered it. */
    record Profile(Map<Stage, Double> us, double enqueueMs, double spinMs, boolean covered) {
        double totalUs() {
            return us.values().stream().mapToDouble(Double::doubleValue).sum();
        }
    }

    static Profile profile(CudaDevice device, CudaTransformer model, int[] prompt) {
        KvSequence seq = model.newSequence();
        int next = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, prompt)))[0];
        // size the spin from an unprofiled no-graph step: the host must finish enqueueing before the GPU runs dry
        model.useGraphs(false);
        long w0 = System.nanoTime();
        for (int s = 0; s < 3; s++) next = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, new int[]{next})))[0];
        double stepMs = (System.nanoTime() - w0) / 1e6 / 3;
        Timeline timeline = new Timeline(device, (long) ((3 * stepMs + 10) * 1e6));
        model.stageListener(timeline);
        try {
            for (int s = 0; s < 2 + PROFILE_STEPS; s++) {
                if (s == 2) timeline.reset();   // the first two profiled steps warm up
                next = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, new int[]{next})))[0];
                timeline.collect();
            }
        } finally {
            model.stageListener(null);
            model.useGraphs(true);
            seq.release();
        }
        Map<Stage, Double> us = new EnumMap<>(Stage.class);
        timeline.totals.forEach((stage, ms) -> us.put(stage, ms * 1e3 / timeline.steps));
        return new Profile(us, timeline.maxEnqueueMs, timeline.spinNs / 1e6, timeline.maxEnqueueMs * 1e6 < timeline.spinNs);
    }

    /**
     * Records an event at every stage boundary of a forward (after a spin of {@code spinNs} that holds the stream while
     * the host enqueues) and, once the forward is done, adds each interval to the stage it began.
     */
    static final class Timeline implements CudaTransformer.StageListener {
        private final CudaDevice device;
        final long spinNs;
        private final List<CUevent> pool = new ArrayList<>();
        private final List<Stage> stages = new ArrayList<>();
        final Map<Stage, Double> totals = new EnumMap<>(Stage.class);
        int steps;
        double maxEnqueueMs;
        private long enqueueStart;

        Timeline(CudaDevice device, long spinNs) {
            this.device = device;
            this.spinNs = spinNs;
        }

        @Override public void enter(Stage stage) {
            if (stages.isEmpty()) {
                enqueueStart = System.nanoTime();
                device.launch("spin_ns", 1, 1, 1, spinNs);
            }
            mark(stage);
        }

        @Override public void done() {
            mark(null);
            maxEnqueueMs = Math.max(maxEnqueueMs, (System.nanoTime() - enqueueStart) / 1e6);
        }

        private void mark(Stage stage) {
            int i = stages.size();
            if (i == pool.size()) pool.add(device.newEvent());
            device.record(pool.get(i));
            stages.add(stage);
        }

        /** Adds the finished forward's intervals to the totals. */
        void collect() {
            for (int i = 0; i + 1 < stages.size(); i++) {
                totals.merge(stages.get(i), (double) device.elapsedMs(pool.get(i), pool.get(i + 1)), Double::sum);
            }
            if (!stages.isEmpty()) steps++;
            stages.clear();
        }

        void reset() {
            totals.clear();
            steps = 0;
            maxEnqueueMs = 0;
        }
    }

    /** Weight bytes each GEMV stage reads in one forward (the whole model's; the output layer for HEAD). */
    static Map<Stage, Long> weightBytes(ModelConfig c) {
        long l = c.layers(), dim = c.dim(), q = c.queryDim(), kv = c.kvDim(), h = c.hiddenDim();
        Map<Stage, Long> bytes = new EnumMap<>(Stage.class);
        bytes.put(Stage.QKV, 2 * l * (q + 2 * kv) * dim);
        bytes.put(Stage.O_PROJ, 2 * l * dim * q);
        bytes.put(Stage.GATE_UP, 2 * l * 2 * h * dim);
        bytes.put(Stage.DOWN, 2 * l * dim * h);
        bytes.put(Stage.HEAD, 2L * c.vocabSize() * dim);
        return bytes;
    }

    /**
     * The fused forward against the unfused one on the same weights: 64 greedy decode steps (both fed the unfused
     * model's greedy token) and verify chunks of {@link #VERIFY_CHUNKS} tokens, every row's logits compared.
     */
    static void equivalence(CudaDevice device, Cublas cublas, ModelConfig c, DeviceWeights w, int[] prompt, String label) {
        System.setProperty(FusedDecode.PROPERTY, "false");
        try (CudaTransformer plain = new CudaTransformer(device, cublas, c, w, PROMPT + EQUIVALENCE_STEPS + 128, 16)) {
            System.setProperty(FusedDecode.PROPERTY, "true");
            try (CudaTransformer fused = new CudaTransformer(device, cublas, c, w, PROMPT + EQUIVALENCE_STEPS + 128, 16)) {
                KvSequence sp = plain.newSequence(), sf = fused.newSequence();
                float[][] first = plain.forward(List.of(SequenceInput.chainLastLogits(sp, prompt))).getFirst();
                double[] e = GpuCheck.compare(first, fused.forward(List.of(SequenceInput.chainLastLogits(sf, prompt))).getFirst());
                double prefill = e[0];   // a prefill runs the same (cuBLAS) path in both: 0 expected
                int next = GpuCheck.argmax(first[0]);
                double decodeWorst = 0;
                int greedyEqual = 0;
                for (int s = 0; s < EQUIVALENCE_STEPS; s++) {
                    float[][] a = plain.forward(List.of(SequenceInput.chainLastLogits(sp, new int[]{next}))).getFirst();
                    float[][] b = fused.forward(List.of(SequenceInput.chainLastLogits(sf, new int[]{next}))).getFirst();
                    e = GpuCheck.compare(a, b);
                    decodeWorst = Math.max(decodeWorst, Double.isNaN(e[0]) ? Double.POSITIVE_INFINITY : e[0]);
                    greedyEqual += (int) e[1];
                    next = GpuCheck.argmax(a[0]);
                }
                SplittableRandom r = new SplittableRandom(17);
                double verifyWorst = 0;
                int verifyAgree = 0, verifyRows = 0;
                for (int t : VERIFY_CHUNKS) {
                    int[] chunk = r.ints(t, 0, c.vocabSize()).toArray();
                    e = GpuCheck.compare(plain.forward(List.of(SequenceInput.chainAllLogits(sp, chunk))).getFirst(),
                            fused.forward(List.of(SequenceInput.chainAllLogits(sf, chunk))).getFirst());
                    verifyWorst = Math.max(verifyWorst, Double.isNaN(e[0]) ? Double.POSITIVE_INFINITY : e[0]);
                    verifyAgree += (int) e[1];
                    verifyRows += (int) e[2];
                }
                boolean pass = decodeWorst <= 1e-2 && verifyWorst <= 1e-2 && greedyEqual == EQUIVALENCE_STEPS
                        && verifyAgree == verifyRows && fused.fusedDecode();
                GpuCheck.emit(String.format("{\"check\":\"fusion-equivalence\",\"label\":\"%s\",\"fused_active\":%b,"
                                + "\"prefill_rel_l2\":%.2e,\"decode_steps\":%d,\"decode_max_rel_l2\":%.2e,\"greedy_equal\":%d,"
                                + "\"verify_rows\":%d,\"verify_max_rel_l2\":%.2e,\"verify_argmax_equal\":%d,\"bit_exact\":%b,\"pass\":%b}",
                        label, fused.fusedDecode(), prefill, EQUIVALENCE_STEPS, decodeWorst, greedyEqual, verifyRows,
                        verifyWorst, verifyAgree, decodeWorst == 0 && verifyWorst == 0, pass));
            }
        } catch (RuntimeException e) {
            GpuCheck.emit(String.format("{\"check\":\"fusion-equivalence\",\"label\":\"%s\",\"error\":\"%s\",\"pass\":false}",
                    label, String.valueOf(e).replace("\"", "'")));
            e.printStackTrace();
        } finally {
            System.clearProperty(FusedDecode.PROPERTY);
        }
    }
}
