package io.specdec.core.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Renders a model's Jinja chat template (tokenizer_config.json {@code chat_template}, GGUF
 * {@code tokenizer.chat_template}) into the prompt text, the way transformers' {@code apply_chat_template} does.
 */
public final class ChatTemplate {

    private final String template;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinja;

    public ChatTemplate(String template, String bosToken, String eosToken) {
        this.template = template;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        // transformers compiles chat templates with trim_blocks and lstrip_blocks; without them every
        // {% ... %} line would leave a newline in the prompt.
        this.jinja = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true).build());
        jinja.getGlobalContext().registerFunction(new ELFunctionDefinition(
                "", "raise_exception", ChatTemplate.class, "raiseException", String.class));
    }

    /** The tokenizer's own template, with its BOS/EOS pieces as {@code bos_token} / {@code eos_token}. */
    public static ChatTemplate of(Tokenizer tokenizer) {
        String template = tokenizer.chatTemplate().orElseThrow(() ->
                new ChatTemplateException("tokenizer " + tokenizer + " ships no chat template"));
        String bos = tokenizer.bosId() >= 0 ? tokenizer.tokenText(tokenizer.bosId()) : "";
        String eos = tokenizer.eosId() >= 0 ? tokenizer.tokenText(tokenizer.eosId()) : "";
        return new ChatTemplate(template, bos, eos);
    }

    /** Called by templates as {@code raise_exception('...')}; public only so Jinjava can bind it. */
    public static String raiseException(String message) {
        throw new ChatTemplateException("chat template rejected the conversation: " + message);
    }

    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /** @param extraVariables further template variables (e.g. {@code tools}, {@code date_string}) */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, Object> extraVariables) {
        Map<String, Object> variables = new HashMap<>(extraVariables);
        // Plain maps, so templates may write message['content'] as well as message.content.
        variables.put("messages", messages.stream().map(m -> {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            return map;
        }).toList());
        variables.put("add_generation_prompt", addGenerationPrompt);
        variables.put("bos_token", bosToken);
        variables.put("eos_token", eosToken);
        RenderResult result;
        try {
            result = jinja.renderForResult(template, variables);
        } catch (RuntimeException e) {
            throw rethrow(e);
        }
        List<TemplateError> fatal = result.getErrors().stream()
                .filter(error -> error.getSeverity() == TemplateError.ErrorType.FATAL).toList();
        if (!fatal.isEmpty()) {
            for (TemplateError error : fatal) {
                if (error.getException() != null) {
                    throw rethrow(error.getException());
                }
            }
            throw new ChatTemplateException("chat template failed to render: " + fatal.stream()
                    .map(e -> "line " + e.getLineno() + ": " + e.getMessage()).collect(Collectors.joining("; ")));
        }
        return result.getOutput();
    }

    /** Surfaces raise_exception's message however deep Jinjava wrapped it. */
    private static RuntimeException rethrow(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof ChatTemplateException raised) {
                return raised;
            }
        }
        return new ChatTemplateException("chat template failed to render: " + failure.getMessage());
    }
}
