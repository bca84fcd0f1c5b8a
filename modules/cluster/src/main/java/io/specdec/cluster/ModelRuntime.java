package io.specdec.cluster;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.format.ModelFiles;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.NgramDrafter;
import io.specdec.core.tokenizer.Tokenizer;
import io.specdec.core.tokenizer.Tokenizers;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.CalibrationPolicy;
import io.specdec.core.parallel.EasySpecDraftModel;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.cpu.CpuLayerParallelModel;
import io.specdec.cpu.CpuModels;
import io.specdec.cpu.CpuTensorParallelModel;
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
    public record Spec(String name, Path model, Path tokenizer, String draft, int threads, int kvTokens,
                       Parallelism parallelism) {
        public Spec {
            if (threads < 1) throw new IllegalArgumentException("device threads must be >= 1: " + threads);
            if (kvTokens < 16) throw new IllegalArgumentException("kv tokens must be >= 16: " + kvTokens);
            if (parallelism == null) parallelism = Parallelism.NONE;
        }

        public Spec(String name, Path model, Path tokenizer, String draft, int threads, int kvTokens) {
            this(name, model, tokenizer, draft, threads, kvTokens, Parallelism.NONE);
        }
    }

    /**
     * How the device's models are spread: the target over {@code tensorParallel} thread groups, a model draft run
     * {@code sequential} or {@code easyspec} (layer-parallel over {@code draftDevices} replicas, plan
     * {@code layerGroups} or the standard one, {@code calibration} policy). CARD drafts one request at a time and is
     * offered by {@code specdec generate} only.
     */
    public record Parallelism(int tensorParallel, String draftMode, int draftDevices, String layerGroups, String calibration) {
        public static final Parallelism NONE = new Parallelism(1, "sequential", 2, null, "every-round");

        public Parallelism {
            if (tensorParallel < 1) throw new IllegalArgumentException("tensor parallelism must be >= 1: " + tensorParallel);
            if (draftDevices < 1) throw new IllegalArgumentException("draft devices must be >= 1: " + draftDevices);
            if (!draftMode.equals("sequential") && !draftMode.equals("easyspec")) {
                throw new IllegalArgumentException("the server drafts sequential or easyspec, not " + draftMode
                        + (draftMode.equals("card") ? " (CARD drafts one request at a time: use specdec generate)" : ""));
            }
            CalibrationPolicy.valueOf(calibration.toUpperCase(java.util.Locale.ROOT).replace('-', '_'));
        }

        CalibrationPolicy policy() {
            return CalibrationPolicy.valueOf(calibration.toUpperCase(java.util.Locale.ROOT).replace('-', '_'));
        }
    }

    private final Spec spec;
    private final ParallelExecutor executor;
    private final LoadedModel loaded;
    private final LanguageModel target;
    private final PagedKvCache targetCache;
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
            int tp = spec.parallelism().tensorParallel();
            if (tp > 1) {
                CpuTensorParallelModel split = new CpuTensorParallelModel(loaded.config(), loaded.weights(), tp,
                        Math.max(1, spec.threads() / tp), spec.kvTokens(), CpuModels.BLOCK_SIZE);
                owned.add(split);
                this.target = split;
                this.targetCache = split.cache();
            } else {
                CpuTransformer whole = CpuModels.of(loaded, executor, spec.kvTokens());
                this.target = whole;
                this.targetCache = whole.cache();
            }
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
            if (easySpec()) {
                TransformerWeights w = loaded.weights();
                return easySpec(loaded.config().firstLayers(layers), new TransformerWeights(w.tokenEmbedding(),
                        w.layers().subList(0, layers), w.finalNorm(), w.output()));
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
        if (easySpec()) return easySpec(d.config(), d.weights());
        return CpuModels.of(d, executor, spec.kvTokens());
    }

    private boolean easySpec() { return spec.parallelism().draftMode().equals("easyspec"); }

    private LanguageModel easySpec(ModelConfig config, TransformerWeights weights) {
        Parallelism p = spec.parallelism();
        LayerGroupPlan plan = p.layerGroups() != null ? LayerGroupPlan.parse(p.layerGroups())
                : LayerGroupPlan.standard(config.layers(), p.draftDevices(), config.layers() / 8);
        EasySpecDraftModel model = new EasySpecDraftModel(new CpuLayerParallelModel(config, weights, plan, p.draftDevices(), 1,
                spec.kvTokens(), CpuModels.BLOCK_SIZE), p.policy());
        owned.add(model);
        return model;
    }

    public Spec spec() { return spec; }

    public String name() { return spec.name(); }

    public LanguageModel target() { return target; }

    /** The target's KV block manager (shared by every rank when the target is tensor-parallel). */
    public PagedKvCache targetCache() { return targetCache; }

    public Tokenizer tokenizer() { return tokenizer; }

    public boolean hasDraftModel() { return draft != null; }

    /** KV blocks held right now by the target and the draft model (0 when no request is in flight). */
    public int kvBlocksInUse() {
        int used = targetCache.totalBlocks() - targetCache.freeBlocks();
        if (draft instanceof CpuTransformer d) used += d.cache().totalBlocks() - d.cache().freeBlocks();
        if (draft instanceof EasySpecDraftModel e && e.model() instanceof CpuLayerParallelModel m) {
            used += m.cache().totalBlocks() - m.cache().freeBlocks();
        }
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
