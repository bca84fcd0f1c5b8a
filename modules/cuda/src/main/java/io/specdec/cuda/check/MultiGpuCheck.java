package io.specdec.cuda.check;

import io.specdec.core.speculative.SpeculativeSampler;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.format.hf.HuggingFaceModel;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.parallel.CalibrationPolicy;
import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.TokenHistory;
import io.specdec.core.speculative.CardDrafter;
import io.specdec.core.speculative.ChainDraft;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.CudaLayerParallelModel;
import io.specdec.cuda.CudaRank;
import io.specdec.cuda.CudaTensorParallelModel;
import io.specdec.cuda.CudaTransformer;
import io.specdec.cuda.DeviceBuffer;
import io.specdec.cuda.DeviceWeights;
import io.specdec.cuda.Collectives;
import io.specdec.cuda.Nccl;
import io.specdec.cuda.check.CheckResults.Status;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * The multi-GPU checks and benchmarks of issues 6 and 8, run on a GPU host from the distribution
 * (bench/gpu/multi.sh; flags in {@link MultiGpuArgs}). Stages:
 * <pre>
 *   a  NCCL sanity (all-reduce, all-gather, broadcast, graph-captured all-reduce, ncclCommInitRank, latencies);
 *      TP=N logits vs TP=1 on the same random weights (small configs, Llama-3-8B shape): prefill, 64 teacher-forced
 *      decode steps, a verify chunk; max relative L2 error, argmax agreement, free-running greedy equal prefix
 *   b  Llama-3-70B shape (bf16 random weights generated on the GPUs) TP=N greedy decode: tok/s vs the HBM floor
 *      (per-GPU copy bandwidth × N / weight bytes), with and without CUDA graphs
 *   c  standard speculative decoding, 70B-shape TP=N target + Llama-3.2-1B-shape draft on GPU 0, γ and α swept,
 *      ACCEPTANCE INJECTION (benchmark only: with probability α a proposal is replaced by the target's known greedy
 *      continuation, else by another token), output checked equal to vanilla greedy
 *   d  EasySpec (docs/ALGORITHMS.md §3): the 1B-shape draft replicated on 2 (and 4) GPUs; exact == single GPU,
 *      fuzzy on N GPUs == fuzzy emulated on one, fuzzy-vs-exact draft agreement, draft-stage time per token vs
 *      sequential, end-to-end tok/s per calibration policy vs standard speculative decoding (injection as in c)
 *   e  c and d with a Llama-3-8B-shape draft
 * </pre>
 * Every check is caught on its own (a FAILED line, then the next); each stage runs under a time limit, after which
 * the program writes what it has and exits (a GPU thread stuck in a collective cannot be stopped otherwise).
 */
public final class MultiGpuCheck {
    private final MultiGpuArgs args;
    private final CheckResults results;
    private final List<CudaRank> ranks;
    private CudaTensorParallelModel target;
    private int[] targetGreedy;
    private double targetMsPerToken;
    /** Standard speculative decoding results by draft label, γ, α: ms per token. */
    private final Map<String, Double> standardMs = new HashMap<>();
    private final Map<String, Integer> bestGamma = new HashMap<>();
    private long stageDeadline;
    private volatile String currentStage = "setup";

    private MultiGpuCheck(MultiGpuArgs args, CheckResults results, List<CudaRank> ranks) {
        this.args = args;
        this.results = results;
        this.ranks = ranks;
    }

    public static void main(String[] argv) throws Exception {
        Locale.setDefault(Locale.ROOT);
        MultiGpuArgs args;
        try {
            args = MultiGpuArgs.parse(argv, Math.max(1, CudaDevice.count()), Collectives.sharedGpuRanks());
        } catch (IllegalArgumentException e) {
            System.err.println("MultiGpuCheck: " + e.getMessage());
            System.err.println("usage: MultiGpuCheck --out DIR [--stages a,b,c,d,e|all] [--gpus N] [--time-limit S] [--configs DIR]"
                    + " [--prompt P] [--new-tokens T] [--gammas 3,4] [--alphas 0.6,0.8] [--sizes 2,4] [--edge E] [--graphs on|off|both]");
            System.exit(2);
            return;
        }
        CheckResults results = new CheckResults(args.out());
        String tag = String.join("", args.stages());
        String unavailable = CudaDevice.unavailableReason().orElse(null);
        if (unavailable != null) {
            results.add("setup", "gpus", Status.FAIL, "error", unavailable);
            finish(results, tag, 1);
        }
        List<CudaRank> ranks;
        try {
            ranks = CudaRank.open(args.gpus());
            List<String> names = new ArrayList<>();
            for (CudaRank r : ranks) names.add(r.device().name());
            results.add("setup", "gpus", Status.INFO, "gpus", args.gpus(), "names", String.join(", ", names),
                    "nccl_version", ncclVersion(), "nvls_env", String.valueOf(System.getenv("NCCL_NVLS_ENABLE")));
        } catch (Throwable t) {
            results.fail("setup", "open-gpus", t);
            finish(results, tag, 1);
            return;
        }
        MultiGpuCheck check = new MultiGpuCheck(args, results, ranks);
        int rc = 0;
        for (String stage : args.stages()) {
            if (!check.runStage(stage)) {
                rc = 3;
                for (String rest : args.stages().subList(args.stages().indexOf(stage) + 1, args.stages().size())) {
                    results.add(rest, "stage", Status.SKIP, "reason", "stage " + stage + " hit its time limit; GPUs may be stuck");
                }
                finish(results, tag, rc);   // halts: a GPU thread may be stuck in a collective
            }
        }
        try {
            if (check.target != null) check.target.close();
            ranks.forEach(CudaRank::close);
        } catch (Throwable t) {
            System.err.println("[multi-gpu check] closing: " + t);
        }
        finish(results, tag, rc);
    }

    private static Object ncclVersion() {
        try {
            return Nccl.version();
        } catch (Throwable t) {
            return "unavailable: " + t;
        }
    }

    private static void finish(CheckResults results, String tag, int rc) {
        results.writeTable("table-" + tag + ".txt");
        System.out.println();
        System.out.println("=== multi-GPU check summary ===");
        System.out.print(results.table());
        System.out.flush();
        Runtime.getRuntime().halt(rc);
    }

    /** Runs one stage on its own thread under the time limit; false when the limit was hit. */
    private boolean runStage(String stage) throws InterruptedException {
        long t0 = System.nanoTime();
        stageDeadline = t0 + args.timeLimitSeconds() * 1_000_000_000L;
        currentStage = stage;
        Thread worker = new Thread(() -> {
            try {
                switch (stage) {
                    case "a" -> stageA();
                    case "b" -> stageB();
                    case "c" -> standardSpeculation("1b", draftConfig("llama-3.2-1b"));
                    case "d" -> easySpec("1b", draftConfig("llama-3.2-1b"));
                    case "e" -> {
                        ModelConfig d8 = draftConfig("llama-3-8b");
                        standardSpeculation("8b", d8);
                        easySpec("8b", d8);
                    }
                    case "f" -> card(draftConfig("llama-3.2-1b"));
                    case "g" -> new TpChainCheck(ranks, results, args.configs(), bundledModels()).run();
                    default -> throw new IllegalArgumentException(stage);
                }
            } catch (Throwable t) {
                results.fail(stage, "stage", t);
            }
        }, "stage-" + stage);
        worker.setDaemon(true);
        worker.start();
        worker.join(args.timeLimitSeconds() * 1000L);
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (worker.isAlive()) {
            results.add(stage, "stage", Status.FAIL, "error", "time limit of " + args.timeLimitSeconds() + " s exceeded", "seconds", seconds);
            return false;
        }
        results.add(stage, "stage-done", Status.INFO, "seconds", seconds);
        return true;
    }

    private boolean timeLeft(double fraction) {
        long left = stageDeadline - System.nanoTime();
        return left > fraction * args.timeLimitSeconds() * 1e9;
    }

    /** Runs one check, catching its failure so the next one runs. */
    private void check(String stage, String name, Runnable body) {
        if (!timeLeft(0.05)) {
            results.add(stage, name, Status.SKIP, "reason", "stage time limit nearly reached");
            return;
        }
        try {
            body.run();
        } catch (Throwable t) {
            results.fail(stage, name, t);
        }
    }

    /** The bundled pair's folder: {@code -Dspecdec.check.models}, else models/ of the distribution the configs are in. */
    private Path bundledModels() {
        String set = System.getProperty("specdec.check.models");
        return set != null ? Path.of(set) : args.configs().toAbsolutePath().resolve("../../models").normalize();
    }

    private ModelConfig draftConfig(String name) {
        return config(name);
    }

    private ModelConfig config(String name) {
        Path dir = args.configs().resolve(name);
        return HuggingFaceModel.config(dir);
    }

    private <T> List<T> onAll(List<CudaRank> on, IntFunction<Callable<T>> work) {
        List<Future<T>> f = new ArrayList<>();
        for (int i = 0; i < on.size(); i++) f.add(on.get(i).submit(work.apply(i)));
        List<T> out = new ArrayList<>();
        for (Future<T> x : f) {
            try {
                out.add(x.get());
            } catch (Exception e) {
                throw new IllegalStateException("on a GPU thread: " + (e.getCause() != null ? e.getCause() : e), e);
            }
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------------------------
    // a: NCCL sanity, TP=N vs TP=1
    // ---------------------------------------------------------------------------------------------------------
    private void stageA() {
        int n = ranks.size();
        check("a", "nccl-collectives", this::ncclCollectives);
        check("a", "nccl-init-rank", this::ncclInitRank);
        List<Object[]> cases = List.of(
                new Object[]{"small-untied", RandomHostModels.config(512, 1408, 4, 8, 4, 4096, RopeStyle.HALF, new RopeScaling.None(), false, false, false, 0)},
                new Object[]{"small-tied-qwen2bias", RandomHostModels.config(256, 768, 3, 8, 4, 2048, RopeStyle.HALF, new RopeScaling.None(), true, true, false, 0)},
                new Object[]{"llama-3-8b", config("llama-3-8b")});
        for (Object[] c : cases) check("a", "tp" + n + "-vs-tp1-" + c[0], () -> tpVersusOne((String) c[0], (ModelConfig) c[1]));
    }

    private void ncclCollectives() {
        int n = ranks.size();
        if (n < 2) {
            results.add("a", "nccl-collectives", Status.SKIP, "reason", "one GPU");
            return;
        }
        Collectives[] comms = Collectives.forDevices(ranks.stream().map(CudaRank::device).toArray(CudaDevice[]::new));
        try {
            List<String> outcome = onAll(ranks, r -> () -> {
                CudaDevice d = ranks.get(r).device();
                Collectives c = comms[r];
                int count = 8192;   // 32 KB: one token of the 70B shape's residual in f32
                DeviceBuffer a = d.allocate(4L * count), g = d.allocate(4L * count * n);
                List<String> problems = new ArrayList<>();
                try {
                    d.launch("fill_f32", 8, 1, 256, a, (long) count, (float) (r + 1));
                    c.allReduceSum(a, count);
                    float[] h = new float[count];
                    d.copyToHost(h, a, count);
                    if (h[0] != n * (n + 1) / 2f || h[count - 1] != n * (n + 1) / 2f) problems.add("all-reduce gave " + h[0]);
                    d.launch("fill_f32", 8, 1, 256, a, (long) count, (float) (r + 1));
                    c.allGather(a, g, count, Nccl.Type.F32);
                    float[] all = new float[count * n];
                    d.copyToHost(all, g, all.length);
                    for (int p = 0; p < n; p++) if (all[p * count + 7] != p + 1) problems.add("all-gather part " + p + " = " + all[p * count + 7]);
                    d.launch("fill_f32", 8, 1, 256, a, (long) count, (float) (r + 1));
                    c.broadcast(a, count, Nccl.Type.F32, n - 1);
                    d.copyToHost(h, a, count);
                    if (h[5] != n) problems.add("broadcast gave " + h[5]);
                    // a captured all-reduce, replayed: decode steps of the TP target are graphs with NCCL inside
                    String graph = "ok";
                    if (c.capturable()) try {
                        d.beginCapture();
                        c.allReduceSum(a, count);
                        var exec = d.endCapture();
                        for (int rep = 0; rep < 3; rep++) {
                            d.launch("fill_f32", 8, 1, 256, a, (long) count, 1f);
                            d.launchGraph(exec);
                            d.copyToHost(h, a, count);
                            if (h[3] != n) problems.add("graph all-reduce replay " + rep + " gave " + h[3]);
                        }
                        d.destroyGraph(exec);
                    } catch (RuntimeException e) {
                        d.abandonCapture();
                        graph = "capture failed: " + e;
                        problems.add(graph);
                    }
                    // latencies of the sizes the models move per decode token (eager, 200 back to back)
                    double arUs = loopUs(d, () -> c.allReduceSum(a, 2048));
                    double ar32kUs = loopUs(d, () -> c.allReduceSum(a, 8192));
                    double agUs = loopUs(d, () -> c.allGather(a.slice(0, 4L * 2048), g, 2048, Nccl.Type.F32));
                    return String.join("; ", problems) + "|" + arUs + "|" + agUs + "|" + ar32kUs;
                } finally {
                    d.free(a);
                    d.free(g);
                }
            });
            String[] first = outcome.getFirst().split("\\|");
            List<String> problems = outcome.stream().map(s -> s.split("\\|")[0]).filter(s -> !s.isEmpty()).toList();
            results.add("a", "nccl-collectives", problems.isEmpty() ? Status.PASS : Status.FAIL, "ranks", n,
                    "transport", comms[0].capturable() ? "nccl" : "host-staged (ranks share a GPU: latencies mean nothing)",
                    "allreduce_8KB_us", Double.parseDouble(first[1]), "allgather_8KB_per_rank_us", Double.parseDouble(first[2]),
                    "allreduce_32KB_us", Double.parseDouble(first[3]),
                    "problems", String.join(" / ", problems));
        } finally {
            onAll(ranks, r -> () -> {
                comms[r].close();
                return null;
            });
        }
    }

    /** Microseconds per call of {@code op} over 200 calls after 20 warm-up calls (wall time to completion). */
    private static double loopUs(CudaDevice d, Runnable op) {
        for (int i = 0; i < 20; i++) op.run();
        d.synchronize();
        long t0 = System.nanoTime();
        for (int i = 0; i < 200; i++) op.run();
        d.synchronize();
        return (System.nanoTime() - t0) / 1e3 / 200;
    }

    /** The one-JVM-per-GPU bootstrap (unique id handed out, every rank joins) exercised with threads. */
    private void ncclInitRank() {
        int n = ranks.size();
        if (n < 2) {
            results.add("a", "nccl-init-rank", Status.SKIP, "reason", "one GPU");
            return;
        }
        byte[] id = Nccl.uniqueId();
        List<Float> sums = onAll(ranks, r -> () -> {
            CudaDevice d = ranks.get(r).device();
            try (Collectives c = Collectives.join(d, id, n, r)) {
                DeviceBuffer a = d.allocate(4096);
                try {
                    d.launch("fill_f32", 4, 1, 256, a, 1024L, 2f);
                    c.allReduceSum(a, 1024);
                    float[] h = new float[1024];
                    d.copyToHost(h, a, 1024);
                    return h[1000];
                } finally {
                    d.free(a);
                }
            }
        });
        boolean ok = sums.stream().allMatch(s -> s == 2f * n);
        results.add("a", "nccl-init-rank", ok ? Status.PASS : Status.FAIL, "sums", sums.toString(), "expected", 2 * n);
    }

    /** TP=N vs TP=1 on the same random weights; see the class comment. */
    private void tpVersusOne(String label, ModelConfig c) {
        int n = ranks.size();
        SplittableRandom r = new SplittableRandom(17);
        int[] prompt = r.ints(24, 0, c.vocabSize()).toArray();
        int[] verify = r.ints(5, 0, c.vocabSize()).toArray();
        int steps = 64;
        List<float[][]> ref = new ArrayList<>();
        int[] refTokens = new int[steps + 1];
        try (CudaTensorParallelModel one = CudaTensorParallelModel.random(ranks.subList(0, 1), c, 3, 256)) {
            KvSequence s = one.newSequence();
            float[][] p = one.forward(SequenceInput.chainAllLogits(s, prompt));
            ref.add(p);
            refTokens[0] = GpuCheck.argmax(p[p.length - 1]);
            for (int i = 1; i <= steps; i++) {
                float[][] l = one.forward(SequenceInput.chainLastLogits(s, new int[]{refTokens[i - 1]}));
                ref.add(l);
                refTokens[i] = GpuCheck.argmax(l[0]);
            }
            ref.add(one.forward(SequenceInput.chainAllLogits(s, verify)));
            s.release();
        }
        if (n < 2) {
            results.add("a", "tp-vs-tp1-" + label, Status.SKIP, "reason", "one GPU");
            return;
        }
        try (CudaTensorParallelModel tp = CudaTensorParallelModel.random(ranks, c, 3, 256)) {
            KvSequence s = tp.newSequence();
            double worst = 0;
            int agree = 0, rows = 0;
            List<float[][]> got = new ArrayList<>();
            got.add(tp.forward(SequenceInput.chainAllLogits(s, prompt)));
            for (int i = 1; i <= steps; i++) got.add(tp.forward(SequenceInput.chainLastLogits(s, new int[]{refTokens[i - 1]})));
            got.add(tp.forward(SequenceInput.chainAllLogits(s, verify)));
            s.release();
            for (int i = 0; i < ref.size(); i++) {
                double[] e = GpuCheck.compare(ref.get(i), got.get(i));
                worst = Math.max(worst, e[0]);
                agree += (int) e[1];
                rows += (int) e[2];
            }
            // free-running greedy on the TP model, compared with TP=1's greedy tokens
            KvSequence g = tp.newSequence();
            int next = tp.forwardArgmax(List.of(SequenceInput.chainLastLogits(g, prompt)))[0];
            int equal = 0;
            boolean same = true;
            for (int i = 0; i <= steps; i++) {
                same &= next == refTokens[i];
                if (same) equal++;
                if (i < steps) next = tp.forwardArgmax(List.of(SequenceInput.chainLastLogits(g, new int[]{next})))[0];
            }
            g.release();
            boolean pass = worst <= 2e-2 && agree >= 0.95 * rows;
            results.add("a", "tp" + n + "-vs-tp1-" + label, pass ? Status.PASS : Status.FAIL, "params", c.parameterCount(),
                    "max_rel_l2", worst, "argmax_agree", agree, "rows", rows, "greedy_equal_prefix", equal, "greedy_steps", steps + 1);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // b: 70B-shape TP decode vs HBM floor
    // ---------------------------------------------------------------------------------------------------------
    private CudaTensorParallelModel target() {
        if (target == null) {
            ModelConfig c = config("llama-3-70b");
            long t0 = System.nanoTime();
            target = CudaTensorParallelModel.random(ranks, c, 1, args.prompt() + args.newTokens() + 64);
            onAll(ranks, r -> () -> {
                ranks.get(r).device().synchronize();
                return null;
            });
            results.add(currentStage, "target-70b-weights", Status.INFO, "tp", ranks.size(), "params", c.parameterCount(),
                    "weight_bytes_read_per_token", target.weightBytesRead(), "generated_s", (System.nanoTime() - t0) / 1e9,
                    "gpu0_allocated_GB", ranks.getFirst().device().allocatedBytes() / 1e9);
        }
        return target;
    }

    private void stageB() {
        CudaTensorParallelModel t = target();
        List<Double> bw = onAll(ranks, r -> () -> GpuCheck.copyBandwidth(ranks.get(r).device()));
        double minBw = bw.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
        int n = ranks.size();
        double floorMs = t.weightBytesRead() / (minBw * n) * 1e3;
        for (boolean graphs : args.graphs()) {
            check("b", "decode-70b-tp" + n + (graphs ? "-graphs" : "-eager"), () -> {
                t.useGraphs(graphs);
                Decode d = decode(t, args.prompt(), args.newTokens());
                double mean = Arrays.stream(d.stepMs).average().orElseThrow();
                double[] sorted = d.stepMs.clone();
                Arrays.sort(sorted);
                results.add("b", "decode-70b-tp" + n + (graphs ? "-graphs" : "-eager"), Status.INFO, "tp", n, "graphs", graphs,
                        "prompt", args.prompt(), "new_tokens", args.newTokens(), "prefill_ms", d.prefillMs,
                        "ms_per_token_mean", mean, "ms_per_token_median", sorted[sorted.length / 2], "tok_s", 1e3 / mean,
                        "d2d_GBps_min", minBw / 1e9, "floor_ms", floorMs, "fraction_of_floor", floorMs / mean);
            });
        }
        t.useGraphs(args.graphs().getFirst());
    }

    record Decode(int[] tokens, double prefillMs, double[] stepMs) {
    }

    /** Greedy decode of {@code newTokens} tokens (token 0 from the prefill) after 8 warm-up steps on another sequence. */
    private static Decode decode(CudaTensorParallelModel m, int promptLen, int newTokens) {
        int[] prompt = new SplittableRandom(5).ints(promptLen, 0, m.config().vocabSize()).toArray();
        KvSequence w = m.newSequence();
        int x = m.forwardArgmax(List.of(SequenceInput.chainLastLogits(w, prompt)))[0];
        for (int i = 0; i < 8; i++) x = m.forwardArgmax(List.of(SequenceInput.chainLastLogits(w, new int[]{x})))[0];
        w.release();
        KvSequence s = m.newSequence();
        int[] tokens = new int[newTokens];
        double[] stepMs = new double[newTokens - 1];
        long p0 = System.nanoTime();
        tokens[0] = m.forwardArgmax(List.of(SequenceInput.chainLastLogits(s, prompt)))[0];
        double prefillMs = (System.nanoTime() - p0) / 1e6;
        for (int i = 1; i < newTokens; i++) {
            long t0 = System.nanoTime();
            tokens[i] = m.forwardArgmax(List.of(SequenceInput.chainLastLogits(s, new int[]{tokens[i - 1]})))[0];
            stepMs[i - 1] = (System.nanoTime() - t0) / 1e6;
        }
        s.release();
        return new Decode(tokens, prefillMs, stepMs);
    }

    private int[] prompt() {   // the 70B config's vocabulary, without building the target
        return new SplittableRandom(5).ints(args.prompt(), 0, config("llama-3-70b").vocabSize()).toArray();
    }

    /** The target's greedy continuation of the prompt (what acceptance injection substitutes) and its ms per token. */
    private int[] targetGreedy() {
        if (targetGreedy == null) {
            Decode d = decode(target(), args.prompt(), args.newTokens());
            targetGreedy = d.tokens;
            targetMsPerToken = Arrays.stream(d.stepMs).average().orElseThrow();
        }
        return targetGreedy;
    }

    // ---------------------------------------------------------------------------------------------------------
    // c: standard speculative decoding (draft on GPU 0), acceptance injection
    // ---------------------------------------------------------------------------------------------------------
    /** What the speculative loop needs from a draft; argmax of the last row of each forward. */
    interface Draft {
        KvSequence newSequence();

        int exact(KvSequence s, int[] tokens);

        int fuzzy(KvSequence s, int[] tokens);
    }

    private Draft plainDraft(CudaTransformer draft) {
        CudaRank on = ranks.getFirst();
        return new Draft() {
            @Override public KvSequence newSequence() { return draft.newSequence(); }

            @Override public int exact(KvSequence s, int[] tokens) {
                return on.call(() -> draft.forwardArgmax(List.of(SequenceInput.chainLastLogits(s, tokens)))[0]);
            }

            @Override public int fuzzy(KvSequence s, int[] tokens) { return exact(s, tokens); }
        };
    }

    private static Draft layerParallelDraft(CudaLayerParallelModel lp) {
        return new Draft() {
            @Override public KvSequence newSequence() { return lp.newSequence(); }

            @Override public int exact(KvSequence s, int[] tokens) {
                return lp.forwardArgmax(List.of(SequenceInput.chainLastLogits(s, tokens)))[0];
            }

            @Override public int fuzzy(KvSequence s, int[] tokens) {
                return lp.forwardFuzzyArgmax(List.of(SequenceInput.chainLastLogits(s, tokens)))[0];
            }
        };
    }

    /** Draft ms per decode step (exact, or fuzzy) over 64 steps after a prefill of the prompt. */
    private double draftMsPerToken(Draft d, boolean fuzzy) {
        int[] prompt = prompt();
        for (int rep = 0; rep < 2; rep++) {   // the first warms up (graph capture)
            KvSequence s = d.newSequence();
            int x = d.exact(s, prompt);
            long t0 = System.nanoTime();
            for (int i = 0; i < 64; i++) x = fuzzy ? d.fuzzy(s, new int[]{x}) : d.exact(s, new int[]{x});
            double ms = (System.nanoTime() - t0) / 1e6 / 64;
            s.release();
            if (rep == 1) return ms;
        }
        throw new AssertionError();
    }

    record Spec(double msPerToken, double draftMsPerToken, double meanAccepted, int rounds, int produced, boolean lossless) {
    }

    /**
     * ACCEPTANCE INJECTION (benchmark only): the draft runs for real, each proposal is replaced with probability α by
     * the target's greedy continuation, else by another token; the target verifies greedily. {@code policy} null:
     * every draft forward exact (standard speculative decoding); else EasySpec: fuzzy draft forwards, calibrated per
     * policy (crop the draft KV to the last exact position, feed everything after it exactly).
     */
    private Spec speculate(Draft draft, int gamma, double alpha, CalibrationPolicy policy) {
        return speculate(target(), targetGreedy(), prompt(), draft, gamma, alpha, policy);
    }

    private Spec speculate(CudaTensorParallelModel t, int[] greedy, int[] prompt, Draft draft, int gamma, double alpha,
                           CalibrationPolicy policy) {
        int vocab = t.config().vocabSize(), newTokens = args.newTokens();
        SplittableRandom r = new SplittableRandom(gamma * 1000L + Math.round(alpha * 100));
        KvSequence tseq = t.newSequence(), dseq = draft.newSequence();
        try {
            List<Integer> ctx = new ArrayList<>();
            for (int p : prompt) ctx.add(p);
            int first = t.forwardArgmax(List.of(SequenceInput.chainLastLogits(tseq, prompt)))[0];
            draft.exact(dseq, prompt);
            int exactUpTo = prompt.length;
            List<Integer> out = new ArrayList<>(List.of(first));
            ctx.add(first);
            int[] pending = {first};
            int last = first;
            boolean lastRoundFull = false;
            long draftNs = 0;
            int drafted = 0, rounds = 0, accepted = 0;
            long t0 = System.nanoTime();
            while (out.size() < newTokens) {
                int n = out.size();
                int[] x = new int[gamma];
                long d0 = System.nanoTime();
                int proposal;
                boolean calibrate = policy == CalibrationPolicy.EVERY_ROUND || (policy == CalibrationPolicy.EVERY_MISMATCH && !lastRoundFull);
                if (policy == null) {
                    proposal = draft.exact(dseq, pending);
                } else if (calibrate) {
                    dseq.truncate(exactUpTo);
                    int[] rest = new int[ctx.size() - exactUpTo];
                    for (int i = 0; i < rest.length; i++) rest[i] = ctx.get(exactUpTo + i);
                    proposal = draft.exact(dseq, rest);
                    exactUpTo = ctx.size();
                } else {
                    proposal = draft.fuzzy(dseq, pending);
                }
                for (int i = 0; i < gamma; i++) {
                    if (i > 0) {
                        int[] feed = {x[i - 1]};
                        proposal = policy == null ? draft.exact(dseq, feed) : draft.fuzzy(dseq, feed);
                    }
                    int truth = n + i < greedy.length ? greedy[n + i] : proposal;
                    x[i] = r.nextDouble() < alpha ? truth : (truth + 1) % vocab;
                }
                draftNs += System.nanoTime() - d0;
                drafted += gamma;
                int[] chunk = new int[gamma + 1];
                chunk[0] = last;
                System.arraycopy(x, 0, chunk, 1, gamma);
                int[] am = t.forwardArgmax(List.of(SequenceInput.chainAllLogits(tseq, chunk)));
                int a = SpeculativeSampler.Outcome.greedy(x, am, 0).accepted();
                for (int i = 0; i < a; i++) {
                    out.add(x[i]);
                    ctx.add(x[i]);
                }
                out.add(am[a]);
                ctx.add(am[a]);
                tseq.truncate(tseq.length() - (gamma - a));
                if (a == gamma) {
                    pending = new int[]{x[gamma - 1], am[gamma]};
                } else {
                    dseq.truncate(dseq.length() - (gamma - 1 - a));
                    pending = new int[]{am[a]};
                }
                last = am[a];
                lastRoundFull = a == gamma;
                rounds++;
                accepted += a;
            }
            double ms = (System.nanoTime() - t0) / 1e6;
            int produced = out.size() - 1;
            boolean lossless = true;
            for (int i = 0; i < Math.min(out.size(), greedy.length); i++) lossless &= out.get(i) == greedy[i];
            return new Spec(ms / produced, draftNs / 1e6 / drafted, accepted / (double) rounds, rounds, produced, lossless);
        } finally {
            tseq.release();
            dseq.release();
        }
    }

    private static double bound(double alpha, int gamma, double c) {
        return (1 - Math.pow(alpha, gamma + 1)) / ((1 - alpha) * (gamma * c + 1));
    }

    private static String key(String label, int gamma, double alpha) {
        return label + "/" + gamma + "/" + Math.round(alpha * 100);
    }

    private void standardSpeculation(String label, ModelConfig dc) {
        String stage = label.equals("1b") ? "c" : "e";
        int n = ranks.size();
        targetGreedy();
        CudaRank on = ranks.getFirst();
        CudaTransformer draft = randomDraft(on, dc, args.prompt() + args.newTokens() + 64);
        try {
            Draft d = plainDraft(draft);
            double draftMs = draftMsPerToken(d, false);
            double c = draftMs / targetMsPerToken;
            results.add(stage, "vanilla-and-draft-" + label, Status.INFO, "tp", n, "target_ms_per_token", targetMsPerToken,
                    "target_tok_s", 1e3 / targetMsPerToken, "draft_ms_per_token", draftMs, "c", c, "draft_params", dc.parameterCount());
            for (double alpha : args.alphas()) {
                double best = Double.MAX_VALUE;
                for (int gamma : args.gammas()) {
                    String name = "spec-" + label + "-g" + gamma + "-a" + Math.round(alpha * 100);
                    double[] got = {Double.NaN};
                    check(stage, name, () -> {
                        Spec s = speculate(d, gamma, alpha, null);
                        got[0] = s.msPerToken;
                        double speedup = targetMsPerToken / s.msPerToken;
                        double b = bound(alpha, gamma, c);
                        results.add(stage, name, s.lossless ? Status.PASS : Status.FAIL, "mode", "standard (injected acceptance)",
                                "gamma", gamma, "alpha", alpha, "tp", n, "tok_s", 1e3 / s.msPerToken, "speedup_vs_vanilla", speedup,
                                "bound", b, "efficiency", speedup / b, "mean_accepted", s.meanAccepted, "draft_ms_per_token", s.draftMsPerToken,
                                "lossless", s.lossless);
                    });
                    if (Double.isFinite(got[0])) {
                        standardMs.put(key(label, gamma, alpha), got[0]);
                        if (got[0] < best) {
                            best = got[0];
                            bestGamma.put(label + "/" + Math.round(alpha * 100), gamma);
                        }
                    }
                }
            }
        } finally {
            release(on, draft);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // d: EasySpec layer-parallel drafting
    // ---------------------------------------------------------------------------------------------------------
    private void easySpec(String label, ModelConfig dc) {
        String stage = label.equals("1b") ? "d" : "e";
        int kv = args.prompt() + args.newTokens() + 64;
        if (args.sizes().length == 0) {   // one GPU: no layer parallelism, but what its machinery costs there
            check(stage, "easyspec-" + label + "-one-gpu-draft-stage", () -> oneGpuDraftStage(stage, label, dc, kv));
            return;
        }
        targetGreedy();
        CudaRank on = ranks.getFirst();
        CudaTransformer plain = randomDraft(on, dc, kv);
        try {
            Draft sequential = plainDraft(plain);
            double seqMs = draftMsPerToken(sequential, false);
            for (int size : args.sizes()) {
                LayerGroupPlan plan = LayerGroupPlan.standard(dc.layers(), size, args.edge());
                String tag = label + "-lp" + size;
                try (CudaLayerParallelModel lp = CudaLayerParallelModel.random(ranks.subList(0, size), dc, 2, kv, plan)) {
                    Draft fuzzy = layerParallelDraft(lp);
                    check(stage, "easyspec-" + tag + "-exact-equals-single", () -> exactEqualsSingle(stage, tag, lp, plain));
                    check(stage, "easyspec-" + tag + "-fuzzy-vs-one-gpu", () -> fuzzyVersusOneGpu(stage, tag, lp, dc, plan, kv));
                    check(stage, "easyspec-" + tag + "-fuzzy-agreement", () -> fuzzyAgreement(stage, tag, fuzzy, sequential));
                    check(stage, "easyspec-" + tag + "-draft-stage", () -> {
                        double fuzzyMs = draftMsPerToken(fuzzy, true);
                        double exactMs = draftMsPerToken(fuzzy, false);
                        // the same model type with one replica on GPU 0: what a layer-parallel step costs without a
                        // second GPU (group machinery alone), exact and fuzzy (the fuzzy arithmetic run alone)
                        double[] one = oneReplicaMs(dc, plan, kv);
                        double oneExactMs = one[0], oneFuzzyMs = one[1];
                        results.add(stage, "easyspec-" + tag + "-draft-stage", Status.INFO, "plan", plan.toString(), "replicas", size,
                                "fuzzy_layers", plan.fuzzyLayers(), "sequential_ms_per_token", seqMs, "fuzzy_ms_per_token", fuzzyMs,
                                "exact_on_replicas_ms_per_token", exactMs, "one_replica_exact_ms_per_token", oneExactMs,
                                "one_replica_fuzzy_ms_per_token", oneFuzzyMs, "draft_stage_speedup", seqMs / fuzzyMs);
                    });
                    for (double alpha : args.alphas()) {
                        int gamma = bestGamma.getOrDefault(label + "/" + Math.round(alpha * 100), 5);
                        Double standard = standardMs.get(key(label, gamma, alpha));
                        for (CalibrationPolicy policy : CalibrationPolicy.values()) {
                            String name = "easyspec-" + tag + "-g" + gamma + "-a" + Math.round(alpha * 100) + "-" + policy.name().toLowerCase(Locale.ROOT);
                            check(stage, name, () -> {
                                Spec s = speculate(fuzzy, gamma, alpha, policy);
                                results.add(stage, name, s.lossless ? Status.PASS : Status.FAIL, "mode", "easyspec (injected acceptance)",
                                        "plan", plan.toString(), "policy", policy.name(), "gamma", gamma, "alpha", alpha,
                                        "tok_s", 1e3 / s.msPerToken, "speedup_vs_vanilla", targetMsPerToken / s.msPerToken,
                                        "speedup_vs_standard_spec", standard == null ? Double.NaN : standard / s.msPerToken,
                                        "draft_ms_per_token", s.draftMsPerToken, "sequential_draft_ms_per_token", seqMs,
                                        "mean_accepted", s.meanAccepted, "lossless", s.lossless);
                            });
                        }
                    }
                }
            }
        } finally {
            release(on, plain);
        }
    }

    /** A draft of config {@code dc} with seed-2 random weights generated on {@code on}'s GPU, room for {@code kv} tokens. */
    private static CudaTransformer randomDraft(CudaRank on, ModelConfig dc, int kv) {
        return on.call(() -> new CudaTransformer(on.device(), on.cublas(), dc, DeviceWeights.random(on.device(), dc, 2), kv, 16));
    }

    /** Closes a {@link #randomDraft} and frees its weights, on its rank's thread. */
    private static void release(CudaRank on, CudaTransformer draft) {
        on.run(() -> {
            draft.close();
            draft.weights().free(on.device());
        });
    }

    /** Draft ms per token of a layer-parallel model with one replica on GPU 0: {exact, fuzzy}. */
    private double[] oneReplicaMs(ModelConfig dc, LayerGroupPlan plan, int kv) {
        try (CudaLayerParallelModel one = CudaLayerParallelModel.random(ranks.subList(0, 1), dc, 2, kv, plan)) {
            Draft single = layerParallelDraft(one);
            return new double[]{draftMsPerToken(single, false), draftMsPerToken(single, true)};
        }
    }

    /**
     * On one GPU: the plain draft's step against the same draft as a one-replica layer-parallel model (exact: the same
     * kernels behind the group machinery; fuzzy: the width-2 plan's arithmetic run alone), interleaved over 3 rounds.
     */
    private void oneGpuDraftStage(String stage, String label, ModelConfig dc, int kv) {
        LayerGroupPlan plan = LayerGroupPlan.standard(dc.layers(), 2, args.edge());
        CudaRank on = ranks.getFirst();
        CudaTransformer plain = randomDraft(on, dc, kv);
        try {
            Draft sequential = plainDraft(plain);
            double[] seq = new double[3], exact = new double[3], fuzzy = new double[3];
            for (int round = 0; round < 3; round++) {
                seq[round] = draftMsPerToken(sequential, false);
                double[] one = oneReplicaMs(dc, plan, kv);
                exact[round] = one[0];
                fuzzy[round] = one[1];
            }
            results.add(stage, "easyspec-" + label + "-one-gpu-draft-stage", Status.INFO, "plan", plan.toString(),
                    "sequential_ms_per_token", median(seq), "one_replica_exact_ms_per_token", median(exact),
                    "one_replica_fuzzy_ms_per_token", median(fuzzy), "machinery_overhead_ms", median(exact) - median(seq),
                    "rounds", Arrays.toString(seq) + " / " + Arrays.toString(exact) + " / " + Arrays.toString(fuzzy));
        } finally {
            release(on, plain);
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    // ---------------------------------------------------------------------------------------------------------
    // f: CARD (docs/ALGORITHMS.md §4): the draft grows its tree on GPU 0 while an 8B-shape target verifies on the
    //    last GPU; standard speculative decoding on the same two GPUs for comparison; acceptance injection
    // ---------------------------------------------------------------------------------------------------------
    private void card(ModelConfig dc) {
        if (ranks.size() < 2) {
            results.add("f", "card", Status.SKIP, "reason", "CARD gives the draft a GPU of its own: needs 2 GPUs");
            return;
        }
        ModelConfig tc = config("llama-3-8b");
        int kv = args.prompt() + args.newTokens() + 64;
        int[] prompt = new SplittableRandom(5).ints(args.prompt(), 0, tc.vocabSize()).toArray();
        CudaRank draftGpu = ranks.getFirst();
        try (CudaTensorParallelModel t = CudaTensorParallelModel.random(List.of(ranks.getLast()), tc, 1, kv)) {
            Decode vanilla = decode(t, args.prompt(), args.newTokens());
            int[] greedy = vanilla.tokens;
            double targetMs = Arrays.stream(vanilla.stepMs).average().orElseThrow();
            CudaTransformer draft = randomDraft(draftGpu, dc, kv);
            try {
                Draft d = plainDraft(draft);
                double draftMs = draftMsPerToken(d, false);
                double c = draftMs / targetMs;
                results.add("f", "card-placement", Status.INFO, "target", "llama-3-8b TP=1 on GPU " + ranks.getLast().gpu(),
                        "draft", "llama-3.2-1b on GPU " + draftGpu.gpu(), "target_ms_per_token", targetMs,
                        "target_tok_s", 1e3 / targetMs, "draft_ms_per_token", draftMs, "c", c);
                for (double alpha : args.alphas()) {
                    double bestStandard = Double.MAX_VALUE;
                    int bestG = args.gammas()[0];
                    for (int gamma : args.gammas()) {
                        String name = "card-standard-g" + gamma + "-a" + Math.round(alpha * 100);
                        double[] got = {Double.NaN};
                        check("f", name, () -> {
                            Spec sp = speculate(t, greedy, prompt, d, gamma, alpha, null);
                            got[0] = sp.msPerToken;
                            double b = bound(alpha, gamma, c);
                            results.add("f", name, sp.lossless ? Status.PASS : Status.FAIL, "mode", "standard (injected acceptance)",
                                    "gamma", gamma, "alpha", alpha, "tok_s", 1e3 / sp.msPerToken,
                                    "speedup_vs_vanilla", targetMs / sp.msPerToken, "bound", b,
                                    "efficiency", targetMs / sp.msPerToken / b, "mean_accepted", sp.meanAccepted, "lossless", sp.lossless);
                        });
                        if (got[0] < bestStandard) {
                            bestStandard = got[0];
                            bestG = gamma;
                        }
                    }
                    int longest = args.gammas()[args.gammas().length - 1];
                    for (int gamma : bestG == longest ? new int[]{bestG} : new int[]{bestG, longest}) {
                        for (int width : new int[]{1, 4}) {
                            String name = "card-w" + width + "-g" + gamma + "-a" + Math.round(alpha * 100);
                            double standardMs = bestStandard;
                            check("f", name, () -> {
                                CardDrafter drafter = new CardDrafter(draft, width, gamma + 2);
                                CardRun run = cardSpeculate(t, greedy, prompt, drafter, gamma, alpha);
                                double speedup = targetMs / run.spec.msPerToken;
                                // overlapped drafting costs the round nothing: the bound is the chain's expected length
                                double overlapBound = (1 - Math.pow(alpha, gamma + 1)) / (1 - alpha);
                                results.add("f", name, run.spec.lossless ? Status.PASS : Status.FAIL, "mode", "card (injected acceptance)",
                                        "width", width, "depth", gamma + 2, "gamma", gamma, "alpha", alpha,
                                        "tok_s", 1e3 / run.spec.msPerToken, "speedup_vs_vanilla", speedup,
                                        "speedup_vs_best_standard", standardMs / run.spec.msPerToken,
                                        "standard_bound", bound(alpha, gamma, c), "overlap_bound", overlapBound,
                                        "efficiency_vs_overlap_bound", speedup / overlapBound, "mean_accepted", run.spec.meanAccepted,
                                        "mean_proposed", run.meanProposed, "tokens_per_target_forward", run.spec.produced / (double) run.spec.rounds,
                                        "tree", run.stats.toString(), "lossless", run.spec.lossless);
                            });
                        }
                    }
                }
            } finally {
                release(draftGpu, draft);
            }
        }
    }

    record CardRun(Spec spec, double meanProposed, CardDrafter.Stats stats) {
    }

    /**
     * ACCEPTANCE INJECTION (benchmark only) for CARD: as the drafter grows its tree, the best child of a node on the
     * target's greedy path is replaced with probability α by the target's next token, else by another token (the
     * draft model then runs on the replaced tokens); the target verifies greedily whatever the tree offers.
     */
    private CardRun cardSpeculate(CudaTensorParallelModel t, int[] greedy, int[] prompt, CardDrafter card, int gamma, double alpha) {
        int vocab = t.config().vocabSize(), newTokens = args.newTokens();
        SplittableRandom coins = new SplittableRandom(gamma * 1000L + Math.round(alpha * 100) + 7);   // the drafter thread's alone
        card.withProposalOverride((path, proposed) -> {
            int i = path.length - prompt.length;
            if (i < 0 || i >= greedy.length || !Arrays.equals(path, prompt.length, path.length, greedy, 0, i)) return proposed;
            return coins.nextDouble() < alpha ? greedy[i] : (greedy[i] + 1) % vocab;
        });
        card.begin(SamplingParams.greedy(), Sampler.seeded(1L), vocab);
        KvSequence tseq = t.newSequence();
        try {
            int[] ctx = Arrays.copyOf(prompt, prompt.length + newTokens + gamma + 2);
            int len = prompt.length;
            int first = t.forwardArgmax(List.of(SequenceInput.chainLastLogits(tseq, prompt)))[0];
            ctx[len++] = first;
            int produced = 1, rounds = 0, accepted = 0, proposed = 0;
            long t0 = System.nanoTime();
            while (produced < newTokens) {
                ChainDraft draft = (ChainDraft) card.propose(new TokenHistory(ctx, len, prompt.length), gamma);
                int[] x = draft.tokens();
                int[] chunk = new int[x.length + 1];
                chunk[0] = ctx[len - 1];
                System.arraycopy(x, 0, chunk, 1, x.length);
                int[] am = t.forwardArgmax(List.of(SequenceInput.chainAllLogits(tseq, chunk)));
                int a = SpeculativeSampler.Outcome.greedy(x, am, 0).accepted();
                for (int i = 0; i < a; i++) ctx[len++] = x[i];
                ctx[len++] = am[a];
                tseq.truncate(tseq.length() - (x.length - a));
                produced += a + 1;
                rounds++;
                accepted += a;
                proposed += x.length;
            }
            double ms = (System.nanoTime() - t0) / 1e6;
            boolean lossless = true;
            for (int i = 0; i < Math.min(len - prompt.length, greedy.length); i++) lossless &= ctx[prompt.length + i] == greedy[i];
            Spec spec = new Spec(ms / (produced - 1), Double.NaN, accepted / (double) rounds, rounds, produced - 1, lossless);
            return new CardRun(spec, proposed / (double) rounds, card.stats());
        } finally {
            card.end();
            tseq.release();
        }
    }

    /** Exact forward on the replicas vs the single-GPU draft on the same weights: logits must be identical. */
    private void exactEqualsSingle(String stage, String tag, CudaLayerParallelModel lp, CudaTransformer plain) {
        int[] prompt = Arrays.copyOf(prompt(), 32);
        CudaRank on = ranks.getFirst();
        KvSequence a = lp.newSequence(), b = on.call(plain::newSequence);
        double worst = 0;
        int agree = 0, rows = 0;
        try {
            float[][] x = lp.forward(SequenceInput.chainLastLogits(a, prompt));
            float[][] y = on.call(() -> plain.forward(SequenceInput.chainLastLogits(b, prompt)));
            for (int i = 0; i < 8; i++) {
                double[] e = GpuCheck.compare(y, x);
                worst = Math.max(worst, e[0]);
                agree += (int) e[1];
                rows += (int) e[2];
                int[] next = {GpuCheck.argmax(y[0])};
                x = lp.forward(SequenceInput.chainLastLogits(a, next));
                y = on.call(() -> plain.forward(SequenceInput.chainLastLogits(b, next)));
            }
        } finally {
            a.release();
            on.run(b::release);
        }
        results.add(stage, "easyspec-" + tag + "-exact-equals-single", worst == 0 ? Status.PASS : worst < 1e-5 ? Status.INFO : Status.FAIL,
                "max_rel_l2", worst, "argmax_agree", agree, "rows", rows);
    }

    /** Fuzzy forwards on the GPUs vs the same fuzzy arithmetic on one GPU: should agree to rounding (or exactly). */
    private void fuzzyVersusOneGpu(String stage, String tag, CudaLayerParallelModel lp, ModelConfig dc, LayerGroupPlan plan, int kv) {
        int[] prompt = Arrays.copyOf(prompt(), 32);
        try (CudaLayerParallelModel one = CudaLayerParallelModel.random(ranks.subList(0, 1), dc, 2, kv, plan)) {
            KvSequence a = lp.newSequence(), b = one.newSequence();
            double worst = 0;
            int agree = 0, rows = 0;
            try {
                lp.forward(SequenceInput.chainLastLogits(a, prompt));
                float[][] y = one.forward(SequenceInput.chainLastLogits(b, prompt));
                for (int i = 0; i < 8; i++) {
                    int[] next = {GpuCheck.argmax(y[0])};
                    float[][] x = lp.forwardFuzzy(List.of(SequenceInput.chainLastLogits(a, next))).getFirst();
                    y = one.forwardFuzzy(List.of(SequenceInput.chainLastLogits(b, next))).getFirst();
                    double[] e = GpuCheck.compare(y, x);
                    worst = Math.max(worst, e[0]);
                    agree += (int) e[1];
                    rows += (int) e[2];
                }
            } finally {
                a.release();
                b.release();
            }
            results.add(stage, "easyspec-" + tag + "-fuzzy-vs-one-gpu", worst <= 1e-4 && agree == rows ? Status.PASS : Status.FAIL,
                    "max_rel_l2", worst, "argmax_agree", agree, "rows", rows);
        }
    }

    /**
     * How often the fuzzy draft proposes what the exact draft proposes, teacher-forced along the target's greedy
     * tokens for 64 steps (fuzzy KV kept throughout, as policy NEVER). A proxy for EasySpec's acceptance drop on these
     * random weights; acceptance injection itself cannot show it.
     */
    private void fuzzyAgreement(String stage, String tag, Draft fuzzy, Draft exact) {
        int[] prompt = prompt();
        int[] greedy = targetGreedy();
        KvSequence a = fuzzy.newSequence(), b = exact.newSequence();
        int same = 0, steps = Math.min(64, greedy.length);
        try {
            fuzzy.exact(a, prompt);
            exact.exact(b, prompt);
            for (int i = 0; i < steps; i++) {
                int[] t = {greedy[i]};
                if (fuzzy.fuzzy(a, t) == exact.exact(b, t)) same++;
            }
        } finally {
            a.release();
            b.release();
        }
        results.add(stage, "easyspec-" + tag + "-fuzzy-agreement", Status.INFO, "steps", steps, "same_proposal", same,
                "agreement", same / (double) steps);
    }
}
