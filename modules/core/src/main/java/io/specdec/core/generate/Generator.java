package io.specdec.core.generate;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.GammaPolicy;

/**
 * Runs requests against one target model, speculatively when a {@link Drafter} is given, otherwise by plain
 * decoding. One request at a time (the drafter holds per-request state); batching many requests is the scheduler's
 * job, not this class's.
 */
public final class Generator {
    private final LanguageModel target;
    private final Drafter drafter;
    private final GammaPolicy gamma;
    private boolean busy;

    /**
     * @param target  the model whose distribution the output follows
     * @param drafter proposes tokens, or null for plain decoding
     * @param gamma   draft length per round (ignored without a drafter)
     */
    public Generator(LanguageModel target, Drafter drafter, GammaPolicy gamma) {
        if (target == null) throw new IllegalArgumentException("a generator needs a target model");
        if (drafter != null && gamma == null) throw new IllegalArgumentException("a drafter needs a gamma policy");
        this.target = target;
        this.drafter = drafter;
        this.gamma = gamma;
    }

    /** Plain decoding: one target forward per token. */
    public static Generator plain(LanguageModel target) {
        return new Generator(target, null, null);
    }

    public static Generator speculative(LanguageModel target, Drafter drafter, int gamma) {
        return new Generator(target, drafter, GammaPolicy.fixed(gamma));
    }

    public LanguageModel target() { return target; }

    public Drafter drafter() { return drafter; }

    public GammaPolicy gamma() { return gamma; }

    /** Runs a request to its end and frees its KV. */
    public GenerationResult generate(int[] prompt, SamplingParams params, TokenListener listener) {
        return generate(prompt, params, listener, null);
    }

    /** As {@link #generate(int[], SamplingParams, TokenListener)}, with text and stop strings via {@code decoder}. */
    public GenerationResult generate(int[] prompt, SamplingParams params, TokenListener listener, TextDecoder decoder) {
        try (Generation g = start(prompt, params, listener, decoder)) {
            return g.run();
        }
    }

    /**
     * Prefills a request and returns it for step-by-step driving; close it to free its KV and the drafter.
     *
     * @param prompt  non-empty (a caller with an empty prompt passes [BOS])
     * @param decoder needed when {@code params} has stop strings; may be null otherwise
     */
    public Generation start(int[] prompt, SamplingParams params, TokenListener listener, TextDecoder decoder) {
        if (busy) throw new IllegalStateException("this generator is already running a request");
        Generation g = new Generation(this, prompt, params, listener == null ? TokenListener.NONE : listener, decoder);
        busy = true;
        return g;
    }

    void finished() {
        busy = false;
    }
}
