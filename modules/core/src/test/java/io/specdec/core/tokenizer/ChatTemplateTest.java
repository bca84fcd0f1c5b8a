package io.specdec.core.tokenizer;

import io.specdec.core.testing.SharedTestData;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class ChatTemplateTest {

    private static ChatTemplate tinyLlamaZephyr() {
        return ChatTemplate.of(Tokenizers.load(SharedTestData.file("hf-tokenizers/tinyllama")));
    }

    @Test
    void tinyLlamaZephyrTemplateRendersSystemUserAndGenerationPrompt() {
        String prompt = tinyLlamaZephyr().render(List.of(
                ChatMessage.system("You are a friendly chatbot who always responds in the style of a pirate"),
                ChatMessage.user("How many helicopters can a human eat in one sitting?")), true);

        // Reference: python jinja2 3.1.6 with trim_blocks/lstrip_blocks, as transformers renders it.
        assertThat(prompt).isEqualTo("<|system|>\nYou are a friendly chatbot who always responds in the style of a "
                + "pirate</s>\n<|user|>\nHow many helicopters can a human eat in one sitting?</s>\n<|assistant|>\n");
    }

    @Test
    void tinyLlamaZephyrTemplateWithoutGenerationPromptEndsAfterLastTurn() {
        String prompt = tinyLlamaZephyr().render(List.of(
                ChatMessage.user("Hi"), ChatMessage.assistant("Hello!")), false);

        assertThat(prompt).isEqualTo("<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n");
    }

    @Test
    void bosTokenVariableAndLoopIndexAreAvailable() {
        ChatTemplate template = new ChatTemplate(
                "{{ bos_token }}{% for m in messages %}[{{ loop.index0 }}:{{ m.role }}]{{ m.content }}{% endfor %}",
                "<s>", "</s>");

        assertThat(template.render(List.of(ChatMessage.user("a"), ChatMessage.assistant("b")), false))
                .isEqualTo("<s>[0:user]a[1:assistant]b");
    }

    @Test
    void raiseExceptionInTemplateSurfacesItsMessage() {
        ChatTemplate template = new ChatTemplate(
                "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with user') }}"
                        + "{% endif %}ok", "<s>", "</s>");

        assertThat(template.render(List.of(ChatMessage.user("x")), false)).isEqualTo("ok");
        assertThatThrownBy(() -> template.render(List.of(ChatMessage.assistant("x")), false))
                .isInstanceOf(ChatTemplateException.class)
                .hasMessageContaining("Conversation must start with user");
    }
}
