package io.specdec.core.generate;

import io.specdec.core.sampling.SamplingParams;

/** The checks every request passes before it touches a KV cache, with messages naming what is wrong. */
final class RequestChecks {
    private RequestChecks() {
    }

    static void validate(int[] prompt, SamplingParams params, TextDecoder decoder, int vocabSize, int maxSequenceLength) {
        if (prompt == null || prompt.length == 0) {
            throw new IllegalArgumentException("the prompt must not be empty (pass [BOS] for an empty prompt)");
        }
        for (int i = 0; i < prompt.length; i++) {
            if (prompt[i] < 0 || prompt[i] >= vocabSize) {
                throw new IllegalArgumentException("prompt token " + i + " is " + prompt[i] + ", outside the vocabulary of "
                        + vocabSize);
            }
        }
        if (prompt.length >= maxSequenceLength) {
            throw new IllegalArgumentException("prompt of " + prompt.length + " tokens leaves no room in the model's "
                    + maxSequenceLength + "-token context");
        }
        if (!params.stopStrings().isEmpty() && decoder == null) {
            throw new IllegalArgumentException("stop strings " + params.stopStrings() + " need a text decoder");
        }
    }
}
