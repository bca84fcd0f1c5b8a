package io.specdec.core.generate;

import io.specdec.core.kv.KvSequence;
import io.specdec.core.sampling.LogitsProcessor;
import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.StopStringMatcher;
import io.specdec.core.sampling.TokenHistory;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.SpeculationStats;

import java.util.Arrays;
import java.util.Set;

/**
 * One request inside a {@link BatchEngine}: the same state as a {@link Generation} (context, KV sequence, sampler,
 * drafter, stop matching, statistics), driven by the engine's batched steps instead of its own loop. The KV holds
 * a prefix of the context; between steps the tokens it lacks (the prompt while prefilling, else just the last token)
 * are the start of the sequence's next forward chunk.
 */
public final class BatchSequence {
    final long id;
    final SamplingParams params;
    final LogitsProcessor processor;
    final Sampler sampler;
    final Drafter drafter;
    final GammaPolicy gamma;
    final TextDecoder decoder;
    final StopStringMatcher stopMatcher;
    final Set<Integer> eos;
    final int promptLength;
    final int topLogprobs;
    final boolean logprobs;
    final SpeculationStats.Recorder stats = new SpeculationStats.Recorder();
    final KvSequence sequence;
    /** The draft's logits rows kept where the target verifies them (a sampled request's device path), or null. */
    io.specdec.core.backend.HeldLogits held;
    /** Whole rounds kept where the models run, draft ids included (greedy or temperature-only), or null. */
    io.specdec.core.backend.HeldChain chain;
    int[] context;
    int length;
    FinishReason finishReason;
    String failure;
    boolean released;

    BatchSequence(long id, KvSequence sequence, int[] prompt, SamplingParams params, Drafter drafter, GammaPolicy gamma,
                  TextDecoder decoder, Set<Integer> eos, boolean logprobs, int topLogprobs) {
        this.id = id;
        this.sequence = sequence;
        this.params = params;
        this.processor = new LogitsProcessor(params);
        this.sampler = Sampler.seeded(params.seed());
        this.drafter = drafter;
        this.gamma = gamma;
        this.decoder = decoder;
        this.stopMatcher = decoder == null ? null : new StopStringMatcher(params.stopStrings());
        this.eos = params.ignoreEos() ? Set.of() : eos;
        this.promptLength = prompt.length;
        this.logprobs = logprobs;
        this.topLogprobs = topLogprobs;
        this.context = Arrays.copyOf(prompt, Math.max(16, prompt.length + Math.min(params.maxTokens(), 1024) + 16));
        this.length = prompt.length;
    }

    /** The engine-assigned id, unique per engine. */
    public long id() { return id; }

    public int promptLength() { return promptLength; }

    public int generated() { return length - promptLength; }

    public boolean finished() { return finishReason != null || failure != null; }

    public FinishReason finishReason() { return finishReason; }

    /** Why the engine dropped the request (e.g. the KV cache ran out), or null. */
    public String failure() { return failure; }

    /** Prompt followed by the output so far. */
    public int[] context() { return Arrays.copyOf(context, length); }

    /** Generated tokens so far. */
    public int[] output() { return Arrays.copyOfRange(context, promptLength, length); }

    public KvSequence targetSequence() { return sequence; }

    public SpeculationStats stats() { return stats.snapshot(); }

    /** Whether the prompt is still (partly) missing from the KV cache. */
    public boolean prefilling() { return sequence.length() < length - 1; }

    TokenHistory history() { return new TokenHistory(context, length, promptLength); }

    void append(int token) {
        if (length == context.length) context = Arrays.copyOf(context, context.length * 2);
        context[length++] = token;
    }

    @Override public String toString() {
        return "BatchSequence[" + id + ", prompt=" + promptLength + ", generated=" + generated()
                + (finishReason == null ? "" : ", " + finishReason) + "]";
    }
}
