package io.specdec.cuda.check;

import io.specdec.core.backend.AttentionMask;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.format.ModelFiles;
import io.specdec.core.format.hf.HuggingFaceModel;
import io.specdec.core.format.safetensors.SafetensorsWriter;
import io.specdec.core.generate.GenerationResult;
import io.specdec.core.generate.Generator;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.LayerWeights;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.SpeculativeSampler;
import io.specdec.core.tensor.DType;
import io.specdec.core.tensor.Tensor;
import io.specdec.cpu.CpuTransformer;
import io.specdec.cpu.ParallelExecutor;
import io.specdec.cuda.Cublas;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.CudaTransformer;
import io.specdec.cuda.SplitKAttention;
import io.specdec.cuda.DeviceBuffer;
import io.specdec.cuda.DeviceWeights;
import io.specdec.cuda.FusedAcceptance;
import io.specdec.cuda.FusedDecode;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Correctness and speed checks of the CUDA backend, run on a GPU host from the distribution (bench/gpu/check.sh).
 * Each mode prints one JSON line per result:
 * <pre>
 *   cpu [fused]                           CUDA forward vs the CPU backend on the same random bf16 weights
 *   spec [fused]                          speculative greedy == target greedy on the GPU
 *                                         (fused: on the fused decode path, -Dspecdec.cuda.fusedDecode=true)
 *   accept                                fused acceptance kernel vs the CPU reference (decisions, χ², timing)
 *   sample                                device sampling kernel vs the CPU sampling path (tokens, χ², timing)
 *   specsample [MODELS [CONFIG.json]]     speculative sampling (T 0.8) with device fused vs host acceptance: same ids,
 *                                         tokens/s; χ² of the device decision against p (MODELS: the bundled pair's
 *                                         directory; CONFIG: a 1B-shape config, random weights, first-2-layers draft)
 *   batchchain [MODELS [CFG8B CFG1B]]    served batches (1/8/32 requests, greedy and T 0.8) with whole rounds held on
 *                                         the GPU vs draft ids to the host each step: same ids, tokens/s, host copies
 *                                         (CFG8B/CFG1B: a random 8B-shape target with a random 1B-shape draft)
 *   splitk [CONFIG.json LABEL]            split-K vs attention_paged (rel. error); with a config, decode ms/token
 *                                         at context 128 and 4096 with and without split-K
 *   hf-export DIR                         a small random model as a HuggingFace directory (for transformers)
 *   hf-logits DIR TOKENS OUT.f32 [PROMPT] teacher-forced logits of every position of TOKENS (one id a line): one
 *                                         prefill forward, or with PROMPT as a generation runs them: a prefill of the
 *                                         first PROMPT tokens, then one decode step a token
 *   bench CONFIG.json LABEL [PROMPT NEW]  batch-1 greedy decode tok/s with random weights generated on the device
 *   decode-profile CONFIG.json LABEL      unfused vs fused decode path: graph ms/token vs the floor, per-stage µs,
 *                                         fused == unfused logits (DecodeProfile)
 *   specbench TARGET.json DRAFT.json      speculative speedup vs vanilla under ACCEPTANCE INJECTION (benchmark only)
 *   mma CONFIG.json LABEL                 verify-sized forwards on the CUDA-core GEMV vs the tensor-core skinny GEMM
 *   flash CONFIG.json LABEL [N,N,...]     tensor-core prefill attention vs attention_paged: logits of N-token prompts,
 *                                         greedy steps after them, prefill ms (FlashPrefillCheck)
 * </pre>
 */
public final class GpuCheck {
    private GpuCheck() {
    }

    public static void main(String[] args) throws Exception {
        Locale.setDefault(Locale.ROOT);
        if (args.length == 0) {
            System.err.println("usage: GpuCheck cpu|spec|accept|sample|specsample [MODELS [CONFIG]]|splitk [CONFIG LABEL]|hf-export DIR|hf-logits DIR TOKENS OUT|bench CONFIG LABEL|decode-profile CONFIG LABEL|mma CONFIG LABEL");
            System.exit(2);
        }
        if (args[0].equals("hf-export")) {
            hfExport(Path.of(args[1]));
            return;
        }
        try (CudaDevice device = CudaDevice.open(0); Cublas cublas = new Cublas(device)) {
            switch (args[0]) {
                case "cpu" -> fusedIfAsked(args, () -> cpu(device, cublas));
                case "spec" -> fusedIfAsked(args, () -> spec(device, cublas));
                case "accept" -> accept(device);
                case "sample" -> SamplingCheck.run(device);
                case "argmax" -> ArgmaxCheck.run(device);
                case "specsample" -> SpecSampleCheck.run(device, cublas, args.length > 1 ? Path.of(args[1]) : null,
                        args.length > 2 ? Path.of(args[2]) : null);
                case "batchheld" -> BatchHeldCheck.run(device, cublas, args.length > 1 ? Path.of(args[1]) : null,
                        args.length > 2 ? Path.of(args[2]) : null);
                case "batchchain" -> BatchChainCheck.run(device, cublas, args.length > 1 ? Path.of(args[1]) : null,
                        args.length > 3 ? Path.of(args[2]) : null, args.length > 3 ? Path.of(args[3]) : null, 128);
                case "gemv" -> GemvCheck.run(device);
                case "mma" -> MmaCheck.run(device, cublas, Path.of(args[1]), args[2]);
                case "decode-profile" -> DecodeProfile.run(device, cublas, Path.of(args[1]), args[2]);
                case "splitk" -> SplitKCheck.run(device, cublas, args.length > 1 ? Path.of(args[1]) : null,
                        args.length > 2 ? args[2] : "config");
                case "hf-logits" -> hfLogits(device, cublas, Path.of(args[1]), Path.of(args[2]), Path.of(args[3]),
                        args.length > 4 ? Integer.parseInt(args[4]) : 0);
                case "specbench" -> specBench(device, cublas, Path.of(args[1]), Path.of(args[2]), 128, 256);
                case "bench" -> bench(device, cublas, Path.of(args[1]), args[2],
                        args.length > 3 ? Integer.parseInt(args[3]) : 128, args.length > 4 ? Integer.parseInt(args[4]) : 256);
                case "flash" -> FlashPrefillCheck.run(device, cublas, Path.of(args[1]), args[2], args.length > 3
                        ? Arrays.stream(args[3].split(",")).mapToInt(Integer::parseInt).toArray() : new int[]{200, 512, 2048});
                case "bench-ablate" -> benchAblate(device, cublas, Path.of(args[1]), args[2]);
                case "bench-attention" -> benchAttention(device, cublas, Path.of(args[1]), args[2]);
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        }
    }

    /** {@code cpu fused}, {@code spec fused}: the same checks on the fused decode path ({@link FusedDecode}). */
    private static void fusedIfAsked(String[] args, Runnable check) {
        boolean fused = args.length > 1 && args[1].equals("fused");
        if (fused) System.setProperty(FusedDecode.PROPERTY, "true");
        try {
            check.run();
        } finally {
            if (fused) System.clearProperty(FusedDecode.PROPERTY);
        }
    }

    static void emit(String json) {
        System.out.println(json);
        System.out.flush();
    }

    // ---------------------------------------------------------------------------------------------------------
    // CUDA vs CPU
    // ---------------------------------------------------------------------------------------------------------
    record Case(String name, ModelConfig config) {
    }

    static List<Case> cases() {
        return List.of(
                new Case("llama-interleaved-gqa-tied", RandomHostModels.config(256, 512, 2, 8, 2, 1000, RopeStyle.INTERLEAVED,
                        new RopeScaling.None(), true, false, false, 0)),
                new Case("hf-half-llama3scaling-untied-hd128", RandomHostModels.config(512, 1024, 2, 4, 2, 2048, RopeStyle.HALF,
                        new RopeScaling.Llama3(8, 1, 4, 64), false, false, false, 0)),
                new Case("qwen2-bias-linear-mha", RandomHostModels.config(256, 640, 2, 4, 4, 1000, RopeStyle.HALF,
                        new RopeScaling.Linear(2), false, true, false, 0)),
                new Case("qwen3-qknorm-ntk-window16", RandomHostModels.config(192, 384, 2, 6, 3, 777, RopeStyle.HALF,
                        new RopeScaling.Ntk(4), false, false, true, 16)));
    }

    static void cpu(CudaDevice device, Cublas cublas) {
        for (Case k : cases()) {
            ModelConfig c = k.config();
            try (Arena arena = Arena.ofShared(); ParallelExecutor ex = new ParallelExecutor(Runtime.getRuntime().availableProcessors(), "cpu-ref")) {
                TransformerWeights w = RandomHostModels.weights(c, 42, arena);
                // room for the long forwards at the end: ~230 tokens on the first sequence, 241 in the batch
                CpuTransformer cpu = new CpuTransformer(c, w, ex, 1024, 16);
                try (CudaTransformer gpu = new CudaTransformer(device, cublas, c, DeviceWeights.upload(device, c, w), 1024, 16)) {
                    SplittableRandom r = new SplittableRandom(7);
                    KvSequence sc = cpu.newSequence(), sg = gpu.newSequence();
                    double worst = 0;
                    int agree = 0, total = 0;
                    // prefill 37 tokens, all rows (cuBLAS path)
                    int[] prompt = r.ints(37, 0, c.vocabSize()).toArray();
                    double[] e = compare(cpu.forward(SequenceInput.chainAllLogits(sc, prompt)),
                            gpu.forward(SequenceInput.chainAllLogits(sg, prompt)));
                    worst = Math.max(worst, e[0]); agree += (int) e[1]; total += (int) e[2];
                    // 6 decode steps (skinny GEMM path)
                    for (int s = 0; s < 6; s++) {
                        int[] tok = {r.nextInt(c.vocabSize())};
                        e = compare(cpu.forward(SequenceInput.chainLastLogits(sc, tok)), gpu.forward(SequenceInput.chainLastLogits(sg, tok)));
                        worst = Math.max(worst, e[0]); agree += (int) e[1]; total += (int) e[2];
                    }
                    // a 7-node tree verify with an explicit mask (skinny path), then keep one branch on both
                    int[] parents = {-1, 0, 0, 1, 1, 2, -1};
                    int[] tree = r.ints(7, 0, c.vocabSize()).toArray();
                    int[] pos = new int[7];
                    int base = sc.nextPosition();
                    for (int i = 0; i < 7; i++) pos[i] = parents[i] < 0 ? base : pos[parents[i]] + 1;
                    int[] rows = {0, 1, 2, 3, 4, 5, 6};
                    e = compare(cpu.forward(new SequenceInput(sc, tree, pos, AttentionMask.tree(parents), rows)),
                            gpu.forward(new SequenceInput(sg, tree, pos, AttentionMask.tree(parents), rows)));
                    worst = Math.max(worst, e[0]); agree += (int) e[1]; total += (int) e[2];
                    int from = sc.length() - 7;
                    sc.keepOnly(from, new int[]{from, from + 2, from + 5});
                    sg.keepOnly(from, new int[]{from, from + 2, from + 5});
                    // a 12-token chunk after compaction (cuBLAS path), and a forked decode
                    int[] more = r.ints(12, 0, c.vocabSize()).toArray();
                    e = compare(cpu.forward(SequenceInput.chainAllLogits(sc, more)), gpu.forward(SequenceInput.chainAllLogits(sg, more)));
                    worst = Math.max(worst, e[0]); agree += (int) e[1]; total += (int) e[2];
                    KvSequence fc = sc.fork(), fg = sg.fork();
                    int[] tok = {r.nextInt(c.vocabSize())};
                    e = compare(cpu.forward(SequenceInput.chainLastLogits(fc, tok)), gpu.forward(SequenceInput.chainLastLogits(fg, tok)));
                    worst = Math.max(worst, e[0]); agree += (int) e[1]; total += (int) e[2];
                    // forwards larger than split-K's 128 tokens: the tensor-core prefill attention where the model has
                    // one. A 170-token chunk after all of the above, then a batch of a 150-token prompt, one decode
                    // token after a 20-token prefill, and a 70-token prompt (221 tokens, chunks of 150, 1 and 70)
                    int[] longer = r.ints(170, 0, c.vocabSize()).toArray();
                    e = compare(cpu.forward(SequenceInput.chainAllLogits(sc, longer)), gpu.forward(SequenceInput.chainAllLogits(sg, longer)));
                    worst = Math.max(worst, e[0]); agree += (int) e[1]; total += (int) e[2];
                    KvSequence[] bc = {cpu.newSequence(), cpu.newSequence(), cpu.newSequence()};
                    KvSequence[] bg = {gpu.newSequence(), gpu.newSequence(), gpu.newSequence()};
                    int[] prefix = r.ints(20, 0, c.vocabSize()).toArray();
                    cpu.forward(SequenceInput.chainLastLogits(bc[1], prefix));
                    gpu.forward(SequenceInput.chainLastLogits(bg[1], prefix));
                    int[][] chunks = {r.ints(150, 0, c.vocabSize()).toArray(), {r.nextInt(c.vocabSize())}, r.ints(70, 0, c.vocabSize()).toArray()};
                    List<float[][]> want = cpu.forward(batchOf(bc, chunks)), got = gpu.forward(batchOf(bg, chunks));
                    for (int i = 0; i < chunks.length; i++) {
                        e = compare(want.get(i), got.get(i));
                        worst = Math.max(worst, e[0]); agree += (int) e[1]; total += (int) e[2];
                    }
                    emit(String.format("{\"check\":\"cuda-vs-cpu\",\"case\":\"%s\",\"fused_decode\":%b,\"prefill_attention\":\"%s\","
                                    + "\"max_rel_l2\":%.3e,\"argmax_agree\":%d,\"rows\":%d,\"pass\":%b}",
                            k.name(), gpu.fusedDecode(), gpu.prefillAttentionKernel(), worst, agree, total,
                            worst <= 2e-2 && agree >= 0.95 * total));
                }
            }
        }
    }

    /** One input per sequence: chunk i on sequence i, every row's logits. */
    private static List<SequenceInput> batchOf(KvSequence[] sequences, int[][] chunks) {
        List<SequenceInput> batch = new ArrayList<>();
        for (int i = 0; i < chunks.length; i++) batch.add(SequenceInput.chainAllLogits(sequences[i], chunks[i]));
        return batch;
    }

    /** {max relative L2 error over rows, rows with equal argmax, rows}. */
    static double[] compare(float[][] ref, float[][] got) {
        double worst = 0;
        int agree = 0;
        for (int i = 0; i < ref.length; i++) {
            double num = 0, den = 0;
            for (int v = 0; v < ref[i].length; v++) {
                double d = got[i][v] - ref[i][v];
                num += d * d;
                den += (double) ref[i][v] * ref[i][v];
                if (Float.isNaN(got[i][v])) num = Double.POSITIVE_INFINITY;
            }
            worst = Math.max(worst, Math.sqrt(num / den));
            if (argmax(ref[i]) == argmax(got[i])) agree++;
        }
        return new double[]{worst, agree, ref.length};
    }

    static double[] compare(List<float[][]> ref, List<float[][]> got) {
        return compare(ref.getFirst(), got.getFirst());
    }

    static int argmax(float[] x) {
        int b = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
        return b;
    }

    // ---------------------------------------------------------------------------------------------------------
    // speculative greedy == target greedy
    // ---------------------------------------------------------------------------------------------------------
    static void spec(CudaDevice device, Cublas cublas) {
        ModelConfig c = RandomHostModels.config(512, 1024, 6, 8, 2, 2048, RopeStyle.HALF, new RopeScaling.None(), false,
                false, false, 0);
        DeviceWeights w = DeviceWeights.random(device, c, 11);
        // the draft: the target's first 2 layers sharing its buffers (an early-exit draft)
        ModelConfig dc = new ModelConfig(c.architecture(), c.dim(), c.hiddenDim(), 2, c.heads(), c.kvHeads(), c.headDim(),
                c.vocabSize(), c.maxSequenceLength(), c.rmsNormEps(), c.ropeTheta(), c.ropeScaling(), c.ropeStyle(),
                c.tiedEmbeddings(), c.qkvBias(), c.qkNorm(), c.slidingWindow(), c.bosTokenId(), c.eosTokenIds());
        DeviceWeights dw = new DeviceWeights(w.embedding(), w.layers().subList(0, 2), w.finalNorm(), w.output(), 0);
        int[] prompt = new SplittableRandom(3).ints(20, 0, c.vocabSize()).toArray();
        SamplingParams greedy = SamplingParams.greedy().withMaxTokens(200).withIgnoreEos(true);
        try (CudaTransformer target = new CudaTransformer(device, cublas, c, w, 2048, 16);
             CudaTransformer draft = new CudaTransformer(device, cublas, dc, dw, 2048, 16)) {
            long t0 = System.nanoTime();
            GenerationResult plain = Generator.plain(target).generate(prompt, greedy, null);
            long t1 = System.nanoTime();
            for (int gamma : new int[]{2, 4, 6, 10}) {   // 10: verify passes of 11 tokens (two token groups)
                long s0 = System.nanoTime();
                GenerationResult spec = Generator.speculative(target, new ModelDrafter(draft), gamma).generate(prompt, greedy, null);
                long s1 = System.nanoTime();
                int same = 0;
                while (same < Math.min(plain.tokens().length, spec.tokens().length) && plain.tokens()[same] == spec.tokens()[same]) same++;
                emit(String.format("{\"check\":\"spec-greedy-equals-target\",\"fused_decode\":%b,\"gamma\":%d,\"tokens\":%d,\"equal_prefix\":%d,\"pass\":%b,"
                                + "\"plain_ms\":%.1f,\"spec_ms\":%.1f,\"stats\":\"%s\"}", target.fusedDecode(), gamma, plain.tokens().length, same,
                        Arrays.equals(plain.tokens(), spec.tokens()), (t1 - t0) / 1e6, (s1 - s0) / 1e6,
                        String.valueOf(spec.stats()).replace("\"", "'")));
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // fused acceptance kernel vs CPU reference
    // ---------------------------------------------------------------------------------------------------------
    /** The §1 decision for one row in double precision: {accepted, token} (token = replacement/bonus, -1 if accepted). */
    static int[] referenceRow(float[] p, float[] q, int x, float uAccept, float uSample, double invTemp, boolean greedy) {
        int best = argmax(p);
        if (greedy) return new int[]{q != null && x == best ? 1 : 0, best};
        double[] ps = softmax(p, invTemp), qs = q == null ? null : softmax(q, invTemp);
        if (q != null && uAccept < ps[x] / qs[x]) return new int[]{1, -1};
        double[] r = new double[p.length];
        double mass = 0;
        for (int v = 0; v < p.length; v++) {
            r[v] = q == null ? ps[v] : Math.max(0, ps[v] - qs[v]);
            mass += r[v];
        }
        if (!(mass > 0)) { r = ps; mass = 1; }
        double target = uSample * mass, run = 0;
        int last = -1;
        for (int v = 0; v < p.length; v++) {
            if (r[v] <= 0) continue;
            run += r[v];
            last = v;
            if (run > target) return new int[]{0, v};
        }
        return new int[]{0, last};
    }

    static double[] softmax(float[] x, double invTemp) {
        double m = Double.NEGATIVE_INFINITY;
        for (float v : x) m = Math.max(m, v * invTemp);
        double[] e = new double[x.length];
        double s = 0;
        for (int i = 0; i < x.length; i++) s += e[i] = Math.exp(x[i] * invTemp - m);
        for (int i = 0; i < x.length; i++) e[i] /= s;
        return e;
    }

    static int sample(double[] p, double u) {
        double run = 0;
        for (int i = 0; i < p.length; i++) if ((run += p[i]) > u) return i;
        return p.length - 1;
    }

    static void accept(CudaDevice device) {
        int gamma = 5;
        for (int vocab : new int[]{32000, 128256}) {
            for (boolean greedy : new boolean[]{false, true}) {
                SplittableRandom r = new SplittableRandom(vocab + (greedy ? 1 : 0));
                DeviceBuffer pd = device.allocate(4L * (gamma + 1) * vocab), qd = device.allocate(4L * gamma * vocab);
                int trials = 100, rowMismatch = 0, outcomeMismatch = 0, accepted = 0;
                float temperature = greedy ? 0 : 0.8f;
                double invTemp = greedy ? 1 : 1 / 0.8;
                try (FusedAcceptance fa = new FusedAcceptance(device, 8)) {
                    for (int trial = 0; trial < trials; trial++) {
                        float[] p = new float[(gamma + 1) * vocab], q = new float[gamma * vocab];
                        for (int i = 0; i < p.length; i++) p[i] = (float) (3 * r.nextGaussian());
                        for (int i = 0; i < q.length; i++) q[i] = p[i] + (float) (1.5 * r.nextGaussian());
                        int[] x = new int[gamma];
                        float[] ua = new float[gamma], us = new float[gamma + 1];
                        for (int i = 0; i < gamma; i++) {
                            float[] qi = Arrays.copyOfRange(q, i * vocab, (i + 1) * vocab);
                            x[i] = greedy && r.nextBoolean() ? argmax(Arrays.copyOfRange(p, i * vocab, (i + 1) * vocab))
                                    : sample(softmax(qi, invTemp), r.nextDouble());
                            ua[i] = (float) r.nextDouble();
                        }
                        for (int i = 0; i <= gamma; i++) us[i] = (float) r.nextDouble();
                        device.copyToDevice(pd, p);
                        device.copyToDevice(qd, q);
                        SpeculativeSampler.Outcome out = fa.verify(pd, qd, x, ua, us, vocab, temperature);
                        int[] rows = fa.rowDecisions(gamma);
                        int refAccepted = gamma;
                        int refToken = -1;
                        for (int i = 0; i <= gamma; i++) {
                            float[] pi = Arrays.copyOfRange(p, i * vocab, (i + 1) * vocab);
                            float[] qi = i < gamma ? Arrays.copyOfRange(q, i * vocab, (i + 1) * vocab) : null;
                            int[] ref = referenceRow(pi, qi, i < gamma ? x[i] : -1, i < gamma ? ua[i] : 0, us[i], invTemp, greedy);
                            boolean rowAcc = rows[2 * i] == 1;
                            if (rowAcc != (ref[0] == 1) || (!rowAcc && rows[2 * i + 1] != ref[1])) rowMismatch++;
                            if (refToken < 0 && (i == gamma || ref[0] == 0)) { refAccepted = i; refToken = ref[1]; }
                        }
                        accepted += out.accepted();
                        if (out.accepted() != refAccepted || out.bonusOrReplacement() != refToken) outcomeMismatch++;
                    }
                    // timing: the two kernels for γ=5 rows of this vocabulary (inputs already on the device)
                    int[] x = new int[gamma];
                    float[] ua = new float[gamma], us = new float[gamma + 1];
                    Arrays.fill(us, 0.5f);
                    double[] ms = new double[50];
                    for (int i = 0; i < 5; i++) fa.launch(pd, qd, x, ua, us, vocab, temperature);
                    for (int i = 0; i < ms.length; i++) ms[i] = device.time(() -> fa.launch(pd, qd, x, ua, us, vocab, temperature));
                    Arrays.sort(ms);
                    double[] kernelMs = new double[50];
                    for (int i = 0; i < kernelMs.length; i++) kernelMs[i] = device.time(() -> fa.launchKernels(pd, qd, gamma, vocab, temperature));
                    Arrays.sort(kernelMs);
                    if (!greedy) unfused(device, pd, qd, gamma, vocab, temperature, kernelMs[kernelMs.length / 2]);
                    emit(String.format("{\"check\":\"fused-acceptance-vs-cpu\",\"vocab\":%d,\"gamma\":%d,\"greedy\":%b,\"trials\":%d,"
                                    + "\"row_mismatches\":%d,\"outcome_mismatches\":%d,\"mean_accepted\":%.2f,\"median_ms_incl_uploads\":%.4f,\"pass\":%b}",
                            vocab, gamma, greedy, trials, rowMismatch, outcomeMismatch, accepted / (double) trials, ms[ms.length / 2],
                            outcomeMismatch == 0));
                } finally {
                    device.free(pd);
                    device.free(qd);
                }
            }
        }
        chiSquare(device);
    }

    /**
     * The §6 baseline: separate kernels with materialised intermediates (softmax p, softmax q, ratio + decision,
     * residual, row sums, normalise, sample), timed on the device like the fused pair, no host syncs in between.
     */
    static void unfused(CudaDevice device, DeviceBuffer pd, DeviceBuffer qd, int gamma, int vocab, float temperature,
                        double fusedMs) {
        long pv = (long) (gamma + 1) * vocab, qv = (long) gamma * vocab;
        DeviceBuffer pp = device.allocate(4 * pv), qp = device.allocate(4 * qv), r = device.allocate(4 * qv);
        DeviceBuffer sums = device.allocate(4L * gamma), acc = device.allocate(4L * gamma), out = device.allocate(4L * gamma);
        DeviceBuffer draft = device.allocate(4L * gamma), u = device.allocate(4L * gamma);
        try {
            device.copyToDevice(draft, new int[gamma]);
            float[] half = new float[gamma];
            Arrays.fill(half, 0.5f);
            device.copyToDevice(u, half);
            float inv = 1f / temperature;
            Runnable stage = () -> {
                device.launch("base_softmax_rows", gamma + 1, 1, 1024, pd, pp, vocab, inv);
                device.launch("base_softmax_rows", gamma, 1, 1024, qd, qp, vocab, inv);
                device.launch("base_ratio_decide", 1, 1, 32, pp, qp, draft, u, gamma, vocab, acc);
                device.launch("base_residual", 1024, 1, 256, pp, qp, r, qv);
                device.launch("base_row_sum", gamma, 1, 1024, r, sums, vocab);
                device.launch("base_normalize", 1024, 1, 256, r, sums, vocab, qv);
                device.launch("base_sample", gamma, 1, 1024, r, u, vocab, out);
            };
            for (int i = 0; i < 5; i++) stage.run();
            double[] ms = new double[50];
            for (int i = 0; i < ms.length; i++) ms[i] = device.time(stage);
            Arrays.sort(ms);
            double unfusedMs = ms[ms.length / 2];
            emit(String.format("{\"check\":\"acceptance-fused-vs-unfused\",\"vocab\":%d,\"gamma\":%d,\"fused_ms\":%.4f,"
                    + "\"unfused_ms\":%.4f,\"speedup\":%.2f,\"pass\":%b}", vocab, gamma, fusedMs, unfusedMs, unfusedMs / fusedMs,
                    unfusedMs / fusedMs >= 2));
        } finally {
            for (DeviceBuffer b : List.of(pp, qp, r, sums, acc, out, draft, u)) device.free(b);
        }
    }

    /** Residual samples of the kernel (forced rejections) against the exact residual distribution. */
    static void chiSquare(CudaDevice device) {
        int vocab = 64, gamma = 8, launches = 4000;
        SplittableRandom r = new SplittableRandom(99);
        float[] p1 = new float[vocab], q1 = new float[vocab];
        for (int v = 0; v < vocab; v++) { p1[v] = (float) r.nextGaussian(); q1[v] = (float) r.nextGaussian(); }
        double[] ps = softmax(p1, 1), qs = softmax(q1, 1);
        int x = 0;
        for (int v = 0; v < vocab; v++) if (ps[v] / qs[v] < ps[x] / qs[x]) x = v;   // most likely to be rejected
        double[] residual = new double[vocab];
        double mass = 0;
        for (int v = 0; v < vocab; v++) mass += residual[v] = Math.max(0, ps[v] - qs[v]);
        float[] p = new float[(gamma + 1) * vocab], q = new float[gamma * vocab];
        for (int i = 0; i <= gamma; i++) System.arraycopy(p1, 0, p, i * vocab, vocab);
        for (int i = 0; i < gamma; i++) System.arraycopy(q1, 0, q, i * vocab, vocab);
        DeviceBuffer pd = device.allocate(4L * p.length), qd = device.allocate(4L * q.length);
        device.copyToDevice(pd, p);
        device.copyToDevice(qd, q);
        long[] counts = new long[vocab];
        int[] xs = new int[gamma];
        Arrays.fill(xs, x);
        float[] ua = new float[gamma];
        Arrays.fill(ua, 0.999999f);   // u >= ratio: every row rejects
        long n = 0;
        try (FusedAcceptance fa = new FusedAcceptance(device, gamma)) {
            for (int l = 0; l < launches; l++) {
                float[] us = new float[gamma + 1];
                for (int i = 0; i <= gamma; i++) us[i] = (float) r.nextDouble();
                fa.launch(pd, qd, xs, ua, us, vocab, 1f);
                int[] rows = fa.rowDecisions(gamma);
                for (int i = 0; i < gamma; i++) { counts[rows[2 * i + 1]]++; n++; }
            }
        } finally {
            device.free(pd);
            device.free(qd);
        }
        double chi = 0;
        int bins = 0;
        long outside = 0;
        for (int v = 0; v < vocab; v++) {
            double expected = n * residual[v] / mass;
            if (expected == 0) { outside += counts[v]; continue; }
            chi += (counts[v] - expected) * (counts[v] - expected) / expected;
            bins++;
        }
        int df = bins - 1;
        double z = (Math.cbrt(chi / df) - (1 - 2.0 / (9 * df))) / Math.sqrt(2.0 / (9 * df));   // Wilson–Hilferty
        double pValue = 0.5 * erfc(z / Math.sqrt(2));
        emit(String.format("{\"check\":\"fused-residual-chi2\",\"samples\":%d,\"bins\":%d,\"chi2\":%.2f,\"df\":%d,\"p_value\":%.4f,"
                + "\"samples_outside_support\":%d,\"pass\":%b}", n, bins, chi, df, pValue, outside, pValue > 0.001 && outside == 0));
    }

    static double erfc(double x) {   // Numerical Recipes erfcc, |error| < 1.2e-7
        double z = Math.abs(x), t = 1 / (1 + 0.5 * z);
        double r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
                + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }

    // ---------------------------------------------------------------------------------------------------------
    // HuggingFace comparison: export, then teacher-forced logits on the GPU
    // ---------------------------------------------------------------------------------------------------------
    static final ModelConfig HF_SMALL = RandomHostModels.config(512, 1408, 4, 8, 2, 4096, RopeStyle.HALF,
            new RopeScaling.None(), false, false, false, 0);

    static void hfExport(Path dir) throws IOException {
        Files.createDirectories(dir);
        ModelConfig c = HF_SMALL;
        try (Arena arena = Arena.ofConfined()) {
            TransformerWeights w = RandomHostModels.weights(c, 5, arena);
            SafetensorsWriter sw = new SafetensorsWriter().metadata("format", "pt");
            add(sw, "model.embed_tokens.weight", w.tokenEmbedding());
            for (int l = 0; l < c.layers(); l++) {
                LayerWeights lw = w.layers().get(l);
                String p = "model.layers." + l + ".";
                add(sw, p + "input_layernorm.weight", lw.attentionNorm());
                add(sw, p + "self_attn.q_proj.weight", lw.wq());
                add(sw, p + "self_attn.k_proj.weight", lw.wk());
                add(sw, p + "self_attn.v_proj.weight", lw.wv());
                add(sw, p + "self_attn.o_proj.weight", lw.wo());
                add(sw, p + "post_attention_layernorm.weight", lw.ffnNorm());
                add(sw, p + "mlp.gate_proj.weight", lw.wGate());
                add(sw, p + "mlp.up_proj.weight", lw.wUp());
                add(sw, p + "mlp.down_proj.weight", lw.wDown());
            }
            add(sw, "model.norm.weight", w.finalNorm());
            add(sw, "lm_head.weight", w.output());
            sw.write(dir.resolve("model.safetensors"));
        }
        Files.writeString(dir.resolve("config.json"), String.format("""
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": %d, "intermediate_size": %d,
                 "num_hidden_layers": %d, "num_attention_heads": %d, "num_key_value_heads": %d, "head_dim": %d,
                 "vocab_size": %d, "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
                 "tie_word_embeddings": false, "attention_bias": false, "mlp_bias": false, "hidden_act": "silu",
                 "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
                """, c.dim(), c.hiddenDim(), c.layers(), c.heads(), c.kvHeads(), c.headDim(), c.vocabSize()));
        emit("{\"check\":\"hf-export\",\"dir\":\"" + dir + "\"}");
    }

    private static void add(SafetensorsWriter sw, String name, Tensor t) {
        long[] shape = t.shape();
        int cols = t.columns();
        sw.add(name, DType.BF16, shape, (row, out) -> {
            for (int i = 0; i < cols; i++) out[i] = t.get(row * cols + i);
        });
    }

    /**
     * Teacher-forced logits of every position: with {@code prompt} > 0 the prompt is one prefill forward (cuBLAS for
     * more than 16 tokens) and every later token one decode step (the skinny kernels), so the rows come from the
     * kernels a generation runs; with 0, one prefill forward of all tokens.
     */
    static void hfLogits(CudaDevice device, Cublas cublas, Path dir, Path tokensFile, Path out, int prompt) throws IOException {
        int[] tokens = Files.readAllLines(tokensFile).stream().filter(s -> !s.isBlank()).mapToInt(s -> Integer.parseInt(s.trim())).toArray();
        if (prompt < 0 || prompt > tokens.length) throw new IllegalArgumentException("prompt " + prompt + " of " + tokens.length + " tokens");
        try (LoadedModel m = ModelFiles.load(dir);
             CudaTransformer gpu = new CudaTransformer(device, cublas, m.config(), DeviceWeights.upload(device, m.config(), m.weights()),
                     tokens.length + 16, 16)) {
            KvSequence seq = gpu.newSequence();
            float[][] logits;
            if (prompt == 0) {
                logits = gpu.forward(SequenceInput.chainAllLogits(seq, tokens));
            } else {
                logits = new float[tokens.length][];
                float[][] first = gpu.forward(SequenceInput.chainAllLogits(seq, Arrays.copyOf(tokens, prompt)));
                System.arraycopy(first, 0, logits, 0, prompt);
                for (int i = prompt; i < tokens.length; i++) {
                    logits[i] = gpu.forward(SequenceInput.chainLastLogits(seq, new int[]{tokens[i]}))[0];
                }
            }
            seq.release();
            ByteBuffer b = ByteBuffer.allocate(4 * logits.length * logits[0].length).order(ByteOrder.LITTLE_ENDIAN);
            for (float[] row : logits) for (float v : row) b.putFloat(v);
            Files.write(out, b.array());
            emit(String.format("{\"check\":\"hf-logits\",\"rows\":%d,\"vocab\":%d,\"decode_steps\":%d,\"split_activations\":%b,"
                    + "\"split_prefill\":%b,\"paired_prefill\":%b,\"kv_cache\":\"%s\",\"out\":\"%s\"}", logits.length,
                    logits[0].length, prompt == 0 ? 0 : tokens.length - prompt, gpu.splitActivations(), gpu.splitPrefill(),
                    gpu.pairedPrefill(),
                    gpu.kvCacheFormat().name().toLowerCase(java.util.Locale.ROOT), out));
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // decode speed
    // ---------------------------------------------------------------------------------------------------------
    static void bench(CudaDevice device, Cublas cublas, Path configJson, String label, int promptLen, int newTokens) {
        Path dir = Files.isDirectory(configJson) ? configJson : configJson.toAbsolutePath().getParent();
        ModelConfig c = HuggingFaceModel.config(dir);
        double bw = copyBandwidth(device);
        long t0 = System.nanoTime();
        DeviceWeights w = DeviceWeights.random(device, c, 1);
        device.synchronize();
        double genS = (System.nanoTime() - t0) / 1e9;
        long readBytes = w.matrixBytes() - (c.tiedEmbeddings() ? 0 : 2L * c.vocabSize() * c.dim());  // embedding table: one row a token
        long paramBytes = 2 * c.parameterCount();
        List<String> variants = new ArrayList<>(List.of("skinny-kernel", "skinny-kernel+graph"));
        if (cublas.problem() == null) variants.add("cublas");
        emit("{\"check\":\"cublas-probe\",\"problem\":\"" + String.valueOf(cublas.problem()).replace("\"", "'") + "\"}");
        for (String variant : variants) {
            boolean cublasOnly = variant.equals("cublas");
            System.setProperty("specdec.cuda.cublasOnly", String.valueOf(cublasOnly));
            System.setProperty("specdec.cuda.noGraphs", String.valueOf(!variant.endsWith("+graph")));
            try (CudaTransformer model = new CudaTransformer(device, cublas, c, w, promptLen + newTokens + 32, 16)) {
                benchVariant(device, c, w, model, label, variant, promptLen, newTokens, bw, readBytes, paramBytes, genS);
            } catch (RuntimeException e) {
                emit(String.format("{\"check\":\"decode-bench\",\"label\":\"%s\",\"gemm\":\"%s\",\"error\":\"%s\",\"pass\":false}",
                        label, variant, String.valueOf(e).replace("\"", "'")));
                e.printStackTrace();
            }
        }
        System.clearProperty("specdec.cuda.cublasOnly");
        System.clearProperty("specdec.cuda.noGraphs");
    }

    /**
     * Graph-mode decode with stages left out (benchmark-only {@link CudaTransformer#ABLATE_PROPERTY}): what each
     * stage (or half of a layer) really costs inside a captured step, where per-kernel profilers see no launch gaps.
     */
    static void benchAblate(CudaDevice device, Cublas cublas, Path configJson, String label) {
        // the last two halves: what an EasySpec group runs in parallel (q/k/v, RoPE, attention, o) and what it runs
        // in order on every replica (the MLP), for the layer-parallel draft stage's ceiling (docs/multi-gpu.md)
        String[] sets = {"", "ATTENTION", "NORM", "ROPE_APPEND", "SWIGLU", "NORM,ROPE_APPEND,SWIGLU",
                "ATTENTION,NORM,ROPE_APPEND,SWIGLU", "QKV,ROPE_APPEND,ATTENTION,O_PROJ", "GATE_UP,SWIGLU,DOWN", ""};
        String[][] variants = new String[sets.length][];
        for (int i = 0; i < sets.length; i++) {
            variants[i] = new String[]{"graph-without[" + sets[i].replace(",", "+") + "]", CudaTransformer.ABLATE_PROPERTY + "=" + sets[i]};
        }
        benchUnder(device, cublas, configJson, label, variants);
    }

    /**
     * Graph-mode decode under attention variants (benchmark-only): the grouped kernel at several grid sizes, the per-head
     * split-K and attention_paged kernels, no attention at all, and an empty kernel of the grouped kernel's grid.
     */
    static void benchAttention(CudaDevice device, Cublas cublas, Path configJson, String label) {
        String ablate = CudaTransformer.ABLATE_PROPERTY, splits = SplitKAttention.MAX_SPLITS_PROPERTY;
        benchUnder(device, cublas, configJson, label, new String[][]{
                {"graph-attention-grouped"}, {"graph-attention-grouped-splits1", splits + "=1"},
                {"graph-attention-grouped-splits4", splits + "=4"},
                {"graph-attention-per-head-split", SplitKAttention.NO_GQA_PROPERTY + "=true"},
                {"graph-attention-paged", SplitKAttention.DISABLE_PROPERTY + "=true"},
                {"graph-attention-none", ablate + "=ATTENTION"},
                {"graph-attention-noop-grid", ablate + "=ATTENTION_NOOP"},
                {"graph-attention-noop-grid-splits1", ablate + "=ATTENTION_NOOP", splits + "=1"},
                {"graph-attention-grouped"}});
    }

    /** One graph-mode decode (128-token prompt, 128 steps) per variant {name, property=value, ...}, same weights. */
    private static void benchUnder(CudaDevice device, Cublas cublas, Path configJson, String label, String[][] variants) {
        Path dir = Files.isDirectory(configJson) ? configJson : configJson.toAbsolutePath().getParent();
        ModelConfig c = HuggingFaceModel.config(dir);
        double bw = copyBandwidth(device);
        DeviceWeights w = DeviceWeights.random(device, c, 1);
        long readBytes = w.matrixBytes() - (c.tiedEmbeddings() ? 0 : 2L * c.vocabSize() * c.dim());
        long paramBytes = 2 * c.parameterCount();
        System.setProperty("specdec.cuda.noGraphs", "false");
        try {
            for (String[] v : variants) {
                for (int i = 1; i < v.length; i++) System.setProperty(v[i].split("=", 2)[0], v[i].split("=", 2)[1]);
                try (CudaTransformer model = new CudaTransformer(device, cublas, c, w, 128 + 128 + 32, 16)) {
                    benchVariant(device, c, w, model, label, v[0], 128, 128, bw, readBytes, paramBytes, 0);
                } finally {
                    for (int i = 1; i < v.length; i++) System.clearProperty(v[i].split("=", 2)[0]);
                }
            }
        } finally {
            System.clearProperty("specdec.cuda.noGraphs");
        }
    }

    static void benchVariant(CudaDevice device, ModelConfig c, DeviceWeights w, CudaTransformer model, String label,
                             String variant, int promptLen, int newTokens, double bw, long readBytes, long paramBytes,
                             double genS) {
        int[] prompt = new SplittableRandom(5).ints(promptLen, 0, c.vocabSize()).toArray();
        boolean splitActivations = model.splitActivations();
        double[] stepMs = new double[newTokens];
        double prefillMs = 0;
        for (int rep = 0; rep < 2; rep++) {   // first repetition warms up
            KvSequence seq = model.newSequence();
            long p0 = System.nanoTime();
            int next = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, prompt)))[0];
            prefillMs = (System.nanoTime() - p0) / 1e6;
            for (int s = 0; s < newTokens; s++) {
                long s0 = System.nanoTime();
                next = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, new int[]{next})))[0];
                stepMs[s] = (System.nanoTime() - s0) / 1e6;
            }
            seq.release();
        }
        double total = Arrays.stream(stepMs).sum();
        double[] sorted = stepMs.clone();
        Arrays.sort(sorted);
        double tokS = newTokens / (total / 1e3);
        double floorMs = paramBytes / bw * 1e3;
        double floorReadMs = readBytes / bw * 1e3;
        emit(String.format("{\"check\":\"decode-bench\",\"label\":\"%s\",\"gemm\":\"%s\",\"params\":%d,\"prompt\":%d,\"new_tokens\":%d,"
                        + "\"prefill_ms\":%.2f,\"ms_per_token_mean\":%.3f,\"ms_per_token_median\":%.3f,\"tok_s\":%.1f,"
                        + "\"d2d_GBps\":%.0f,\"floor_ms_all_params\":%.3f,\"fraction_of_floor\":%.3f,\"floor_ms_bytes_read\":%.3f,"
                        + "\"fraction_of_read_floor\":%.3f,\"weights_generated_s\":%.1f,\"programmatic_launches\":%b,"
                        + "\"early_weights\":%b,\"split_activations\":%b,\"split_prefill\":%b,\"paired_prefill\":%b,\"kv_cache\":\"%s\","
                        + "\"device\":\"%s\"}",
                label, variant, c.parameterCount(), promptLen, newTokens, prefillMs,
                total / newTokens, sorted[newTokens / 2], tokS, bw / 1e9, floorMs, floorMs / (total / newTokens),
                floorReadMs, floorReadMs / (total / newTokens), genS, device.programmaticLaunches(),
                model.earlyWeights(),
                splitActivations, model.splitPrefill(), model.pairedPrefill(), model.kvCacheFormat().name().toLowerCase(java.util.Locale.ROOT),
                device.name()));
    }

    // ---------------------------------------------------------------------------------------------------------
    // speculative speedup under acceptance injection
    // ---------------------------------------------------------------------------------------------------------
    static ModelConfig configOf(Path json) {
        return HuggingFaceModel.config(Files.isDirectory(json) ? json : json.toAbsolutePath().getParent());
    }

    /**
     * ACCEPTANCE-INJECTION BENCHMARK MODE (never available to serving): the draft runs for real, but each proposal is
     * replaced, with probability α, by the target's known greedy continuation (from a vanilla run), else by another
     * token; the target verifies greedily. Measures speedup vs vanilla decoding against the analytic bound
     * (1-α^(γ+1))/((1-α)(γc+1)) with c = draft step time / target step time, and checks the output equals vanilla.
     */
    static void specBench(CudaDevice device, Cublas cublas, Path targetJson, Path draftJson, int promptLen, int newTokens) {
        ModelConfig tc = configOf(targetJson), dc = configOf(draftJson);
        DeviceWeights tw = DeviceWeights.random(device, tc, 1), dw = DeviceWeights.random(device, dc, 2);
        int vocab = tc.vocabSize();
        try (CudaTransformer target = new CudaTransformer(device, cublas, tc, tw, promptLen + newTokens + 64, 16);
             CudaTransformer draft = new CudaTransformer(device, cublas, dc, dw, promptLen + newTokens + 64, 16)) {
            int[] prompt = new SplittableRandom(5).ints(promptLen, 0, vocab).toArray();
            int[] greedy = new int[newTokens];
            double targetStep = decodeMsPerToken(target, prompt, greedy);
            double draftStep = decodeMsPerToken(draft, prompt, new int[64]);
            double c = draftStep / targetStep;
            for (int gamma : new int[]{3, 4, 5, 6, 7, 8}) {
                for (double alpha : new double[]{0.6, 0.8, 0.9}) {
                    SplittableRandom r = new SplittableRandom(gamma * 1000L + Math.round(alpha * 100));
                    KvSequence tseq = target.newSequence(), dseq = draft.newSequence();
                    List<Integer> out = new ArrayList<>();
                    out.add(target.forwardArgmax(List.of(SequenceInput.chainLastLogits(tseq, prompt)))[0]);
                    draft.forwardArgmax(List.of(SequenceInput.chainLastLogits(dseq, prompt)));
                    int last = out.getFirst();
                    int[] pending = {last};
                    int rounds = 0, acceptedTotal = 0;
                    long t0 = System.nanoTime();
                    while (out.size() < newTokens) {
                        int n = out.size();
                        int[] x = new int[gamma];
                        int[] feed = pending;
                        for (int i = 0; i < gamma; i++) {
                            int proposal = draft.forwardArgmax(List.of(SequenceInput.chainLastLogits(dseq, feed)))[0];
                            int truth = n + i < greedy.length ? greedy[n + i] : proposal;
                            x[i] = r.nextDouble() < alpha ? truth : (truth + 1) % vocab;
                            feed = new int[]{x[i]};
                        }
                        int[] chunk = new int[gamma + 1];
                        chunk[0] = last;
                        System.arraycopy(x, 0, chunk, 1, gamma);
                        int[] am = target.forwardArgmax(List.of(SequenceInput.chainAllLogits(tseq, chunk)));
                        int a = SpeculativeSampler.Outcome.greedy(x, am, 0).accepted();
                        for (int i = 0; i < a; i++) out.add(x[i]);
                        out.add(am[a]);
                        tseq.truncate(tseq.length() - (gamma - a));
                        if (a == gamma) {
                            pending = new int[]{x[gamma - 1], am[gamma]};
                        } else {
                            dseq.truncate(dseq.length() - (gamma - 1 - a));
                            pending = new int[]{am[a]};
                        }
                        last = am[a];
                        rounds++;
                        acceptedTotal += a;
                    }
                    double ms = (System.nanoTime() - t0) / 1e6;
                    int produced = out.size() - 1;
                    boolean lossless = true;
                    for (int i = 0; i < Math.min(out.size(), greedy.length); i++) lossless &= out.get(i) == greedy[i];
                    tseq.release();
                    dseq.release();
                    double speedup = targetStep / (ms / produced);
                    double bound = (1 - Math.pow(alpha, gamma + 1)) / ((1 - alpha) * (gamma * c + 1));
                    emit(String.format("{\"check\":\"spec-bench-injected\",\"gamma\":%d,\"alpha\":%.2f,\"c\":%.4f,"
                                    + "\"target_ms_per_token\":%.3f,\"draft_ms_per_token\":%.3f,\"spec_ms_per_token\":%.3f,"
                                    + "\"mean_accepted\":%.2f,\"speedup\":%.3f,\"bound\":%.3f,\"efficiency\":%.3f,\"pass\":%b}",
                            gamma, alpha, c, targetStep, draftStep, ms / produced, acceptedTotal / (double) rounds, speedup,
                            bound, speedup / bound, lossless));
                }
            }
        }
    }

    /** Greedy decode after a prefill, twice (the first warms up); fills {@code tokens}; returns ms per decode step. */
    static double decodeMsPerToken(CudaTransformer model, int[] prompt, int[] tokens) {
        double ms = 0;
        for (int rep = 0; rep < 2; rep++) {
            KvSequence seq = model.newSequence();
            tokens[0] = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, prompt)))[0];
            long t0 = System.nanoTime();
            for (int s = 1; s < tokens.length; s++) {
                tokens[s] = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, new int[]{tokens[s - 1]})))[0];
            }
            ms = (System.nanoTime() - t0) / 1e6 / (tokens.length - 1);
            seq.release();
        }
        return ms;
    }

    /** Device-to-device copy bandwidth counting bytes read plus written (median of 10 copies of 1 GiB). */
    static double copyBandwidth(CudaDevice device) {
        long n = 1L << 30;
        DeviceBuffer a = device.allocate(n), b = device.allocate(n);
        try {
            device.launch("fill_f32", 4096, 1, 256, a, n / 4, 1.5f);
            device.copy(b, a, n);
            double[] ms = new double[10];
            for (int i = 0; i < ms.length; i++) ms[i] = device.time(() -> device.copy(b, a, n));
            Arrays.sort(ms);
            return 2.0 * n / (ms[ms.length / 2] / 1e3);
        } finally {
            device.free(a);
            device.free(b);
        }
    }
}
