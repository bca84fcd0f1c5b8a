package io.specdec.cuda.check;

import io.specdec.core.generate.BatchEngine;
import io.specdec.core.generate.BatchSequence;
import io.specdec.core.generate.StepUpdate;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.cuda.Cublas;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.CudaTransformer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Mode {@code batchheld}: a served batch of sampled speculative requests (continuous batching, {@link BatchEngine})
 * with their draft rows held and verified on the GPU ({@code forwardSampledHolding} over the batch, {@code forwardEach}
 * with the fused acceptance kernel per request) against the same batch on the host path
 * ({@code -Dspecdec.cuda.hostAcceptance=true}: draft and target rows copied to the host). B requests at T 0.8 (seeds
 * 1..B), γ 4; then a mixed batch (held, greedy, top-k, log-probabilities). Ids are expected to be identical per request
 * (the same uniforms in the same order); they may part where float (device) and double (host) rounding put a uniform on
 * the other side of a boundary, as in {@code specsample}. Reports tokens/s of both paths. Since session 16 the device
 * path of temperature-only requests holds whole rounds ({@code batchchain}); the held-logits path this mode was written
 * for runs with {@code -Dspecdec.cuda.hostDraftTokens=true} (batchchain's step path).
 */
final class BatchHeldCheck {
    private static final double TEMPERATURE = 0.8;
    private static final int GAMMA = 4;

    private BatchHeldCheck() { }

    /**
     * @param models   the bundled pair's directory (target/, draft/), or null
     * @param config1b a Llama-3.2-1B-shape config.json (random weights; the draft is its first 2 layers), or null
     */
    static void run(CudaDevice device, Cublas cublas, Path models, Path config1b) {
        boolean bundled = SpecSampleCheck.withBundledPair(device, cublas, models, 16384, (target, draft) -> {
            compare("bundled", target, draft, 8, 200);
            mixed("bundled", target, draft);
        });
        if (!bundled) SpecSampleCheck.emit(SpecSampleCheck.row("batchheld", "model", "bundled", "skipped", "no models under " + models));
        if (config1b != null) {
            SpecSampleCheck.withRandomPair(device, cublas, config1b, 8192,
                    (target, draft) -> compare("llama-3.2-1b-random+first-2-layers", target, draft, 8, 96));
        }
    }

    record Request(int[] prompt, SamplingParams params, boolean logprobs) { }

    /** One batch served: ids per request, the drafted and accepted counts, wall time, tokens, engine steps, host copies. */
    record Served(Map<Integer, int[]> ids, long drafted, long accepted, long nanos, int tokens, long steps, long hostCopies) { }

    static Served serve(CudaTransformer target, CudaTransformer draft, List<Request> requests, boolean hostAcceptance) {
        return serve(target, draft, requests, Map.of("specdec.cuda.hostAcceptance", hostAcceptance), true);
    }

    /**
     * Serves {@code requests} in one engine until all finished, with the system {@code properties} set meanwhile (the
     * device's paths read them as a request joins); {@code drafted}: speculate with {@code draft}, else plain decoding.
     */
    static Served serve(CudaTransformer target, CudaTransformer draft, List<Request> requests, Map<String, Boolean> properties,
                        boolean drafted) {
        return serve(target, draft, target.device(), requests, properties, drafted);
    }

    /** As above for any target (a tensor-parallel one too); {@code counted}: the GPU whose host copies are counted. */
    static Served serve(io.specdec.core.backend.LanguageModel target, io.specdec.core.backend.LanguageModel draft, CudaDevice counted,
                        List<Request> requests, Map<String, Boolean> properties, boolean drafted) {
        properties.forEach((k, v) -> System.setProperty(k, String.valueOf(v)));
        try {
            BatchEngine engine = new BatchEngine(target, 256);
            Map<BatchSequence, Integer> index = new HashMap<>();
            long copies0 = counted.hostCopies();
            long t0 = System.nanoTime();
            for (int i = 0; i < requests.size(); i++) {
                Request r = requests.get(i);
                index.put(engine.add(r.prompt(), r.params(), drafted ? new ModelDrafter(draft) : null, drafted ? GammaPolicy.fixed(GAMMA) : null,
                        null, r.logprobs(), r.logprobs() ? 2 : 0), i);
            }
            Map<Integer, List<Integer>> out = new HashMap<>();
            long drafted0 = 0, accepted = 0;
            int finished = 0, tokens = 0;
            while (finished < requests.size()) {
                for (StepUpdate u : engine.step()) {
                    if (u.failure() != null) throw new IllegalStateException("request " + index.get(u.sequence()) + " failed: " + u.failure());
                    for (int t : u.tokens()) out.computeIfAbsent(index.get(u.sequence()), k -> new ArrayList<>()).add(t);
                    tokens += u.tokens().length;
                    if (u.finishReason() != null) {
                        finished++;
                        drafted0 += u.stats().drafted();
                        accepted += u.stats().accepted();
                    }
                }
            }
            long nanos = System.nanoTime() - t0;
            Map<Integer, int[]> ids = new HashMap<>();
            out.forEach((k, v) -> ids.put(k, v.stream().mapToInt(Integer::intValue).toArray()));
            return new Served(ids, drafted0, accepted, nanos, tokens, engine.steps(), counted.hostCopies() - copies0);
        } finally {
            properties.keySet().forEach(System::clearProperty);
        }
    }

    static List<Request> sampled(int vocab, int batch, int tokens) {
        List<Request> out = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            int[] prompt = new SplittableRandom(100 + i).ints(24, 2, vocab).toArray();
            out.add(new Request(prompt, SamplingParams.defaults().withTemperature(TEMPERATURE).withSeed((long) i + 1)
                    .withMaxTokens(tokens).withIgnoreEos(true), false));
        }
        return out;
    }

    /** B temperature-only requests, host vs device, two rounds each after a warm-up of both. */
    static void compare(String label, CudaTransformer target, CudaTransformer draft, int batch, int tokens) {
        int vocab = target.config().vocabSize();
        List<Request> requests = sampled(vocab, batch, tokens);
        serve(target, draft, sampled(vocab, batch, 24), true);   // warm-up: graph capture of every shape
        serve(target, draft, sampled(vocab, batch, 24), false);
        long hostNanos = 0, deviceNanos = 0;
        int hostTokens = 0, deviceTokens = 0;
        Served host = null, dev = null;
        for (int round = 0; round < 2; round++) {
            host = serve(target, draft, requests, true);
            dev = serve(target, draft, requests, false);
            hostNanos += host.nanos();
            deviceNanos += dev.nanos();
            hostTokens += host.tokens();
            deviceTokens += dev.tokens();
        }
        int identical = 0, minPrefix = Integer.MAX_VALUE;
        for (int i = 0; i < batch; i++) {
            int[] a = host.ids().get(i), b = dev.ids().get(i);
            int same = 0;
            while (same < Math.min(a.length, b.length) && a[same] == b[same]) same++;
            minPrefix = Math.min(minPrefix, same);
            if (Arrays.equals(a, b)) identical++;
        }
        double rateHost = SpecSampleCheck.rate(host.accepted(), host.drafted()), rateDevice = SpecSampleCheck.rate(dev.accepted(), dev.drafted());
        double tpsHost = hostTokens / (hostNanos / 1e9), tpsDevice = deviceTokens / (deviceNanos / 1e9);
        boolean pass = identical >= batch - 1 && Math.abs(rateHost - rateDevice) < 0.05 && dev.drafted() > 0;
        SpecSampleCheck.emit(SpecSampleCheck.row("batchheld-host-vs-device", "model", label, "batch", batch, "tokens", tokens,
                "temperature", TEMPERATURE, "gamma", GAMMA, "identical_requests", identical, "min_equal_prefix", minPrefix,
                "acceptance_rate_host", rateHost, "acceptance_rate_device", rateDevice, "tokens_per_s_host", tpsHost,
                "tokens_per_s_device", tpsDevice, "device_over_host", tpsDevice / tpsHost, "pass", pass));
    }

    /** Held, greedy, top-k and log-probability requests in one batch: each input answered its own way. */
    static void mixed(String label, CudaTransformer target, CudaTransformer draft) {
        int vocab = target.config().vocabSize();
        List<Request> requests = new ArrayList<>(sampled(vocab, 3, 96));
        int[] prompt = new SplittableRandom(9).ints(16, 2, vocab).toArray();
        requests.add(new Request(prompt, SamplingParams.greedy().withMaxTokens(96).withIgnoreEos(true), false));
        requests.add(new Request(prompt, SamplingParams.defaults().withTemperature(TEMPERATURE).withTopK(20).withSeed(5L)
                .withMaxTokens(96).withIgnoreEos(true), false));
        requests.add(new Request(prompt, SamplingParams.defaults().withTemperature(TEMPERATURE).withSeed(6L)
                .withMaxTokens(96).withIgnoreEos(true), true));
        Served host = serve(target, draft, requests, true), dev = serve(target, draft, requests, false);
        int identical = 0;
        for (int i = 0; i < requests.size(); i++) if (Arrays.equals(host.ids().get(i), dev.ids().get(i))) identical++;
        SpecSampleCheck.emit(SpecSampleCheck.row("batchheld-mixed", "model", label, "requests", requests.size(),
                "kinds", "3 held T0.8, greedy, top-k 20, T0.8 with logprobs", "identical_requests", identical,
                "pass", identical >= requests.size() - 1));
    }
}
