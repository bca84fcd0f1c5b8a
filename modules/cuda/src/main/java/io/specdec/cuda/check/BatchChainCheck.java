package io.specdec.cuda.check;

import io.specdec.core.sampling.SamplingParams;
import io.specdec.cuda.Cublas;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.CudaDraftRank;
import io.specdec.cuda.CudaTensorParallelRank;
import io.specdec.cuda.CudaTransformer;
import io.specdec.cuda.Nccl;
import io.specdec.core.format.ModelFiles;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.cuda.DeviceWeights;
import io.specdec.cuda.check.BatchHeldCheck.Request;
import io.specdec.cuda.check.BatchHeldCheck.Served;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Mode {@code batchchain} (issue #6 point 2 for served batches): a served batch ({@code BatchEngine}) whose speculative
 * requests keep whole rounds on the GPU — each draft position of all requests one forward, every id fed to the
 * request's next draft step on the device ({@code chain_take_ids}), the verify's token slots filled there, greedy
 * acceptance or the fused kernel per request, only the decisions read back — against the same batch with the draft
 * ids brought to the host after every draft step ({@code -Dspecdec.cuda.hostDraftTokens=true}, the path before). Greedy
 * and T 0.8 batches of 1, 8 and 32 requests (γ 4): ids per request (the same kernels on the same rows: expected
 * identical), acceptance, tokens/s, engine steps and host copies per step; greedy ids also against plain batched
 * greedy decoding without a draft (informative: a verify pass and a decode step may round differently). Then a mixed
 * batch: greedy, T 0.8, top-k, penalties and log-probabilities together. Then the rank models of a group over actors in
 * a group of one GPU ({@link #rankOfOne}).
 */
final class BatchChainCheck {
    private static final double TEMPERATURE = 0.8;
    private static final Map<String, Boolean> STEP_PATH = Map.of("specdec.cuda.hostDraftTokens", true);
    private static final Map<String, Boolean> CHAIN_PATH = Map.of();

    private BatchChainCheck() { }

    /**
     * @param models   the bundled pair's directory (target/, draft/), or null
     * @param config8b a Llama-3-8B-shape config.json (random target), or null
     * @param config1b a Llama-3.2-1B-shape config.json (random draft of the 8B target), or null
     */
    static void run(CudaDevice device, Cublas cublas, Path models, Path config8b, Path config1b, int tokens) {
        boolean bundled = SpecSampleCheck.withBundledPair(device, cublas, models, 16384, (target, draft) -> {
            for (int batch : new int[] {1, 8, 32}) {
                compare("bundled", target, draft, batch, tokens, true);
                compare("bundled", target, draft, batch, tokens, false);
            }
            mixed("bundled", target, draft);
        });
        if (!bundled) SpecSampleCheck.emit(SpecSampleCheck.row("batchchain", "model", "bundled", "skipped", "no models under " + models));
        if (bundled) {
            rankOfOne(models);
            ranksSharingOneGpu(models, false);
            ranksSharingOneGpu(models, true);
        }
        if (config8b != null && config1b != null) {
            var tc = GpuCheck.configOf(config8b);
            var dc = GpuCheck.configOf(config1b);
            DeviceWeights tw = DeviceWeights.random(device, tc, 1), dw = DeviceWeights.random(device, dc, 2);
            try (CudaTransformer target = new CudaTransformer(device, cublas, tc, tw, 16384, 16);
                 CudaTransformer draft = new CudaTransformer(device, cublas, dc, dw, 16384, 16)) {
                String label = "llama-3-8b-random+llama-3.2-1b-random";
                for (int batch : new int[] {1, 8}) {
                    compare(label, target, draft, batch, 96, true);
                    compare(label, target, draft, batch, 96, false);
                }
            } finally {
                tw.free(device);
                dw.free(device);
            }
        }
    }

    /**
     * The rank models of a group over actors (one JVM per GPU), in a group of one GPU: a {@link CudaTensorParallelRank}
     * (its own NCCL communicator of one) with a sequential {@link CudaDraftRank} replica, served as a rank's engine
     * serves them (BatchEngine, 8 greedy then 8 T 0.8 requests): held rounds against the step path, ids per request.
     * Several ranks would each hold and decide their own rounds alike; that needs a 2-GPU host.
     */
    static void rankOfOne(Path models) {
        LoadedModel t = ModelFiles.load(models.resolve("target")), d = ModelFiles.load(models.resolve("draft"));
        try (CudaTensorParallelRank target = CudaTensorParallelRank.of(0, t.config(), t.weights(), Nccl.uniqueId(), 0, 1, 16384);
             CudaDraftRank draft = CudaDraftRank.of(target, d.config(), d.weights(), LayerGroupPlan.standard(d.config().layers(), 1, 0), 16384)) {
            int vocab = target.config().vocabSize();
            for (boolean greedy : new boolean[] {true, false}) {
                List<Request> requests = requests(vocab, 8, 128, greedy);
                BatchHeldCheck.serve(target, draft, target.device(), requests(vocab, 8, 16, greedy), STEP_PATH, true);
                BatchHeldCheck.serve(target, draft, target.device(), requests(vocab, 8, 16, greedy), CHAIN_PATH, true);
                Served step = BatchHeldCheck.serve(target, draft, target.device(), requests, STEP_PATH, true);
                Served held = BatchHeldCheck.serve(target, draft, target.device(), requests, CHAIN_PATH, true);
                int identical = 0;
                for (int i = 0; i < requests.size(); i++) if (Arrays.equals(step.ids().get(i), held.ids().get(i))) identical++;
                double tpsStep = step.tokens() / (step.nanos() / 1e9), tpsHeld = held.tokens() / (held.nanos() / 1e9);
                SpecSampleCheck.emit(SpecSampleCheck.row("batchchain-rank-of-one", "model", "bundled", "batch", 8, "tokens", 128,
                        "sampling", greedy ? "greedy" : "T" + TEMPERATURE, "identical_requests", identical,
                        "acceptance_rate_step", SpecSampleCheck.rate(step.accepted(), step.drafted()),
                        "acceptance_rate_chain", SpecSampleCheck.rate(held.accepted(), held.drafted()),
                        "tokens_per_s_step", tpsStep, "tokens_per_s_chain", tpsHeld, "chain_over_step", tpsHeld / tpsStep,
                        "host_copies_per_step_step", (double) step.hostCopies() / step.steps(),
                        "host_copies_per_step_chain", (double) held.hostCopies() / held.steps(),
                        "pass", identical == requests.size() && held.drafted() > 0));
            }
        } catch (RuntimeException e) {
            SpecSampleCheck.emit(SpecSampleCheck.row("batchchain-rank-of-one", "model", "bundled", "pass", false, "error", e.toString()));
        }
    }

    /**
     * A group over actors of TWO ranks on this one GPU (the host-staged collectives stand in for NCCL, which refuses two
     * ranks on one GPU): each rank a {@link CudaTensorParallelRank} shard with its own sequential {@link CudaDraftRank},
     * driven by its own thread and its own {@code BatchEngine} over the same requests, as two JVMs would run them. The
     * ranks meet only in the forward's collectives, so they must hold, verify and decide every round alike: ids per
     * request equal across the ranks, on the held path and the step path, and held equal to step. Timings mean nothing
     * here (the transport stages every collective through host memory and the steps run without CUDA graphs). With
     * {@code easySpec} the draft replicas draft layer-parallel over the two ranks (plan 0-1, every-round calibration):
     * fuzzy steps with their all-gathers inside the held rounds.
     */
    static void ranksSharingOneGpu(Path models, boolean easySpec) {
        LoadedModel t = ModelFiles.load(models.resolve("target")), d = ModelFiles.load(models.resolve("draft"));
        byte[] groupId = new byte[16];
        new SplittableRandom(41).nextBytes(groupId);
        java.util.concurrent.ExecutorService[] threads = new java.util.concurrent.ExecutorService[2];
        CudaTensorParallelRank[] targets = new CudaTensorParallelRank[2];
        CudaDraftRank[] drafts = new CudaDraftRank[2];
        io.specdec.core.backend.LanguageModel[] drafting = new io.specdec.core.backend.LanguageModel[2];
        String check = easySpec ? "batchchain-two-ranks-one-gpu-easyspec" : "batchchain-two-ranks-one-gpu";
        System.setProperty(io.specdec.cuda.Collectives.SHARED_GPU_RANKS_PROPERTY, "true");
        try {
            for (int r = 0; r < 2; r++) threads[r] = java.util.concurrent.Executors.newSingleThreadExecutor();
            onBothRanks(threads, r -> {
                targets[r] = CudaTensorParallelRank.of(r, t.config(), t.weights(), groupId, r, 2, 16384);   // GPU r: the shared one stands in
                LayerGroupPlan plan = easySpec ? LayerGroupPlan.standard(d.config().layers(), 2, 0) : LayerGroupPlan.standard(d.config().layers(), 1, 0);
                drafts[r] = CudaDraftRank.of(targets[r], d.config(), d.weights(), plan, 16384);
                drafting[r] = easySpec ? new io.specdec.core.parallel.EasySpecDraftModel(drafts[r], io.specdec.core.parallel.CalibrationPolicy.EVERY_ROUND)
                        : drafts[r];
                return null;
            });
            int vocab = t.config().vocabSize();
            for (boolean greedy : new boolean[] {true, false}) {
                List<Request> requests = requests(vocab, 8, 96, greedy);
                List<Served> step = servedOnBothRanks(threads, targets, drafting, requests, STEP_PATH);
                List<Served> held = servedOnBothRanks(threads, targets, drafting, requests, CHAIN_PATH);
                int ranksAgreeStep = 0, ranksAgreeHeld = 0, heldEqualsStep = 0;
                for (int i = 0; i < requests.size(); i++) {
                    if (Arrays.equals(step.get(0).ids().get(i), step.get(1).ids().get(i))) ranksAgreeStep++;
                    if (Arrays.equals(held.get(0).ids().get(i), held.get(1).ids().get(i))) ranksAgreeHeld++;
                    if (Arrays.equals(held.get(0).ids().get(i), step.get(0).ids().get(i))) heldEqualsStep++;
                }
                int n = requests.size();
                SpecSampleCheck.emit(SpecSampleCheck.row(check, "model", "bundled", "batch", n, "tokens", 96,
                        "draft", easySpec ? "EasySpec plan " + drafts[0].plan() + ", every round" : "sequential",
                        "sampling", greedy ? "greedy" : "T" + TEMPERATURE, "transport", "host-staged (timings mean nothing)",
                        "ranks_agree_held", ranksAgreeHeld, "ranks_agree_step", ranksAgreeStep, "held_equals_step", heldEqualsStep,
                        "acceptance_rate_held", SpecSampleCheck.rate(held.get(0).accepted(), held.get(0).drafted()),
                        "acceptance_rate_step", SpecSampleCheck.rate(step.get(0).accepted(), step.get(0).drafted()),
                        "accepted_held_rank0_rank1", held.get(0).accepted() + "/" + held.get(1).accepted(),
                        "host_copies_per_step_held", (double) held.get(0).hostCopies() / held.get(0).steps(),
                        "host_copies_per_step_step", (double) step.get(0).hostCopies() / step.get(0).steps(),
                        // fewer copies show the held path ran (a draft it refuses would fall back to the step path)
                        "pass", ranksAgreeHeld == n && ranksAgreeStep == n && heldEqualsStep == n && held.get(0).drafted() > 0
                                && 2L * held.get(0).hostCopies() * step.get(0).steps() < step.get(0).hostCopies() * held.get(0).steps()));
            }
        } catch (RuntimeException e) {
            SpecSampleCheck.emit(SpecSampleCheck.row(check, "model", "bundled", "pass", false, "error", e.toString()));
        } finally {
            try {
                onBothRanks(threads, r -> {
                    if (drafts[r] != null) drafts[r].close();
                    if (targets[r] != null) targets[r].close();
                    return null;
                });
            } catch (RuntimeException e) {
                System.err.println("[batchchain] closing the two ranks: " + e);
            }
            for (var x : threads) if (x != null) x.shutdownNow();
            System.clearProperty(io.specdec.cuda.Collectives.SHARED_GPU_RANKS_PROPERTY);
        }
    }

    /** Both ranks serve the same requests at once, each on its own thread (the path's properties set around both). */
    private static List<Served> servedOnBothRanks(java.util.concurrent.ExecutorService[] threads, CudaTensorParallelRank[] targets,
                                                  io.specdec.core.backend.LanguageModel[] drafts, List<Request> requests,
                                                  Map<String, Boolean> path) {
        path.forEach((k, v) -> System.setProperty(k, String.valueOf(v)));
        try {
            return onBothRanks(threads, r -> BatchHeldCheck.serve(targets[r], drafts[r], targets[r].device(), requests, Map.of(), true));
        } finally {
            path.keySet().forEach(System::clearProperty);
        }
    }

    private static <T> List<T> onBothRanks(java.util.concurrent.ExecutorService[] threads, java.util.function.IntFunction<T> work) {
        List<java.util.concurrent.Future<T>> fs = new ArrayList<>();
        for (int r = 0; r < threads.length; r++) {
            int rank = r;
            fs.add(threads[r].submit(() -> work.apply(rank)));
        }
        List<T> out = new ArrayList<>();
        for (var f : fs) {
            try {
                out.add(f.get(300, java.util.concurrent.TimeUnit.SECONDS));
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException(e.getCause());
            } catch (InterruptedException | java.util.concurrent.TimeoutException e) {
                throw new IllegalStateException(e);
            }
        }
        return out;
    }

    static List<Request> requests(int vocab, int batch, int tokens, boolean greedy) {
        List<Request> out = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            int[] prompt = new SplittableRandom(200 + i).ints(8 + i % 24, 2, vocab).toArray();
            SamplingParams p = greedy ? SamplingParams.greedy() : SamplingParams.defaults().withTemperature(TEMPERATURE).withSeed((long) i + 1);
            out.add(new Request(prompt, p.withMaxTokens(tokens).withIgnoreEos(true), false));
        }
        return out;
    }

    /** One batch on both paths, two interleaved rounds each after a warm-up of both (graph capture of every shape). */
    static void compare(String label, CudaTransformer target, CudaTransformer draft, int batch, int tokens, boolean greedy) {
        int vocab = target.config().vocabSize();
        List<Request> requests = requests(vocab, batch, tokens, greedy);
        BatchHeldCheck.serve(target, draft, requests(vocab, batch, 16, greedy), STEP_PATH, true);
        BatchHeldCheck.serve(target, draft, requests(vocab, batch, 16, greedy), CHAIN_PATH, true);
        long stepNanos = 0, chainNanos = 0;
        int stepTokens = 0, chainTokens = 0;
        Served step = null, chain = null;
        for (int round = 0; round < 2; round++) {
            step = BatchHeldCheck.serve(target, draft, requests, STEP_PATH, true);
            chain = BatchHeldCheck.serve(target, draft, requests, CHAIN_PATH, true);
            stepNanos += step.nanos();
            chainNanos += chain.nanos();
            stepTokens += step.tokens();
            chainTokens += chain.tokens();
        }
        int identical = 0, equalsPlain = 0;
        Served plain = greedy ? BatchHeldCheck.serve(target, draft, requests, CHAIN_PATH, false) : null;
        for (int i = 0; i < batch; i++) {
            if (Arrays.equals(step.ids().get(i), chain.ids().get(i))) identical++;
            if (plain != null && Arrays.equals(plain.ids().get(i), chain.ids().get(i))) equalsPlain++;
        }
        double tpsStep = stepTokens / (stepNanos / 1e9), tpsChain = chainTokens / (chainNanos / 1e9);
        boolean pass = identical == batch && step.accepted() == chain.accepted() && chain.drafted() > 0;
        SpecSampleCheck.emit(SpecSampleCheck.row("batchchain", "model", label, "batch", batch, "tokens", tokens,
                "sampling", greedy ? "greedy" : "T" + TEMPERATURE, "gamma", 4, "identical_requests", identical,
                "equals_plain_greedy", greedy ? String.valueOf(equalsPlain) : "n/a",
                "acceptance_rate_step", SpecSampleCheck.rate(step.accepted(), step.drafted()),
                "acceptance_rate_chain", SpecSampleCheck.rate(chain.accepted(), chain.drafted()),
                "tokens_per_s_step", tpsStep, "tokens_per_s_chain", tpsChain, "chain_over_step", tpsChain / tpsStep,
                "host_copies_per_step_step", (double) step.hostCopies() / step.steps(),
                "host_copies_per_step_chain", (double) chain.hostCopies() / chain.steps(), "pass", pass));
    }

    /** Greedy, T 0.8, top-k, penalties and log-probabilities in one batch, both paths. */
    static void mixed(String label, CudaTransformer target, CudaTransformer draft) {
        int vocab = target.config().vocabSize();
        List<Request> requests = new ArrayList<>(requests(vocab, 3, 96, true));
        requests.addAll(requests(vocab, 3, 96, false));
        int[] prompt = new SplittableRandom(9).ints(16, 2, vocab).toArray();
        SamplingParams t08 = SamplingParams.defaults().withTemperature(TEMPERATURE).withMaxTokens(96).withIgnoreEos(true);
        requests.add(new Request(prompt, t08.withTopK(20).withSeed(5L), false));
        requests.add(new Request(prompt, t08.withSeed(6L), true));
        requests.add(new Request(prompt, SamplingParams.greedy().toBuilder().repetitionPenalty(1.2).build().withMaxTokens(96)
                .withIgnoreEos(true), false));
        Served step = BatchHeldCheck.serve(target, draft, requests, STEP_PATH, true);
        Served chain = BatchHeldCheck.serve(target, draft, requests, CHAIN_PATH, true);
        int identical = 0;
        for (int i = 0; i < requests.size(); i++) if (Arrays.equals(step.ids().get(i), chain.ids().get(i))) identical++;
        // greedy and sampled rounds draft in one forward per position on the chain path, in two on the step path
        SpecSampleCheck.emit(SpecSampleCheck.row("batchchain-mixed", "model", label, "requests", requests.size(),
                "kinds", "3 greedy + 3 T0.8 (held chains), top-k 20, T0.8 with logprobs, greedy with penalty",
                "identical_requests", identical, "pass", identical >= requests.size() - 1));
    }
}
