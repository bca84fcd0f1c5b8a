package io.specdec.cuda.check;

import io.specdec.core.format.hf.HuggingFaceModel;
import io.specdec.core.format.ModelFiles;
import io.specdec.core.generate.GenerationResult;
import io.specdec.core.generate.Generator;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.backend.LanguageModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.parallel.CalibrationPolicy;
import io.specdec.core.parallel.EasySpecDraftModel;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.CudaLayerParallelModel;
import io.specdec.cuda.CudaModels;
import io.specdec.cuda.CudaRank;
import io.specdec.cuda.CudaTensorParallelModel;
import io.specdec.cuda.CudaTransformer;
import io.specdec.cuda.DeviceWeights;
import io.specdec.cuda.check.CheckResults.Status;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Stage {@code g} of {@link MultiGpuCheck} (issue #6 point 2): the GPU-resident chain round for a tensor-parallel
 * target with the draft on rank 0's GPU (draft ids fed on the device, NCCL broadcast to the ranks' verify input, the
 * decision broadcast back; "draft_tokens":"device-nccl") against the host path that brings each draft id to the host
 * ({@code -Dspecdec.cuda.hostDraftTokens=true}), greedy and sampled (T 0.8), same seeds. Greedy ids must equal each
 * other and the target's own greedy decode; sampled ids must equal too (both paths run the same draft kernels and the
 * same fused acceptance kernel with the same uniforms). Also tokens/s of both and host-device copies (count and
 * bytes, all GPUs) per round. Pairs: the bundled target/draft (TP over the GPUs), and a random Llama-3-8B-shape target
 * with a random Llama-3.2-1B-shape draft. Then served batches of each pair ({@code tp-batch-greedy/sampled}: 8 requests
 * in one BatchEngine, held rounds against the step path, ids identical per request). Then the same with an EasySpec
 * draft over the target's GPUs ({@code tp-chain-easyspec-*}, {@code tp-batch-easyspec-*}: a replica on every rank,
 * every replica taking each step's id itself, fuzzy steps all-gathered; calibration every round).
 */
final class TpChainCheck {
    static final String STAGE = "g";
    private static final int GAMMA = 4;
    private static final int SEEDS = 3;

    private final List<CudaRank> ranks;
    private final CheckResults results;
    private final Path configs;
    private final Path models;

    TpChainCheck(List<CudaRank> ranks, CheckResults results, Path configs, Path models) {
        this.ranks = ranks;
        this.results = results;
        this.configs = configs;
        this.models = models;
    }

    void run() {
        if (models != null && Files.isDirectory(models.resolve("target")) && Files.isDirectory(models.resolve("draft"))) {
            LoadedModel t = ModelFiles.load(models.resolve("target")), d = ModelFiles.load(models.resolve("draft"));
            try (CudaTensorParallelModel target = CudaTensorParallelModel.of(ranks, t.config(), t.weights(), 2048);
                 CudaTransformer draft = draftOnRank0(d.config(), DeviceWeights.upload(ranks.getFirst().device(), d.config(), d.weights()), 2048)) {
                try {
                    compare("bundled", target, draft, 200, "");
                    batches("bundled", target, draft, 128, "");
                } finally {
                    draft.weights().free(draft.device());
                }
                try (EasySpecDraftModel easy = easySpec(CudaLayerParallelModel.of(ranks, d.config(), d.weights(), 2048, plan(d.config())))) {
                    compare("bundled", target, easy, 200, "easyspec-");
                    batches("bundled", target, easy, 128, "easyspec-");
                }
            } finally {
                t.close();
                d.close();
            }
        } else {
            results.add(STAGE, "tp-chain", Status.SKIP, "model", "bundled", "reason", "no target/ and draft/ under " + models);
        }
        ModelConfig tc = HuggingFaceModel.config(configs.resolve("llama-3-8b")), dc = HuggingFaceModel.config(configs.resolve("llama-3.2-1b"));
        try (CudaTensorParallelModel target = CudaTensorParallelModel.random(ranks, tc, 1, 1024);
             CudaTransformer draft = draftOnRank0(dc, DeviceWeights.random(ranks.getFirst().device(), dc, 2), 1024)) {
            try {
                compare("llama-3-8b-random+llama-3.2-1b-random", target, draft, 128, "");
                batches("llama-3-8b-random+llama-3.2-1b-random", target, draft, 64, "");
            } finally {
                draft.weights().free(draft.device());
            }
            try (EasySpecDraftModel easy = easySpec(CudaLayerParallelModel.random(ranks, dc, 2, 1024, plan(dc)))) {
                compare("llama-3-8b-random+llama-3.2-1b-random", target, easy, 128, "easyspec-");
                batches("llama-3-8b-random+llama-3.2-1b-random", target, easy, 64, "easyspec-");
            }
        }
    }

    /** The CLI's default plan over the ranks ({@code --draft-mode easyspec} without {@code --layer-groups}). */
    private LayerGroupPlan plan(ModelConfig c) {
        return LayerGroupPlan.standard(c.layers(), ranks.size(), c.layers() / 8);
    }

    private static EasySpecDraftModel easySpec(CudaLayerParallelModel replicas) {
        return new EasySpecDraftModel(replicas, CalibrationPolicy.EVERY_ROUND);
    }

    /** The draft on rank 0's GPU, driven from the caller's thread (as the CLI's --tp with --draft builds it). */
    private CudaTransformer draftOnRank0(ModelConfig c, DeviceWeights w, int kv) {
        CudaRank first = ranks.getFirst();
        return new CudaTransformer(first.device(), first.cublas(), c, w, kv, CudaModels.BLOCK_SIZE);
    }

    /** {@code kind}: "" for a draft on rank 0's GPU, "easyspec-" for one over the ranks (it names the rows). */
    private void compare(String label, CudaTensorParallelModel target, LanguageModel draft, int tokens, String kind) {
        int[] prompt = new SplittableRandom(7).ints(24, 2, target.config().vocabSize()).toArray();
        SamplingParams greedy = SamplingParams.defaults().withTemperature(0).withMaxTokens(tokens).withIgnoreEos(true);
        int[] reference = Generator.plain(target).generate(prompt, greedy, null).tokens();
        for (boolean sampled : new boolean[] {false, true}) {
            String check = "tp-chain-" + kind + (sampled ? "sampled" : "greedy");
            // warm-up: graph capture of every shape, kernel look-ups, for both paths
            run(target, draft, prompt, greedy.withTemperature(sampled ? 0.8 : 0).withMaxTokens(48), false);
            run(target, draft, prompt, greedy.withTemperature(sampled ? 0.8 : 0).withMaxTokens(48), true);
            boolean allEqual = true, lossless = true, paths = true;
            Run sumDevice = Run.ZERO, sumHost = Run.ZERO;
            for (long seed = 1; seed <= (sampled ? SEEDS : 1); seed++) {
                SamplingParams p = greedy.withTemperature(sampled ? 0.8 : 0).withSeed(seed);
                Run device = run(target, draft, prompt, p, false), host = run(target, draft, prompt, p, true);
                boolean equal = Arrays.equals(device.result.tokens(), host.result.tokens());
                boolean sameAsTarget = sampled || Arrays.equals(device.result.tokens(), reference);
                boolean pathsRight = device.result.draftTokens().startsWith("device") && host.result.draftTokens().equals("host");
                allEqual &= equal;
                lossless &= sameAsTarget;
                paths &= pathsRight;
                sumDevice = sumDevice.plus(device);
                sumHost = sumHost.plus(host);
                results.add(STAGE, check + "-run", equal && sameAsTarget && pathsRight ? Status.PASS : Status.FAIL, "model", label,
                        "tp", ranks.size(), "seed", seed, "ids_equal", equal, "equal_prefix", prefix(device.result.tokens(), host.result.tokens()),
                        "equals_target_greedy", sampled ? null : sameAsTarget, "tokens", device.result.tokens().length,
                        "draft_tokens_device", device.result.draftTokens(), "draft_tokens_host", host.result.draftTokens(),
                        "acceptance_device", device.result.acceptance(), "acceptance_host", host.result.acceptance(),
                        "acceptance_rate", rate(device), "tokens_per_s_device", device.tokensPerSecond(), "tokens_per_s_host", host.tokensPerSecond());
            }
            results.add(STAGE, check, allEqual && lossless && paths ? Status.PASS : Status.FAIL, "model", label, "tp", ranks.size(),
                    "gamma", GAMMA, "tokens", tokens, "seeds", sampled ? SEEDS : 1, "ids_equal", allEqual,
                    "equals_target_greedy", sampled ? null : lossless, "paths_as_asked", paths, "acceptance_rate", rate(sumDevice),
                    "tokens_per_s_device", sumDevice.tokensPerSecond(), "tokens_per_s_host", sumHost.tokensPerSecond(),
                    "device_over_host", sumDevice.tokensPerSecond() / sumHost.tokensPerSecond(),
                    "host_copies_per_round_device", sumDevice.perRound(sumDevice.copies), "host_copies_per_round_host", sumHost.perRound(sumHost.copies),
                    "host_bytes_per_round_device", sumDevice.perRound(sumDevice.bytes), "host_bytes_per_round_host", sumHost.perRound(sumHost.bytes));
        }
    }

    /**
     * Served batches with the tensor-parallel target (BatchEngine): 8 greedy, then 8 T 0.8 requests, whole rounds held
     * (drafted on rank 0's GPU, token slots broadcast to the ranks) against draft ids to the host each step; ids must be
     * identical request by request.
     */
    private void batches(String label, CudaTensorParallelModel target, LanguageModel draft, int tokens, String kind) {
        java.util.Map<String, Boolean> step = java.util.Map.of("specdec.cuda.hostDraftTokens", true), held = java.util.Map.of();
        int vocab = target.config().vocabSize();
        for (boolean greedy : new boolean[] {true, false}) {
            List<BatchHeldCheck.Request> requests = BatchChainCheck.requests(vocab, 8, tokens, greedy);
            CudaDevice first = ranks.getFirst().device();
            BatchHeldCheck.serve(target, draft, first, BatchChainCheck.requests(vocab, 8, 16, greedy), step, true);   // warm-up
            BatchHeldCheck.serve(target, draft, first, BatchChainCheck.requests(vocab, 8, 16, greedy), held, true);
            BatchHeldCheck.Served s = null, h = null;
            long stepNanos = 0, heldNanos = 0, stepTokens = 0, heldTokens = 0;
            for (int round = 0; round < 2; round++) {   // interleaved: a bundled batch runs ~0.1 s
                s = BatchHeldCheck.serve(target, draft, first, requests, step, true);
                h = BatchHeldCheck.serve(target, draft, first, requests, held, true);
                stepNanos += s.nanos();
                heldNanos += h.nanos();
                stepTokens += s.tokens();
                heldTokens += h.tokens();
            }
            int identical = 0;
            for (int i = 0; i < requests.size(); i++) if (Arrays.equals(s.ids().get(i), h.ids().get(i))) identical++;
            double tpsStep = stepTokens / (stepNanos / 1e9), tpsHeld = heldTokens / (heldNanos / 1e9);
            results.add(STAGE, "tp-batch-" + kind + (greedy ? "greedy" : "sampled"), identical == requests.size() && h.drafted() > 0
                            ? Status.PASS : Status.FAIL, "model", label, "tp", ranks.size(), "batch", requests.size(), "tokens", tokens,
                    "identical_requests", identical, "acceptance_rate", rate(h.accepted(), h.drafted()), "tokens_per_s_step", tpsStep,
                    "tokens_per_s_held", tpsHeld, "held_over_step", tpsHeld / tpsStep,
                    "host_copies_per_step_step", (double) s.hostCopies() / s.steps(), "host_copies_per_step_held", (double) h.hostCopies() / h.steps());
        }
    }

    private static double rate(long accepted, long drafted) {
        return drafted == 0 ? Double.NaN : accepted / (double) drafted;
    }

    /** One generation and what it cost: wall time, rounds (target forwards), host-device copies over all GPUs. */
    private record Run(GenerationResult result, long nanos, long rounds, long copies, long bytes, long drafted, long accepted, long tokens) {
        static final Run ZERO = new Run(null, 0, 0, 0, 0, 0, 0, 0);

        Run plus(Run o) {
            return new Run(o.result, nanos + o.nanos, rounds + o.rounds, copies + o.copies, bytes + o.bytes, drafted + o.drafted,
                    accepted + o.accepted, tokens + o.tokens);
        }

        double tokensPerSecond() { return tokens / (nanos / 1e9); }

        double perRound(long n) { return rounds == 0 ? Double.NaN : n / (double) rounds; }
    }

    private Run run(CudaTensorParallelModel target, LanguageModel draft, int[] prompt, SamplingParams p, boolean hostDraftTokens) {
        System.setProperty("specdec.cuda.hostDraftTokens", String.valueOf(hostDraftTokens));
        try {
            long copies0 = copies(), bytes0 = bytes(), t0 = System.nanoTime();
            GenerationResult r = Generator.speculative(target, new ModelDrafter(draft), GAMMA).generate(prompt, p, null);
            long nanos = System.nanoTime() - t0;
            // the prompt's prefill is in both counts alike; per round it is spread thin over 100+ rounds
            return new Run(r, nanos, r.stats().targetForwards(), copies() - copies0, bytes() - bytes0, r.stats().drafted(),
                    r.stats().accepted(), r.tokens().length);
        } finally {
            System.clearProperty("specdec.cuda.hostDraftTokens");
        }
    }

    private long copies() {
        long n = 0;
        for (CudaRank r : ranks) n += r.device().hostCopies();
        return n;
    }

    private long bytes() {
        long n = 0;
        for (CudaRank r : ranks) n += r.device().hostCopyBytes();
        return n;
    }

    private static double rate(Run r) {
        return r.drafted == 0 ? 0 : r.accepted / (double) r.drafted;
    }

    private static int prefix(int[] a, int[] b) {
        int n = 0;
        while (n < Math.min(a.length, b.length) && a[n] == b[n]) n++;
        return n;
    }
}
