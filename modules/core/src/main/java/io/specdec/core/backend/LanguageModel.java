package io.specdec.core.backend;

import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;

import java.util.List;

/**
 * A model a backend can run: the one interface the speculative algorithms, the scheduler and the CLI use, whatever
 * executes it (CPU threads, a GPU, a tensor-parallel group). Batch-first: every call takes a ragged batch.
 */
public interface LanguageModel extends AutoCloseable {

    ModelConfig config();

    /** A new, empty sequence in this model's KV cache. Release it when done. */
    KvSequence newSequence();

    /**
     * One forward over a ragged batch. Each input's tokens are appended to its sequence's KV cache. Returns, per
     * input, the logits (vocabulary-sized rows) of the rows it asked for, in the order asked.
     */
    List<float[][]> forward(List<SequenceInput> batch);

    /**
     * The greedy token (argmax, lowest index on ties) of each requested row, in order over the batch. A backend that
     * holds the logits elsewhere (a GPU) overrides this so only the ids reach the host.
     */
    default int[] forwardArgmax(List<SequenceInput> batch) {
        return argmaxOfRows(forward(batch));
    }

    /**
     * One token per requested row (in order over the batch), drawn as {@link io.specdec.core.sampling.Sampler} draws:
     * the row's distribution processed by {@code params} (no penalties: they need each sequence's history), then the
     * inverse CDF at that row's uniform. A backend holding the logits on a device overrides this so only ids move.
     */
    default int[] forwardSampled(List<SequenceInput> batch, io.specdec.core.sampling.SamplingParams params, double[] uniforms) {
        if (params.hasPenalties()) throw new IllegalArgumentException("forwardSampled takes no penalties");
        io.specdec.core.sampling.LogitsProcessor processor = new io.specdec.core.sampling.LogitsProcessor(params);
        List<float[][]> logits = forward(batch);
        int[] out = new int[uniforms.length];
        int i = 0;
        for (float[][] rows : logits) {
            for (float[] row : rows) {
                out[i] = io.specdec.core.sampling.Sampler.inverseCdf(
                        processor.probabilities(row, io.specdec.core.sampling.TokenHistory.empty()), uniforms[i]);
                i++;
            }
        }
        return out;
    }

    /** The argmax of every row of per-input logits, flattened in order. */
    static int[] argmaxOfRows(List<float[][]> logits) {
        int n = 0;
        for (float[][] rows : logits) n += rows.length;
        int[] out = new int[n];
        int i = 0;
        for (float[][] rows : logits) for (float[] row : rows) out[i++] = io.specdec.core.sampling.LogitsProcessor.argmax(row);
        return out;
    }

    /** Convenience for a single input. */
    default float[][] forward(SequenceInput input) {
        return forward(List.of(input)).getFirst();
    }

    @Override
    void close();
}
