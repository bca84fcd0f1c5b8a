package io.specdec.server;

import io.specdec.api.v1.GenerateRequest;
import io.specdec.api.v1.SpeculationOverride;
import io.specdec.cluster.GenerationJob;
import io.specdec.core.sampling.SamplingParams;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;

/**
 * Validates a {@link GenerateRequest} and turns it into a {@link GenerationJob}. Every rejection is an
 * {@link IllegalArgumentException} naming the field, which {@link GrpcErrors} answers with INVALID_ARGUMENT.
 */
public final class RequestMapper {
    public static final int DEFAULT_MAX_TOKENS = SamplingParams.DEFAULT_MAX_TOKENS;
    public static final int MAX_STOP_SEQUENCES = 64;
    public static final int MAX_STOP_LENGTH = 256;
    public static final int MAX_PROMPT_CHARS = 1 << 20;

    private final int maxTokensLimit;

    /** @param maxTokensLimit largest max_tokens accepted (the served context bounds it again per model) */
    public RequestMapper(int maxTokensLimit) {
        this.maxTokensLimit = maxTokensLimit;
    }

    public GenerationJob map(GenerateRequest r, long deadlineMillis) {
        String text = null;
        int[] ids = null;
        List<String> chat = null;
        switch (r.getPromptCase()) {
            case TEXT -> {
                text = r.getText();
                require(!text.isEmpty(), "prompt text is empty");
                require(text.length() <= MAX_PROMPT_CHARS, "prompt text has " + text.length() + " characters, more than "
                        + MAX_PROMPT_CHARS);
            }
            case TOKEN_IDS -> {
                ids = r.getTokenIds().getIdsList().stream().mapToInt(Integer::intValue).toArray();
                require(ids.length > 0, "prompt token_ids is empty");
                for (int i = 0; i < ids.length; i++) require(ids[i] >= 0, "prompt token_ids[" + i + "] is negative: " + ids[i]);
            }
            case CHAT -> {
                require(r.getChat().getMessagesCount() > 0, "chat prompt has no messages");
                chat = new ArrayList<>();
                for (var m : r.getChat().getMessagesList()) {
                    require(!m.getRole().isEmpty(), "chat message without a role");
                    chat.add(m.getRole());
                    chat.add(m.getContent());
                }
            }
            case PROMPT_NOT_SET -> throw new IllegalArgumentException("no prompt: set text, token_ids or chat");
        }
        require(r.getMaxTokens() >= 0, "max_tokens must be >= 0 (0 = default " + DEFAULT_MAX_TOKENS + "): " + r.getMaxTokens());
        require(r.getMaxTokens() <= maxTokensLimit, "max_tokens " + r.getMaxTokens() + " exceeds the limit of " + maxTokensLimit);
        require(r.getStopCount() <= MAX_STOP_SEQUENCES, r.getStopCount() + " stop sequences, at most " + MAX_STOP_SEQUENCES);
        for (int i = 0; i < r.getStopCount(); i++) {
            String s = r.getStop(i);
            require(!s.isEmpty(), "stop[" + i + "] is empty");
            require(s.length() <= MAX_STOP_LENGTH, "stop[" + i + "] is longer than " + MAX_STOP_LENGTH + " characters");
        }
        require(r.getStopTokenIdsCount() <= 1024, "more than 1024 stop_token_ids");
        Set<Integer> stopIds = new HashSet<>();
        for (int id : r.getStopTokenIdsList()) {
            require(id >= 0, "stop_token_ids contains a negative id: " + id);
            stopIds.add(id);
        }
        require(r.getTopLogprobs() >= 0 && r.getTopLogprobs() <= 20, "top_logprobs must be in [0, 20]: " + r.getTopLogprobs());
        var s = r.getSampling();
        require(!Double.isNaN(s.getTemperature()), "sampling.temperature is NaN");
        SamplingParams params;
        try {
            params = SamplingParams.builder()
                    .temperature(s.getTemperature())
                    .topK(s.getTopK())
                    .topP(s.hasTopP() ? s.getTopP() : 1.0)
                    .minP(s.getMinP())
                    .repetitionPenalty(s.hasRepetitionPenalty() ? s.getRepetitionPenalty() : 1.0)
                    .presencePenalty(s.getPresencePenalty())
                    .frequencyPenalty(s.getFrequencyPenalty())
                    .seed(r.hasSeed() ? r.getSeed() : null)
                    .maxTokens(r.getMaxTokens() == 0 ? DEFAULT_MAX_TOKENS : r.getMaxTokens())
                    .stopStrings(r.getStopList())
                    .stopTokenIds(stopIds)
                    .ignoreEos(r.getIgnoreEos())
                    .build();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("sampling: " + e.getMessage(), e);
        }
        SpeculationOverride sp = r.getSpeculation();
        String mode = switch (sp.getMode()) {
            case MODE_OFF -> "off";
            case MODE_ON -> "on";
            case MODE_DEFAULT -> "default";
            case UNRECOGNIZED -> throw new IllegalArgumentException("speculation.mode is not a known value");
        };
        require(sp.getGamma() >= 0 && sp.getGamma() <= 16, "speculation.gamma must be in [0, 16]: " + sp.getGamma());
        require(sp.getDrafter().isEmpty() || sp.getDrafter().equals("model") || sp.getDrafter().equals("ngram"),
                "speculation.drafter must be \"model\" or \"ngram\": \"" + sp.getDrafter() + "\"");
        return new GenerationJob(UUID.randomUUID().toString(), text, ids, chat, params, mode, sp.getGamma(), sp.getDrafter(),
                r.getLogprobs() || r.getTopLogprobs() > 0, r.getTopLogprobs(), deadlineMillis, null);
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }
}
