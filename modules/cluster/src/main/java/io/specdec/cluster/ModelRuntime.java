package io.specdec.cluster;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.format.ModelFiles;
import io.specdec.core.format.hf.HuggingFaceModel;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.NgramDrafter;
import io.specdec.core.tokenizer.TokenIdTokenizer;
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
import io.specdec.cuda.check.RandomHostModels;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One device's loaded model: target, optional draft (a checkpoint, seeded random weights or the target's first
 * layers) and tokenizer, on the CPU backend (a thread group is the "device") or on the CUDA backend (device i is GPU
 * i). Owned by one {@link DeviceWorker}; not thread-safe. CUDA classes are touched only when the spec asks for cuda,
 * so a node without GPU, driver or kernels serves on the CPU as before.
 */
public final class ModelRuntime implements AutoCloseable {
    /** Seed of {@code randomWeights} models: the same as {@code specdec generate --random-weights}, so the weights agree. */
    public static final long RANDOM_SEED = 1;

    /** Where a device's models run. */
    public enum Backend {
        CPU, CUDA;

        /** "cpu" or "cuda" (case-insensitive). */
        public static Backend of(String name) {
            return switch (name == null ? "" : name.toLowerCase(java.util.Locale.ROOT)) {
                case "cpu" -> CPU;
                case "cuda" -> CUDA;
                default -> throw new IllegalArgumentException("backend must be cpu or cuda, got " + name);
            };
        }
    }

    /**
     * What to load: {@code draft} is null, "none", "layers:N", "random:CONFIG.json" or a model path. With
     * {@code randomWeights} {@code model} is a HuggingFace config.json (or its directory) whose shape gets seeded random
     * weights ({@link #RANDOM_SEED}; on cuda generated on the GPU); its tokenizer is {@code tokenizer} when that has
     * exactly vocab_size tokens (refused otherwise: a random model can emit any id), else none: text is token ids
     * ({@link TokenIdTokenizer}).
     */
    public record Spec(String name, Path model, Path tokenizer, String draft, int threads, int kvTokens,
                       Parallelism parallelism, Backend backend, boolean randomWeights) {
        public Spec {
            if (threads < 1) throw new IllegalArgumentException("device threads must be >= 1: " + threads);
            if (kvTokens < 16) throw new IllegalArgumentException("kv tokens must be >= 16: " + kvTokens);
            if (parallelism == null) parallelism = Parallelism.NONE;
            if (backend == null) backend = Backend.CPU;
            if (backend == Backend.CUDA && parallelism.tensorParallel() > 1 && draft != null && draft.startsWith("layers:")) {
                throw new IllegalArgumentException("draft " + draft + " shares the target's weights, which tensor parallelism "
                        + parallelism.tensorParallel() + " splits over GPUs: give a draft model (a path or random:CONFIG.json)");
            }
        }

        public Spec(String name, Path model, Path tokenizer, String draft, int threads, int kvTokens, Parallelism parallelism) {
            this(name, model, tokenizer, draft, threads, kvTokens, parallelism, Backend.CPU, false);
        }

        public Spec(String name, Path model, Path tokenizer, String draft, int threads, int kvTokens) {
            this(name, model, tokenizer, draft, threads, kvTokens, Parallelism.NONE);
        }

        /** This spec on {@code backend}. */
        public Spec withBackend(Backend b) {
            return new Spec(name, model, tokenizer, draft, threads, kvTokens, parallelism, b, randomWeights);
        }

        /** This spec with {@code model} read as a config.json whose shape gets random weights. */
        public Spec withRandomWeights(boolean random) {
            return new Spec(name, model, tokenizer, draft, threads, kvTokens, parallelism, backend, random);
        }
    }

    /**
     * How the device's models are spread: the target over {@code tensorParallel} thread groups, a model draft run
     * {@code sequential} or {@code easyspec} (layer-parallel over {@code draftDevices} replicas, plan
     * {@code layerGroups} or the standard one, {@code calibration} policy). On cuda the draft devices are the target's
     * GPUs (a replica on each; {@link SpecdecNode} refuses easyspec on cuda with one GPU per target); in a
     * tensor-parallel group over Pekko they are the group's ranks ({@link RankDrafts}). CARD
     * drafts one request at a time and is offered by {@code specdec generate} only.
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

        public CalibrationPolicy policy() {
            return CalibrationPolicy.valueOf(calibration.toUpperCase(java.util.Locale.ROOT).replace('-', '_'));
        }
    }

    private final Spec spec;
    /** The CPU device's thread group; null on cuda. */
    private final ParallelExecutor executor;
    /** On cuda with random weights it holds no host weights: they exist only on the GPU. */
    private final LoadedModel loaded;
    private final LanguageModel target;
    private final PagedKvCache targetCache;
    private final LanguageModel draft;
    private final Tokenizer tokenizer;
    /** The GPU and its models ({@link CudaParts}) on cuda, else null; typed loosely so CPU nodes load no CUDA class. */
    private final AutoCloseable gpu;
    private final List<AutoCloseable> owned = new ArrayList<>();
    /** A CPU random-weights runtime's host weights over {@link #loaded}'s shape; null otherwise. */
    private LoadedModel hostRandom;
    /** The draft's shape and weights (shared with the target's for layers:N on the CPU); see {@link #draftWeights()}. */
    private DraftWeights draftWeights;
    /** The cuda draft checkpoint or random shape behind {@link #draftWeights} (null otherwise). */
    private LoadedModel draftModel;
    private final boolean rankOnly;

    public ModelRuntime(Spec spec, String deviceName) {
        this(spec, deviceName, 0);
    }

    /** @param device this device's index on its node: the GPU ordinal on cuda */
    public ModelRuntime(Spec spec, String deviceName, int device) {
        this(spec, deviceName, device, false);
    }

    /**
     * @param device   this device's index on its node: the GPU ordinal on cuda
     * @param rankOnly open no model of the device's own: neither target nor draft is put on the device or given a KV
     *                 cache, only the checkpoint is opened (host memory-mapped, or a random shape) and the draft's
     *                 weights kept for replicas ({@link #draftWeights()}): the device runs only its rank of a
     *                 tensor-parallel group ({@link RankModels}), so a target larger than one device can be served
     */
    public ModelRuntime(Spec spec, String deviceName, int device, boolean rankOnly) {
        this.spec = spec;
        this.rankOnly = rankOnly;
        if (!Files.exists(spec.model())) {
            throw new IllegalArgumentException((spec.randomWeights() ? "random-weights config " : "model ") + spec.model()
                    + " does not exist");
        }
        int tp = spec.parallelism().tensorParallel();
        if (spec.backend() == Backend.CUDA) CudaParts.requireGpus(device, tp);
        this.loaded = spec.randomWeights() ? randomShape(spec.model()) : load(spec);
        owned.add(loaded);
        try {
            this.tokenizer = spec.randomWeights() ? randomWeightsTokenizer(spec.tokenizer(), loaded.config()) : tokenizerOf(loaded, spec);
            if (rankOnly) {
                this.executor = null;
                this.gpu = null;
                this.target = null;
                this.targetCache = null;
                this.draft = null;
                if (spec.randomWeights() && spec.backend() == Backend.CPU) hostRandom = randomHostWeights();
                draftWeights = spec.backend() == Backend.CUDA ? cudaDraftWeights(spec.draft()) : hostDraftWeights(spec.draft());
                return;
            }
            if (spec.backend() == Backend.CUDA) {
                this.executor = null;
                // device d's target on GPU d, or split over GPUs d*tp .. d*tp+tp-1
                CudaParts parts = tp > 1 ? CudaParts.openTensorParallel(device * tp, tp, loaded, spec.randomWeights(), spec.kvTokens())
                        : CudaParts.open(device, loaded, spec.randomWeights(), spec.kvTokens());
                owned.add(parts);
                this.gpu = parts;
                this.target = parts.target();
                this.targetCache = parts.targetCache();
                this.draft = openCudaDraft(parts, spec.draft());
                return;
            }
            this.gpu = null;
            if (spec.randomWeights()) hostRandom = randomHostWeights();
            this.executor = new ParallelExecutor(spec.threads(), deviceName);
            owned.add(executor);
            if (tp > 1) {
                CpuTensorParallelModel split = new CpuTensorParallelModel(loaded.config(), hostModel().weights(), tp,
                        Math.max(1, spec.threads() / tp), spec.kvTokens(), CpuModels.BLOCK_SIZE);
                owned.add(split);
                this.target = split;
                this.targetCache = split.cache();
            } else {
                CpuTransformer whole = CpuModels.of(hostModel(), executor, spec.kvTokens());
                this.target = whole;
                this.targetCache = whole.cache();
            }
            this.draft = openDraft(spec.draft());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** bf16 random weights of the loaded shape in host memory, in the shape's arena (closed with it). */
    private LoadedModel randomHostWeights() {
        return new LoadedModel(loaded.source(), loaded.config(),
                RandomHostModels.weights(loaded.config(), RANDOM_SEED, loaded.arena()), loaded.arena(), null, Map.of());
    }

    /** The model whose host weights the CPU path runs: the loaded checkpoint or its random stand-in. */
    private LoadedModel hostModel() {
        return hostRandom != null ? hostRandom : loaded;
    }

    private static LoadedModel load(Spec spec) {
        ModelFiles.LoadOptions options = ModelFiles.LoadOptions.DEFAULT;
        if (spec.tokenizer() != null) options = options.withTokenizer(spec.tokenizer());
        return ModelFiles.load(spec.model(), options);
    }

    private static Tokenizer tokenizerOf(LoadedModel loaded, Spec spec) {
        if (loaded.tokenizerSource() == null) {
            throw new IllegalArgumentException("model " + spec.model() + " carries no tokenizer; configure one");
        }
        return Tokenizers.load(loaded.tokenizerSource());
    }

    /** A config's shape with no weights yet (they are made per backend). */
    private static LoadedModel randomShape(Path config) {
        ModelConfig c = HuggingFaceModel.config(config);
        return new LoadedModel(config, c, null, Arena.ofShared(), null, Map.of());
    }

    /**
     * The tokenizer of a random-weights model: {@code explicit} when it has exactly vocab_size tokens (every id the
     * model can emit then decodes), none (token ids as text) when no tokenizer is given.
     */
    static Tokenizer randomWeightsTokenizer(Path explicit, ModelConfig c) {
        if (explicit == null) return new TokenIdTokenizer(c.vocabSize(), c.bosTokenId(), c.eosTokenIds());
        if (!Files.exists(explicit)) throw new IllegalArgumentException("tokenizer " + explicit + " does not exist");
        Tokenizer t = Tokenizers.load(explicit);
        if (t.vocabSize() != c.vocabSize()) {
            throw new IllegalArgumentException("tokenizer " + explicit + " has " + t.vocabSize() + " tokens, the random-weights "
                    + "config's vocab_size is " + c.vocabSize() + ": a random model can emit any id, so they must be equal "
                    + "(without a tokenizer, prompts and output are token ids)");
        }
        return t;
    }

    /**
     * The cuda draft: the target's first layers (sharing its GPU weights), random weights or a checkpoint; in draft mode
     * easyspec with a tensor-parallel target, a replica on each of its GPUs drafting layer-parallel.
     */
    private LanguageModel openCudaDraft(CudaParts parts, String draftSpec) {
        if (draftSpec == null || draftSpec.isBlank() || draftSpec.equals("none")) return null;
        if (draftSpec.startsWith("layers:")) return parts.earlyExit(loaded, parseLayers(draftSpec), spec.kvTokens());
        draftWeights = cudaDraftWeights(draftSpec);
        ModelConfig c = draftWeights.config();
        if (easySpec() && parts.tensorParallel()) {
            int gpus = spec.parallelism().tensorParallel();
            return new EasySpecDraftModel(parts.layerParallel(c, draftWeights.weights(), RANDOM_SEED + 1,
                    easySpecPlan(gpus), spec.kvTokens()), spec.parallelism().policy());
        }
        return draftWeights.weights() == null ? parts.random(draftModel, RANDOM_SEED + 1, spec.kvTokens())
                : parts.of(draftModel, spec.kvTokens());
    }

    /**
     * A cuda draft's shape and host weights (a checkpoint) or seed (random:CONFIG), nothing on the GPU yet; null for
     * none and for layers:N (the target's own GPU weights).
     */
    private DraftWeights cudaDraftWeights(String draftSpec) {
        if (draftSpec == null || draftSpec.isBlank() || draftSpec.equals("none") || draftSpec.startsWith("layers:")) return null;
        if (draftSpec.startsWith("random:")) {
            draftModel = randomShape(requireDraft(Path.of(draftSpec.substring(7))));
            owned.add(draftModel);
            checkDraftVocab(draftModel.config(), draftModel.source());
            return new DraftWeights(draftModel.config(), null, RANDOM_SEED + 1);
        }
        draftModel = ModelFiles.load(requireDraft(Path.of(draftSpec)));
        owned.add(draftModel);
        checkDraftVocab(draftModel.config(), draftModel.source());
        return new DraftWeights(draftModel.config(), draftModel.weights());
    }

    private static Path requireDraft(Path path) {
        if (!Files.exists(path)) throw new IllegalArgumentException("draft model " + path + " does not exist");
        return path;
    }

    private void checkDraftVocab(ModelConfig c, Path path) {
        if (c.vocabSize() != loaded.config().vocabSize()) {
            throw new IllegalArgumentException("draft " + path + " has a vocabulary of " + c.vocabSize()
                    + " tokens, the target " + loaded.config().vocabSize());
        }
    }

    private static int parseLayers(String draftSpec) {
        try {
            return Integer.parseInt(draftSpec.substring(7));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("draft layers:N expects a number, got " + draftSpec);
        }
    }

    private LanguageModel openDraft(String draftSpec) {
        draftWeights = hostDraftWeights(draftSpec);
        if (draftWeights == null) return null;
        if (easySpec()) {
            Parallelism p = spec.parallelism();
            EasySpecDraftModel model = new EasySpecDraftModel(new CpuLayerParallelModel(draftWeights.config(),
                    draftWeights.weights(), easySpecPlan(p.draftDevices()), p.draftDevices(), 1, spec.kvTokens(),
                    CpuModels.BLOCK_SIZE), p.policy());
            owned.add(model);
            return model;
        }
        return new CpuTransformer(draftWeights.config(), draftWeights.weights(), executor, spec.kvTokens(), CpuModels.BLOCK_SIZE);
    }

    /** The CPU draft's shape and host weights (the target's first layers, random or a checkpoint); null for none. */
    private DraftWeights hostDraftWeights(String draftSpec) {
        if (draftSpec == null || draftSpec.isBlank() || draftSpec.equals("none")) return null;
        LoadedModel host = hostModel();
        if (draftSpec.startsWith("layers:")) {
            int layers = parseLayers(draftSpec);
            return new DraftWeights(host.config().firstLayers(layers), host.weights().firstLayers(layers));
        }
        LoadedModel d;
        if (draftSpec.startsWith("random:")) {
            LoadedModel shape = randomShape(requireDraft(Path.of(draftSpec.substring(7))));
            owned.add(shape);
            d = new LoadedModel(shape.source(), shape.config(), RandomHostModels.weights(shape.config(), RANDOM_SEED + 1,
                    shape.arena()), shape.arena(), null, Map.of());
        } else {
            d = ModelFiles.load(requireDraft(Path.of(draftSpec)));
            owned.add(d);
        }
        checkDraftVocab(d.config(), d.source());
        return new DraftWeights(d.config(), d.weights());
    }

    private boolean easySpec() { return spec.parallelism().draftMode().equals("easyspec"); }

    /**
     * The EasySpec layer plan of this runtime's draft over {@code devices} draft devices: the configured one, or the
     * standard plan (an eighth of the layers alone at each end, the middle in groups of {@code devices}).
     */
    public LayerGroupPlan easySpecPlan(int devices) {
        Parallelism p = spec.parallelism();
        int layers = draftWeights.config().layers();
        return p.layerGroups() != null ? LayerGroupPlan.parse(p.layerGroups()) : LayerGroupPlan.standard(layers, devices, layers / 8);
    }

    /**
     * The draft's configuration and weights, for replicas of it (a group's ranks); null without a draft model, and on
     * cuda for a {@code layers:N} draft (it shares the target's GPU weights, which a group's ranks split).
     */
    public DraftWeights draftWeights() { return draftWeights; }

    /**
     * A draft model's shape and its weights in host memory, or (cuda, {@code random:CONFIG}) the seed its random weights
     * are generated from on each GPU ({@code weights} null).
     */
    public record DraftWeights(ModelConfig config, TransformerWeights weights, Long randomSeed) {
        DraftWeights(ModelConfig config, TransformerWeights weights) {
            this(config, weights, null);
        }
    }

    public Spec spec() { return spec; }

    public String name() { return spec.name(); }

    /** The device's own target model; null when {@link #rankOnly()}. */
    public LanguageModel target() { return target; }

    /** The target's KV block manager (shared by every rank when the target is tensor-parallel); null when {@link #rankOnly()}. */
    public PagedKvCache targetCache() { return targetCache; }

    /**
     * True when the device holds no model of its own, only its rank of a tensor-parallel group (opened when the group
     * forms): it serves nothing outside a group.
     */
    public boolean rankOnly() { return rankOnly; }

    /** The target's configuration (whether or not the device holds the target itself). */
    public ModelConfig config() { return loaded.config(); }

    /** Tokens per KV block of every cache this runtime's models (and its group ranks) allocate from. */
    public int kvBlockSize() {
        if (targetCache != null) return targetCache.blockSize();
        // a compile-time constant: no CUDA class is loaded on a CPU node
        return spec.backend() == Backend.CUDA ? io.specdec.cuda.CudaModels.BLOCK_SIZE : CpuModels.BLOCK_SIZE;
    }

    public Tokenizer tokenizer() { return tokenizer; }

    /** A draft model is configured: the device's own, or (rank-only) the weights of the ranks' replicas. */
    public boolean hasDraftModel() { return draft != null || rankOnly && draftWeights != null; }

    /** KV blocks held right now by the target and the draft model (0 when no request is in flight). */
    public int kvBlocksInUse() {
        if (rankOnly) return 0;
        int used = targetCache.totalBlocks() - targetCache.freeBlocks();
        if (draft instanceof CpuTransformer d) used += d.cache().totalBlocks() - d.cache().freeBlocks();
        if (spec.backend() == Backend.CUDA) used += ((CudaParts) gpu).draftBlocksInUse(draft);
        if (draft instanceof EasySpecDraftModel e && e.model() instanceof CpuLayerParallelModel m) {
            used += m.cache().totalBlocks() - m.cache().freeBlocks();
        }
        return used;
    }

    /** The target as loaded; on cuda with random weights its weights are null (they exist only on the GPU). */
    public LoadedModel loaded() { return hostModel(); }

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
