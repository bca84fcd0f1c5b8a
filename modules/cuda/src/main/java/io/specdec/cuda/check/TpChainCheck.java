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
 * every replica taking each step's id itself, fuzzy steps all-gathered; calibration every round), the replicas' ids
 * audited round by round ({@code tp-easyspec-replica-ids}) and each calibration policy ({@code tp-chain-easyspec-policy}).
 * A sampled EasySpec step path draws and decides on the host, so its ids may part from the held path's by float
 * rounding (INFO); {@code tp-chain-sampled-host-decided-run} shows the same for the sequential draft.
 * Last, {@code gpu-ownership-audit}: with ranks sharing a GPU every buffer use of the stage was checked against the GPU
 * its rank stands for (a use of another rank's memory throws and fails its row), and a planted one is caught.
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
        long checksBefore = CudaDevice.ownershipChecks();
        try {
            pairs();
        } finally {
            ownershipAudit(CudaDevice.ownershipChecks() - checksBefore);
        }
    }

    /**
     * The audit's row: off (INFO) unless the ranks share GPUs or {@value CudaDevice#AUDIT_OWNERSHIP_PROPERTY} is set;
     * on, it counts the stage's checked buffer uses and plants rank 1's buffer in a launch on rank 0, which must be
     * refused before anything runs.
     */
    private void ownershipAudit(long checks) {
        boolean on = ranks.stream().allMatch(r -> r.device().auditOwnership());
        if (!on || ranks.size() < 2) {
            results.add(STAGE, "gpu-ownership-audit", Status.INFO, "audit", on, "ranks", ranks.size(),
                    "reason", "on by default only when ranks share a GPU (-D" + CudaDevice.AUDIT_OWNERSHIP_PROPERTY + "=true)");
            return;
        }
        CudaRank first = ranks.getFirst(), second = ranks.get(1);
        var foreign = second.call(() -> second.device().allocate(128));
        String caught;
        try {
            caught = first.call(() -> {
                try {
                    first.device().launch("fill_normal_bf16", 1, 1, 64, foreign, 64L, 1L, 1f);
                    first.device().synchronize();
                    return "not refused";
                } catch (IllegalStateException e) {
                    return e.getMessage();
                }
            });
        } finally {
            second.run(() -> second.device().free(foreign));
        }
        boolean planted = caught.contains("belongs to GPU " + second.gpu());
        results.add(STAGE, "gpu-ownership-audit", checks > 0 && planted ? Status.PASS : Status.FAIL,
                "ranks", ranks.size(), "physical_gpus", ranks.stream().map(r -> r.device().ordinal()).distinct().count(),
                "buffer_uses_checked", checks, "planted_cross_rank_use", caught);
    }

    private void pairs() {
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
            boolean allEqual = true, lossless = true, paths = true, sameDrafts = true, hostDecided = false;
            Run sumDevice = Run.ZERO, sumHost = Run.ZERO;
            int controlEqual = 0;
            for (long seed = 1; seed <= (sampled ? SEEDS : 1); seed++) {
                SamplingParams p = greedy.withTemperature(sampled ? 0.8 : 0).withSeed(seed);
                Run device = run(target, draft, prompt, p, false), host = run(target, draft, prompt, p, true);
                boolean equal = Arrays.equals(device.result.tokens(), host.result.tokens());
                boolean sameAsTarget = sampled || Arrays.equals(device.result.tokens(), reference);
                boolean pathsRight = device.result.draftTokens().startsWith("device") && host.result.draftTokens().equals("host");
                // greedy drafts are argmaxes on both paths: the same drafts, so the same accepted count
                boolean drafts = sampled || device.accepted == host.accepted && device.drafted == host.drafted;
                // an EasySpec step path samples its drafts and decides on the host (its logits come back): float
                // rounding there may move a draw across a token boundary, so sampled ids may part without a fault
                boolean decidedOnHost = sampled && "host".equals(host.result.acceptance());
                allEqual &= equal;
                lossless &= sameAsTarget;
                paths &= pathsRight;
                sameDrafts &= drafts;
                hostDecided |= decidedOnHost;
                sumDevice = sumDevice.plus(device);
                sumHost = sumHost.plus(host);
                Status status = sameAsTarget && pathsRight && drafts ? (equal ? Status.PASS : decidedOnHost ? Status.INFO : Status.FAIL) : Status.FAIL;
                results.add(STAGE, check + "-run", status, "model", label,
                        "tp", ranks.size(), "seed", seed, "ids_equal", equal, "equal_prefix", prefix(device.result.tokens(), host.result.tokens()),
                        "equals_target_greedy", sampled ? null : sameAsTarget, "same_drafts", sampled ? null : drafts,
                        "tokens", device.result.tokens().length,
                        "draft_tokens_device", device.result.draftTokens(), "draft_tokens_host", host.result.draftTokens(),
                        "acceptance_device", device.result.acceptance(), "acceptance_host", host.result.acceptance(),
                        "acceptance_rate", rate(device), "acceptance_rate_host", rate(host),
                        "tokens_per_s_device", device.tokensPerSecond(), "tokens_per_s_host", host.tokensPerSecond());
                if (sampled && kind.isEmpty()) {
                    // the control for that: this draft's rounds sampled and decided on the host against the device's
                    Run control = run(target, draft, prompt, p, java.util.Map.of(HOST_DRAFT_TOKENS, "true", "specdec.cuda.hostAcceptance", "true"));
                    boolean same = Arrays.equals(device.result.tokens(), control.result.tokens());
                    if (same) controlEqual++;
                    results.add(STAGE, "tp-chain-sampled-host-decided-run", Status.INFO, "model", label, "seed", seed, "ids_equal", same,
                            "equal_prefix", prefix(device.result.tokens(), control.result.tokens()), "tokens", device.result.tokens().length,
                            "acceptance_control", control.result.acceptance(), "acceptance_rate_control", rate(control));
                }
            }
            Status status = lossless && paths && sameDrafts ? (allEqual ? Status.PASS : hostDecided ? Status.INFO : Status.FAIL) : Status.FAIL;
            results.add(STAGE, check, status, "model", label, "tp", ranks.size(),
                    "gamma", GAMMA, "tokens", tokens, "seeds", sampled ? SEEDS : 1, "ids_equal", allEqual,
                    "equals_target_greedy", sampled ? null : lossless, "same_drafts", sampled ? null : sameDrafts, "paths_as_asked", paths,
                    "step_path_decides_on_host", hostDecided,
                    "host_decided_control_ids_equal", sampled && kind.isEmpty() ? controlEqual + "/" + SEEDS : null,
                    "acceptance_rate", rate(sumDevice), "acceptance_rate_host", rate(sumHost),
                    "tokens_per_s_device", sumDevice.tokensPerSecond(), "tokens_per_s_host", sumHost.tokensPerSecond(),
                    "device_over_host", sumDevice.tokensPerSecond() / sumHost.tokensPerSecond(),
                    "host_copies_per_round_device", sumDevice.perRound(sumDevice.copies), "host_copies_per_round_host", sumHost.perRound(sumHost.copies),
                    "host_bytes_per_round_device", sumDevice.perRound(sumDevice.bytes), "host_bytes_per_round_host", sumHost.perRound(sumHost.bytes));
        }
        if (draft instanceof EasySpecDraftModel e && e.model() instanceof CudaLayerParallelModel lp) {
            auditReplicas(label, target, draft, lp, prompt, tokens);
            policies(label, target, lp, prompt, tokens);
        }
    }

    /**
     * The calibration policies on held rounds (the rows above use every-round): a single greedy request drafts alone,
     * so the held path must draft exactly as the step path (same ids, same accepted count, the same exact, fuzzy and
     * recomputed tokens), also under never and every-mismatch (which learns from each held round's outcome whether it
     * was fully accepted: its ids never reach the host). Then a greedy batch of 8 per policy: ids equal and the same
     * drafts (accepted and drafted counts): a batch's exact first steps run apart from its fuzzy ones, as on the step path.
     */
    private void policies(String label, CudaTensorParallelModel target, CudaLayerParallelModel lp, int[] prompt, int tokens) {
        SamplingParams p = SamplingParams.defaults().withTemperature(0).withMaxTokens(tokens).withIgnoreEos(true).withSeed(1L);
        for (CalibrationPolicy policy : CalibrationPolicy.values()) {
            EasySpecDraftModel held = new EasySpecDraftModel(lp, policy), step = new EasySpecDraftModel(lp, policy);   // not closed: lp is shared
            Run h = run(target, held, prompt, p, false), s = run(target, step, prompt, p, true);
            boolean ids = Arrays.equals(h.result.tokens(), s.result.tokens());
            boolean counts = h.accepted == s.accepted && h.drafted == s.drafted;
            boolean stats = held.stats().equals(step.stats());
            boolean path = h.result.draftTokens().startsWith("device") && s.result.draftTokens().equals("host");
            List<BatchHeldCheck.Request> requests = BatchChainCheck.requests(target.config().vocabSize(), 8, Math.min(tokens, 64), true);
            BatchHeldCheck.Served hb = BatchHeldCheck.serve(target, new EasySpecDraftModel(lp, policy), ranks.getFirst().device(), requests,
                    java.util.Map.of(), true);
            BatchHeldCheck.Served sb = BatchHeldCheck.serve(target, new EasySpecDraftModel(lp, policy), ranks.getFirst().device(), requests,
                    java.util.Map.of(HOST_DRAFT_TOKENS, true), true);
            int identical = 0;
            for (int i = 0; i < requests.size(); i++) if (Arrays.equals(hb.ids().get(i), sb.ids().get(i))) identical++;
            boolean batchDrafts = hb.accepted() == sb.accepted() && hb.drafted() == sb.drafted() && hb.drafted() > 0;
            results.add(STAGE, "tp-chain-easyspec-policy", ids && counts && stats && path && identical == requests.size() && batchDrafts
                            ? Status.PASS : Status.FAIL, "batch_same_drafts", batchDrafts,
                    "model", label, "policy", policy.name(), "ids_equal", ids, "same_drafts", counts, "same_easyspec_stats", stats,
                    "paths_as_asked", path, "acceptance_rate", rate(h), "stats_held", held.stats().toString(), "stats_step", step.stats().toString(),
                    "batch_identical_requests", identical, "batch", requests.size(),
                    "batch_acceptance_held", rate(hb.accepted(), hb.drafted()), "batch_acceptance_step", rate(sb.accepted(), sb.drafted()));
        }
    }

    /**
     * Every replica of an EasySpec draft takes each held step's id itself (the next step's token slot on its GPU); with
     * {@value CudaLayerParallelModel#AUDIT_REPLICA_IDS} each replica's ids of every round are read back and compared
     * with replica 0's: a greedy and a T 0.8 generation, then a served batch of 8 T 0.8 requests.
     */
    private void auditReplicas(String label, CudaTensorParallelModel target, LanguageModel draft, CudaLayerParallelModel lp,
                               int[] prompt, int tokens) {
        CudaLayerParallelModel.ReplicaIdAudit before = lp.replicaIdAudit();
        java.util.Map<String, String> audit = java.util.Map.of(CudaLayerParallelModel.AUDIT_REPLICA_IDS, "true");
        SamplingParams p = SamplingParams.defaults().withTemperature(0).withMaxTokens(tokens).withIgnoreEos(true).withSeed(1L);
        run(target, draft, prompt, p, audit);
        run(target, draft, prompt, p.withTemperature(0.8), audit);
        BatchHeldCheck.Served served = BatchHeldCheck.serve(target, draft, ranks.getFirst().device(),
                BatchChainCheck.requests(target.config().vocabSize(), 8, 32, false), java.util.Map.of(CudaLayerParallelModel.AUDIT_REPLICA_IDS, true), true);
        CudaLayerParallelModel.ReplicaIdAudit after = lp.replicaIdAudit();
        long rounds = after.rounds() - before.rounds(), disagreeing = after.disagreeing() - before.disagreeing();
        results.add(STAGE, "tp-easyspec-replica-ids", rounds > 0 && disagreeing == 0 && served.drafted() > 0 ? Status.PASS : Status.FAIL,
                "model", label, "replicas", lp.replicas(), "plan", lp.plan().toString(), "held_rounds_audited", rounds,
                "rounds_where_replicas_disagree", disagreeing);
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
            // an EasySpec step path samples and decides on the host (no held logits for a layer-parallel draft): see compare
            boolean decidedOnHost = !greedy && !kind.isEmpty();
            Status status = h.drafted() == 0 ? Status.FAIL : identical == requests.size() ? Status.PASS : decidedOnHost ? Status.INFO : Status.FAIL;
            results.add(STAGE, "tp-batch-" + kind + (greedy ? "greedy" : "sampled"), status, "step_path_decides_on_host", decidedOnHost, "model", label, "tp", ranks.size(), "batch", requests.size(), "tokens", tokens,
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

    private static final String HOST_DRAFT_TOKENS = "specdec.cuda.hostDraftTokens";

    private Run run(CudaTensorParallelModel target, LanguageModel draft, int[] prompt, SamplingParams p, boolean hostDraftTokens) {
        return run(target, draft, prompt, p, java.util.Map.of(HOST_DRAFT_TOKENS, String.valueOf(hostDraftTokens)));
    }

    /** One generation with the system {@code properties} set meanwhile. */
    private Run run(CudaTensorParallelModel target, LanguageModel draft, int[] prompt, SamplingParams p, java.util.Map<String, String> properties) {
        properties.forEach(System::setProperty);
        try {
            long copies0 = copies(), bytes0 = bytes(), t0 = System.nanoTime();
            GenerationResult r = Generator.speculative(target, new ModelDrafter(draft), GAMMA).generate(prompt, p, null);
            long nanos = System.nanoTime() - t0;
            // the prompt's prefill is in both counts alike; per round it is spread thin over 100+ rounds
            return new Run(r, nanos, r.stats().targetForwards(), copies() - copies0, bytes() - bytes0, r.stats().drafted(),
                    r.stats().accepted(), r.tokens().length);
        } finally {
            properties.keySet().forEach(System::clearProperty);
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
