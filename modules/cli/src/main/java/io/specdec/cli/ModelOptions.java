package io.specdec.cli;

import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/** Options shared by every command that loads a model. */
public final class ModelOptions {

    @Option(names = "--model", paramLabel = "PATH",
            description = "Model: a HuggingFace directory, a .gguf file or a llama2.c .bin checkpoint. "
                    + "Default: the bundled default (see README).")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "PATH",
            description = "Tokenizer (tokenizer.json, a directory holding one, a .gguf, or a llama2.c tokenizer.bin); "
                    + "default: the model's own.")
    Path tokenizer;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all ${sys:specdec.cores} cores).")
    Integer threads;

    @Option(names = "--kv-tokens", paramLabel = "N", defaultValue = "8192",
            description = "KV cache capacity in tokens, shared by all sequences (default: ${DEFAULT-VALUE}).")
    int kvTokens;

    @Option(names = "--backend", paramLabel = "cpu|cuda", defaultValue = "cpu",
            description = "Where the models run: cpu (default) or cuda (GPU 0; serve: device i on GPU i; needs the CUDA "
                    + "driver, and the host's CUDA libraries on LD_LIBRARY_PATH for cuBLAS).")
    String backend;

    @Option(names = "--tp", paramLabel = "N", defaultValue = "1",
            description = "Tensor-parallel devices for the target (cpu: N thread groups sharing --threads; cuda: GPUs "
                    + "0..N-1, and for serve device i on GPUs i*N..i*N+N-1, drafts on the first). Default: ${DEFAULT-VALUE}.")
    int tp;

    static {
        System.setProperty("specdec.cores", Integer.toString(Runtime.getRuntime().availableProcessors()));
    }

    int threadCount() {
        int n = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
        if (n < 1) throw new IllegalArgumentException("--threads must be at least 1, got " + n);
        return n;
    }

    int tensorParallel() {
        if (tp < 1) throw new IllegalArgumentException("--tp must be at least 1, got " + tp);
        return tp;
    }

    boolean cuda() {
        return switch (backend) {
            case "cpu" -> false;
            case "cuda" -> true;
            default -> throw new IllegalArgumentException("--backend must be cpu or cuda, got " + backend);
        };
    }

    /** The model to load: --model, else the default. */
    Path modelPath() {
        return model != null ? model : Defaults.target();
    }

    /** The tokenizer override: --tokenizer, else the default's tokenizer when the default model is used. */
    Path tokenizerPath() {
        if (tokenizer != null) return tokenizer;
        if (model == null) return Defaults.targetTokenizer();
        return null;
    }

    static Path requireExists(Path p, String what) {
        if (!Files.exists(p)) throw new IllegalArgumentException(what + " " + p + " does not exist");
        return p;
    }
}
