package io.specdec.cuda.check;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.specdec.core.format.ModelFiles;
import io.specdec.core.generate.GenerationResult;
import io.specdec.core.generate.Generator;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.ChainUniforms;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.SpeculativeSampler;
import io.specdec.cuda.Cublas;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.CudaTransformer;
import io.specdec.cuda.DeviceBuffer;
import io.specdec.cuda.DeviceWeights;
import io.specdec.cuda.FusedAcceptance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Mode {@code specsample}: speculative sampling with the acceptance decided on the device (draft and target logits
 * stay on the GPU, {@link FusedAcceptance}) against the host path ({@code -Dspecdec.cuda.hostAcceptance=true}), at
 * T 0.8 for 256 tokens with the same seeds. Both draw the same uniforms in the same order ({@link ChainUniforms}), so
 * the ids are expected to be identical; they can differ only where float (device) and double (host) rounding put a
 * uniform on the other side of a ratio or CDF boundary. Then losslessness of the device decision itself: the first
 * (and second) emitted token of many single rounds on fixed logits against the target's distribution (χ²).
 */
final class SpecSampleCheck {
    private static final double TEMPERATURE = 0.8;
    private static final int TOKENS = 256;
    private static final int GAMMA = 4;
    private static final int SEEDS = 5;

    private SpecSampleCheck() { }

    /**
     * @param models   the bundled pair's directory (holding target/ and draft/), or null to skip it
     * @param config1b a config.json of the Llama-3.2-1B shape (random weights; the draft is its first 2 layers), or null
     */
    static void run(CudaDevice device, Cublas cublas, Path models, Path config1b) {
        lossless(device);
        if (!withBundledPair(device, cublas, models, 2048, (target, draft) -> compare("bundled", target, draft))) {
            emit(row("specsample-host-vs-device", "model", "bundled", "skipped", "no models/target and models/draft under " + models));
        }
        if (config1b != null) {
            withRandomPair(device, cublas, config1b, 1024, (target, draft) -> compare("llama-3.2-1b-random+first-2-layers", target, draft));
        }
    }

    /** Runs {@code body} on the bundled target and draft uploaded to the GPU; false when {@code models} lacks them. */
    static boolean withBundledPair(CudaDevice device, Cublas cublas, Path models, int kvTokens,
                                   java.util.function.BiConsumer<CudaTransformer, CudaTransformer> body) {
        if (models == null || !Files.isDirectory(models.resolve("target")) || !Files.isDirectory(models.resolve("draft"))) return false;
        LoadedModel t = ModelFiles.load(models.resolve("target")), d = ModelFiles.load(models.resolve("draft"));
        DeviceWeights tw = DeviceWeights.upload(device, t.config(), t.weights());
        DeviceWeights dw = DeviceWeights.upload(device, d.config(), d.weights());
        try (CudaTransformer target = new CudaTransformer(device, cublas, t.config(), tw, kvTokens, 16);
             CudaTransformer draft = new CudaTransformer(device, cublas, d.config(), dw, kvTokens, 16)) {
            body.accept(target, draft);
        }
        return true;
    }

    /** Runs {@code body} on a config's random-weights target and its first 2 layers as the draft (shared weights). */
    static void withRandomPair(CudaDevice device, Cublas cublas, Path config, int kvTokens,
                               java.util.function.BiConsumer<CudaTransformer, CudaTransformer> body) {
        ModelConfig c = GpuCheck.configOf(config);
        DeviceWeights w = DeviceWeights.random(device, c, 1);
        DeviceWeights dw = new DeviceWeights(w.embedding(), w.layers().subList(0, 2), w.finalNorm(), w.output(), 0);
        try (CudaTransformer target = new CudaTransformer(device, cublas, c, w, kvTokens, 16);
             CudaTransformer draft = new CudaTransformer(device, cublas, c.firstLayers(2), dw, kvTokens, 16)) {
            body.accept(target, draft);
        }
    }

    /** Host vs device acceptance on one pair: ids, acceptance rates, tokens/s. */
    static void compare(String label, CudaTransformer target, CudaTransformer draft) {
        int vocab = target.config().vocabSize();
        int[] prompt = new SplittableRandom(7).ints(24, 2, vocab).toArray();
        // warm-up (graph capture of every shape, kernel look-ups) for both paths
        generate(target, draft, prompt, 1, 48, true);
        generate(target, draft, prompt, 1, 48, false);
        int identical = 0, minPrefix = Integer.MAX_VALUE, tokensHost = 0, tokensDevice = 0;
        long nanosHost = 0, nanosDevice = 0;
        long draftedHost = 0, acceptedHost = 0, draftedDevice = 0, acceptedDevice = 0;
        boolean pathsRight = true;
        for (int seed = 1; seed <= SEEDS; seed++) {
            long t0 = System.nanoTime();
            GenerationResult host = generate(target, draft, prompt, seed, TOKENS, true);
            long t1 = System.nanoTime();
            GenerationResult dev = generate(target, draft, prompt, seed, TOKENS, false);
            long t2 = System.nanoTime();
            pathsRight &= host.acceptance().equals("host") && dev.acceptance().equals("device-fused");
            nanosHost += t1 - t0;
            nanosDevice += t2 - t1;
            tokensHost += host.tokens().length;
            tokensDevice += dev.tokens().length;
            draftedHost += host.stats().drafted();
            acceptedHost += host.stats().accepted();
            draftedDevice += dev.stats().drafted();
            acceptedDevice += dev.stats().accepted();
            int same = 0;
            while (same < Math.min(host.tokens().length, dev.tokens().length) && host.tokens()[same] == dev.tokens()[same]) same++;
            minPrefix = Math.min(minPrefix, same);
            if (Arrays.equals(host.tokens(), dev.tokens())) identical++;
            emit(row("specsample-run", "model", label, "seed", seed, "identical", Arrays.equals(host.tokens(), dev.tokens()),
                    "equal_prefix", same, "tokens", dev.tokens().length,
                    "distinct_tokens", Arrays.stream(dev.tokens()).distinct().count(), "acceptance_host", host.acceptance(),
                    "acceptance_device", dev.acceptance(), "rate_host", rate(host.stats().accepted(), host.stats().drafted()),
                    "rate_device", rate(dev.stats().accepted(), dev.stats().drafted()),
                    "ms_host", (t1 - t0) / 1e6, "ms_device", (t2 - t1) / 1e6));
        }
        double tpsHost = tokensHost / (nanosHost / 1e9), tpsDevice = tokensDevice / (nanosDevice / 1e9);
        double rateHost = rate(acceptedHost, draftedHost), rateDevice = rate(acceptedDevice, draftedDevice);
        // identical ids are the expectation; one seed may diverge on a rounding boundary (see the class comment)
        boolean pass = pathsRight && identical >= SEEDS - 1 && Math.abs(rateHost - rateDevice) < 0.05;
        emit(row("specsample-host-vs-device", "model", label, "temperature", TEMPERATURE, "gamma", GAMMA, "tokens", TOKENS,
                "seeds", SEEDS, "identical_runs", identical, "min_equal_prefix", minPrefix, "paths_as_asked", pathsRight,
                "acceptance_rate_host", rateHost, "acceptance_rate_device", rateDevice,
                "tokens_per_s_host", tpsHost, "tokens_per_s_device", tpsDevice, "device_over_host", tpsDevice / tpsHost,
                "pass", pass));
    }

    static GenerationResult generate(CudaTransformer target, CudaTransformer draft, int[] prompt, long seed, int tokens,
                                     boolean hostAcceptance) {
        System.setProperty("specdec.cuda.hostAcceptance", String.valueOf(hostAcceptance));
        try {
            SamplingParams params = SamplingParams.defaults().withTemperature(TEMPERATURE).withSeed(seed)
                    .withMaxTokens(tokens).withIgnoreEos(true);
            return Generator.speculative(target, new ModelDrafter(draft), GAMMA).generate(prompt, params, null);
        } finally {
            System.clearProperty("specdec.cuda.hostAcceptance");
        }
    }

    /**
     * Single rounds of the device decision on fixed random logits (vocabulary 64, γ 4, T 0.8), uniforms drawn and put
     * back through {@link ChainUniforms} on one continuing stream as the generation loop does, drafts drawn from q: the
     * first emitted token must follow p_1, and the second (in rounds that accepted x1) p_2.
     */
    static void lossless(CudaDevice device) {
        int vocab = 64, gamma = GAMMA, trials = 20000;
        double invTemp = 1 / TEMPERATURE;
        SplittableRandom r = new SplittableRandom(2024);
        float[] p = new float[(gamma + 1) * vocab], q = new float[gamma * vocab];
        for (int i = 0; i < p.length; i++) p[i] = (float) (1.5 * r.nextGaussian());
        for (int i = 0; i < q.length; i++) q[i] = p[i] + (float) r.nextGaussian();
        double[][] ps = new double[gamma + 1][], qs = new double[gamma][];
        for (int i = 0; i <= gamma; i++) ps[i] = GpuCheck.softmax(Arrays.copyOfRange(p, i * vocab, (i + 1) * vocab), invTemp);
        for (int i = 0; i < gamma; i++) qs[i] = GpuCheck.softmax(Arrays.copyOfRange(q, i * vocab, (i + 1) * vocab), invTemp);
        DeviceBuffer pd = device.allocate(4L * p.length), qd = device.allocate(4L * q.length);
        long[] first = new long[vocab], second = new long[vocab];
        long n2 = 0, acceptedTotal = 0;
        Sampler uniforms = Sampler.seeded(77);
        SplittableRandom drafts = new SplittableRandom(78);
        try (FusedAcceptance fa = new FusedAcceptance(device, gamma)) {
            device.copyToDevice(pd, p);
            device.copyToDevice(qd, q);
            for (int t = 0; t < trials; t++) {
                int[] x = new int[gamma];
                for (int i = 0; i < gamma; i++) x[i] = Sampler.inverseCdf(qs[i], drafts.nextDouble());
                ChainUniforms u = ChainUniforms.draw(uniforms, gamma);
                SpeculativeSampler.Outcome o = fa.verify(pd, qd, x, u.accept(), u.sample(), vocab, (float) TEMPERATURE);
                u.settle(uniforms, o.accepted());
                first[o.emitted()[0]]++;
                acceptedTotal += o.accepted();
                if (o.accepted() >= 1) {
                    second[o.emitted()[1]]++;
                    n2++;
                }
            }
        } finally {
            device.free(pd);
            device.free(qd);
        }
        double p1 = chiSquarePValue(first, ps[0], trials);
        double p2 = chiSquarePValue(second, ps[1], n2);
        emit(row("specsample-lossless-device", "vocab", vocab, "gamma", gamma, "temperature", TEMPERATURE, "trials", trials,
                "mean_accepted", acceptedTotal / (double) trials, "first_token_p_value", p1, "second_token_samples", n2,
                "second_token_p_value", p2, "pass", p1 > 0.001 && p2 > 0.001));
    }

    /**
     * Upper-tail p-value of Pearson's χ² of {@code counts} against {@code n} draws from {@code expected}, bins expected
     * below 5 pooled into one (Wilson–Hilferty); 0 when a token of probability 0 was drawn.
     */
    static double chiSquarePValue(long[] counts, double[] expected, long n) {
        double chi = 0, pooledExpected = 0;
        long pooledCount = 0;
        int bins = 0;
        for (int v = 0; v < counts.length; v++) {
            double e = n * expected[v];
            if (e <= 0) {
                if (counts[v] > 0) return 0;
                continue;
            }
            if (e < 5) {
                pooledExpected += e;
                pooledCount += counts[v];
                continue;
            }
            chi += (counts[v] - e) * (counts[v] - e) / e;
            bins++;
        }
        if (pooledExpected > 0) {
            chi += (pooledCount - pooledExpected) * (pooledCount - pooledExpected) / pooledExpected;
            bins++;
        }
        int df = bins - 1;
        if (df < 1) return Double.NaN;
        double z = (Math.cbrt(chi / df) - (1 - 2.0 / (9 * df))) / Math.sqrt(2.0 / (9 * df));
        return 0.5 * GpuCheck.erfc(z / Math.sqrt(2));
    }

    static double rate(long accepted, long drafted) {
        return drafted == 0 ? 0 : accepted / (double) drafted;
    }

    /** A JSON row: check name, then alternating names and values. */
    static Map<String, Object> row(String check, Object... fields) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("check", check);
        for (int i = 0; i + 1 < fields.length; i += 2) {
            Object v = fields[i + 1];
            if (v instanceof Double d && !Double.isFinite(d)) v = null;
            m.put(String.valueOf(fields[i]), v);
        }
        return m;
    }

    static void emit(Map<String, Object> row) {
        try {
            GpuCheck.emit(new ObjectMapper().writeValueAsString(row));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
