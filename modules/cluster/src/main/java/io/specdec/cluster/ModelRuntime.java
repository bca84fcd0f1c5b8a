package io.specdec.cluster;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.format.ModelFiles;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.NgramDrafter;
import io.specdec.core.tokenizer.Tokenizer;
import io.specdec.core.tokenizer.Tokenizers;
import io.specdec.cpu.CpuModels;
import io.specdec.cpu.CpuTransformer;
import io.specdec.cpu.ParallelExecutor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One device's loaded model on the CPU backend: target, optional draft (a checkpoint or the target's first layers),
 * tokenizer and the thread group that is the "device". Owned by one {@link DeviceWorker}; not thread-safe.
 */
public final class ModelRuntime implements AutoCloseable {
    /** What to load: {@code draft} is null, "layers:N" or a model path. */
    public record Spec(String name, Path model, Path tokenizer, String draft, int threads, int kvTokens) {
        public Spec {
            if (threads < 1) throw new IllegalArgumentException("device threads must be >= 1: " + threads);
            if (kvTokens < 16) throw new IllegalArgumentException("kv tokens must be >= 16: " + kvTokens);
        }
    }

    private final Spec spec;
    private final ParallelExecutor executor;
    private final LoadedModel loaded;
    private final CpuTransformer target;
    private final LanguageModel draft;
    private final Tokenizer tokenizer;
    private final List<AutoCloseable> owned = new ArrayList<>();

    public ModelRuntime(Spec spec, String deviceName) {
        this.spec = spec;
        if (!Files.exists(spec.model())) throw new IllegalArgumentException("model " + spec.model() + " does not exist");
        ModelFiles.LoadOptions options = ModelFiles.LoadOptions.DEFAULT;
        if (spec.tokenizer() != null) options = options.withTokenizer(spec.tokenizer());
        this.loaded = ModelFiles.load(spec.model(), options);
        owned.add(loaded);
        try {
            if (loaded.tokenizerSource() == null) {
                throw new IllegalArgumentException("model " + spec.model() + " carries no tokenizer; configure one");
            }
            this.tokenizer = Tokenizers.load(loaded.tokenizerSource());
            this.executor = new ParallelExecutor(spec.threads(), deviceName);
            owned.add(executor);
            this.target = CpuModels.of(loaded, executor, spec.kvTokens());
            this.draft = openDraft(spec.draft());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private LanguageModel openDraft(String draftSpec) {
        if (draftSpec == null || draftSpec.isBlank() || draftSpec.equals("none")) return null;
        if (draftSpec.startsWith("layers:")) {
            int layers;
            try {
                layers = Integer.parseInt(draftSpec.substring(7));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("draft layers:N expects a number, got " + draftSpec);
            }
            return CpuModels.earlyExit(loaded, layers, executor, spec.kvTokens());
        }
        Path path = Path.of(draftSpec);
        if (!Files.exists(path)) throw new IllegalArgumentException("draft model " + path + " does not exist");
        LoadedModel d = ModelFiles.load(path);
        owned.add(d);
        if (d.config().vocabSize() != loaded.config().vocabSize()) {
            throw new IllegalArgumentException("draft " + path + " has a vocabulary of " + d.config().vocabSize()
                    + " tokens, the target " + loaded.config().vocabSize());
        }
        return CpuModels.of(d, executor, spec.kvTokens());
    }

    public Spec spec() { return spec; }

    public String name() { return spec.name(); }

    public CpuTransformer target() { return target; }

    public Tokenizer tokenizer() { return tokenizer; }

    public boolean hasDraftModel() { return draft != null; }

    /** KV blocks held right now by the target and the draft model (0 when no request is in flight). */
    public int kvBlocksInUse() {
        int used = target.cache().totalBlocks() - target.cache().freeBlocks();
        if (draft instanceof CpuTransformer d) used += d.cache().totalBlocks() - d.cache().freeBlocks();
        return used;
    }

    public LoadedModel loaded() { return loaded; }

    /** Drafters this runtime can build, for ListModels. */
    public List<String> drafters() {
        return draft == null ? List.of("ngram") : List.of("model", "ngram");
    }

    /** A fresh drafter for one request: "model" falls back to n-gram when the runtime has no draft model. */
    public Drafter newDrafter(String kind) {
        return switch (kind) {
            case "model" -> draft == null ? new NgramDrafter(1, 3) : new ModelDrafter(draft);
            case "ngram" -> new NgramDrafter(1, 3);
            default -> throw new IllegalArgumentException("unknown drafter \"" + kind + "\" (model, ngram)");
        };
    }

    @Override
    public void close() {
        for (AutoCloseable c : owned.reversed()) {
            try {
                c.close();
            } catch (Exception ignored) {
                // unmapping at shutdown: nothing to do on failure
            }
        }
    }
}
