package io.specdec.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.specdec.core.tokenizer.Tokenizer;
import io.specdec.core.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/** Text to token ids. */
@Command(name = "tokenize", mixinStandardHelpOptions = true, description = "Print the token ids of a text.")
final class TokenizeCommand implements Callable<Integer> {
    @Option(names = "--tokenizer", required = true, paramLabel = "PATH",
            description = "tokenizer.json, a directory holding one, a .gguf file, or a llama2.c tokenizer.bin.")
    Path tokenizer;

    @Option(names = "--text", required = true, paramLabel = "TEXT", description = "Text to encode.")
    String text;

    @Option(names = "--add-bos", description = "Prepend the BOS token.")
    boolean addBos;

    @Option(names = "--parse-special", description = "Recognise special tokens such as <s> in the text.")
    boolean parseSpecial;

    @Option(names = "--json", description = "Print {\"ids\": [...], \"pieces\": [...]} instead of space-separated ids.")
    boolean json;

    @Override public Integer call() throws Exception {
        Tokenizer t = Tokenizers.load(ModelOptions.requireExists(tokenizer, "tokenizer"));
        int[] ids = t.encode(text, addBos, parseSpecial);
        java.io.PrintStream out = new java.io.PrintStream(System.out, true, java.nio.charset.StandardCharsets.UTF_8);
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("ids", ids);
            m.put("pieces", Arrays.stream(ids).mapToObj(t::tokenText).toList());
            out.println(new ObjectMapper().writeValueAsString(m));
        } else {
            out.println(Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        }
        return 0;
    }
}
