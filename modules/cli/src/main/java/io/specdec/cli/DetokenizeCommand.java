package io.specdec.cli;

import io.specdec.core.tokenizer.Tokenizer;
import io.specdec.core.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** Token ids to text. */
@Command(name = "detokenize", mixinStandardHelpOptions = true, description = "Print the text of token ids.")
final class DetokenizeCommand implements Callable<Integer> {
    @Option(names = "--tokenizer", required = true, paramLabel = "PATH", description = "As for tokenize.")
    Path tokenizer;

    @Parameters(paramLabel = "ID", arity = "1..*", description = "Token ids (space or comma separated).")
    List<String> ids;

    @Override public Integer call() {
        Tokenizer t = Tokenizers.load(ModelOptions.requireExists(tokenizer, "tokenizer"));
        int[] tokens = ids.stream().flatMap(s -> java.util.Arrays.stream(s.split("[,\\s]+")))
                .filter(s -> !s.isEmpty()).mapToInt(s -> {
                    try {
                        int id = Integer.parseInt(s);
                        if (id < 0 || id >= t.vocabSize()) {
                            throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + t.vocabSize());
                        }
                        return id;
                    } catch (NumberFormatException e) {
                        throw new IllegalArgumentException("not a token id: " + s);
                    }
                }).toArray();
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        out.println(t.decode(tokens));
        return 0;
    }
}
