package io.specdec.cli;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.format.ModelFiles;
import io.specdec.core.format.hf.HuggingFaceModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.EasySpecDraftModel;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.core.speculative.CardDrafter;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.NgramDrafter;
import io.specdec.core.speculative.TreeDrafter;
import io.specdec.core.tokenizer.TokenIdTokenizer;
import io.specdec.core.tokenizer.Tokenizer;
import io.specdec.core.tokenizer.Tokenizers;
import io.specdec.cpu.CpuLayerParallelModel;
import io.specdec.cpu.CpuModels;
import io.specdec.cpu.CpuTensorParallelModel;
import io.specdec.cpu.CpuTransformer;
import io.specdec.cpu.ParallelExecutor;
import io.specdec.cuda.CudaLayerParallelModel;
import io.specdec.cuda.CudaModels;
import io.specdec.cuda.CudaRank;
import io.specdec.cuda.CudaTensorParallelModel;
import io.specdec.cuda.DeviceWeights;
import io.specdec.cuda.CudaTransformer;
import io.specdec.cuda.check.RandomHostModels;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A loaded target (and optional draft) on the CPU or CUDA backend with the tokenizer, owning everything it opened. The
 * CLI's one place that turns options into running models.
 */
final class Engine implements AutoCloseable {
    /** With --random-weights on cuda its weights are null: they exist only on the GPU. */
    final LoadedModel target;
    final LanguageModel targetModel;
    final Tokenizer tokenizer;
    final ParallelExecutor executor;
    /** The GPU's models when --backend cuda, else null. */
    final CudaModels cuda;
    private final List<AutoCloseable> owned = new ArrayList<>();
    /** The GPUs of a tensor-parallel CUDA target (--backend cuda --tp N), else null. */
    private List<CudaRank> cudaRanks;
    /** KV capacity the target was built with; drafts get the same. */
    private int kvTokens;

    private Engine(LoadedModel target, LanguageModel targetModel, Tokenizer tokenizer, ParallelExecutor executor,
                   CudaModels cuda) {
        this.target = target;
        this.targetModel = targetModel;
        this.tokenizer = tokenizer;
        this.executor = executor;
        this.cuda = cuda;
    }

    /** The model of {@code options}, or of {@code random}'s config with random weights when that is given. */
    static Engine open(ModelOptions options, RandomWeightsOption random, PrintStream err) {
        return random != null && random.enabled() ? openRandom(options, random.config, err) : open(options, err);
    }

    static Engine open(ModelOptions options, PrintStream err) {
        Path path = ModelOptions.requireExists(options.modelPath(), "model");
        ModelFiles.LoadOptions load = ModelFiles.LoadOptions.DEFAULT
                .withProgress(new ProgressBar(err, "loading " + path.getFileName()));
        if (options.tokenizerPath() != null) load = load.withTokenizer(options.tokenizerPath());
        LoadedModel model = ModelFiles.load(path, load);
        try {
            Path tokenizerSource = model.tokenizerSource();
            if (tokenizerSource == null) {
                throw new IllegalArgumentException(path + " carries no tokenizer and none was found next to it: pass --tokenizer");
            }
            Tokenizer tokenizer = Tokenizers.load(tokenizerSource);
            if (tokenizer.vocabSize() > model.config().vocabSize()) {
                throw new IllegalArgumentException("tokenizer " + tokenizerSource + " has " + tokenizer.vocabSize()
                        + " tokens but model " + path + " only " + model.config().vocabSize());
            }
            ParallelExecutor executor = new ParallelExecutor(options.threadCount(), "specdec-cpu");
            int kvTokens = options.kvTokens;
            Engine engine;
            if (options.cuda() && options.tensorParallel() > 1) {
                engine = cudaTensorParallel(model, tokenizer, executor, options, ranks -> CudaTensorParallelModel.of(ranks,
                        model.config(), model.weights(), kvTokens));
            } else if (options.cuda()) {
                CudaModels cuda = CudaModels.open(0);
                try {
                    engine = new Engine(model, cuda.of(model, kvTokens), tokenizer, executor, cuda);
                } catch (RuntimeException e) {
                    cuda.close();
                    executor.close();
                    throw e;
                }
            } else if (options.tensorParallel() > 1) {
                int tp = options.tensorParallel();
                engine = new Engine(model, new CpuTensorParallelModel(model.config(), model.weights(), tp,
                        Math.max(1, options.threadCount() / tp), kvTokens, CpuModels.BLOCK_SIZE), tokenizer, executor, null);
                engine.owned.add(engine.targetModel);
            } else {
                engine = new Engine(model, CpuModels.of(model, executor, kvTokens), tokenizer, executor, null);
            }
            engine.owned.add(model);
            engine.kvTokens = kvTokens;
            return engine;
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** A target split over GPUs 0..N-1 (NCCL inside the group), each GPU driven by its own thread. */
    private static Engine cudaTensorParallel(LoadedModel model, Tokenizer tokenizer, ParallelExecutor executor,
                                             ModelOptions options, java.util.function.Function<List<CudaRank>, LanguageModel> build) {
        String reason = io.specdec.cuda.CudaDevice.unavailableReason().orElse(null);
        if (reason != null) throw new IllegalArgumentException("--backend cuda: " + reason);
        int tp = options.tensorParallel();
        if (io.specdec.cuda.CudaDevice.count() < tp && !io.specdec.cuda.Collectives.sharedGpuRanks()) {
            throw new IllegalArgumentException("--tp " + tp + " needs " + tp + " GPUs, the driver sees " + io.specdec.cuda.CudaDevice.count()
                    + " (-D" + io.specdec.cuda.Collectives.SHARED_GPU_RANKS_PROPERTY + "=true puts several ranks on one GPU: a test mode)");
        }
        List<CudaRank> ranks = CudaRank.open(tp);
        try {
            Engine engine = new Engine(model, build.apply(ranks), tokenizer, executor, null);
            engine.cudaRanks = ranks;
            engine.owned.addAll(ranks);
            engine.owned.add(engine.targetModel);
            return engine;
        } catch (RuntimeException e) {
            ranks.forEach(CudaRank::close);
            throw e;
        }
    }

    /**
     * A model of a config's shape with random weights ({@link RandomWeightsOption}): generated on the GPU for cuda (the
     * LoadedModel then holds no host weights: CudaModels keeps them), bf16 tensors in host memory for cpu.
     */
    private static Engine openRandom(ModelOptions options, Path config, PrintStream err) {
        if (options.model != null) throw new IllegalArgumentException("--random-weights replaces --model: give one of them");
        Path file = ModelOptions.requireExists(config, "--random-weights config");
        ModelConfig c = HuggingFaceModel.config(file);
        Tokenizer tokenizer = randomWeightsTokenizer(options.tokenizer, file, c, err);
        ParallelExecutor executor = new ParallelExecutor(options.threadCount(), "specdec-cpu");
        Arena arena = Arena.ofShared();
        try {
            Engine engine;
            if (options.cuda() && options.tensorParallel() > 1) {
                LoadedModel model = new LoadedModel(file, c, null, arena, null, Map.of());
                err.println("generating " + c.parameterCount() + " random weights on " + options.tensorParallel()
                        + " GPUs (seed " + RandomWeightsOption.SEED + ")");
                engine = cudaTensorParallel(model, tokenizer, executor, options, ranks -> CudaTensorParallelModel.random(ranks,
                        c, RandomWeightsOption.SEED, options.kvTokens));
                engine.owned.add(model);
            } else if (options.cuda()) {
                LoadedModel model = new LoadedModel(file, c, null, arena, null, Map.of());
                CudaModels cuda = CudaModels.open(0);
                try {
                    err.println("generating " + c.parameterCount() + " random weights on the GPU (seed " + RandomWeightsOption.SEED + ")");
                    engine = new Engine(model, cuda.random(model, RandomWeightsOption.SEED, options.kvTokens), tokenizer, executor, cuda);
                } catch (RuntimeException e) {
                    cuda.close();
                    throw e;
                }
                engine.owned.add(model);
            } else {
                err.println("generating " + c.parameterCount() + " random weights in host memory (seed " + RandomWeightsOption.SEED + ")");
                LoadedModel model = new LoadedModel(file, c, RandomHostModels.weights(c, RandomWeightsOption.SEED, arena),
                        arena, null, Map.of());
                int tp = options.tensorParallel();
                engine = new Engine(model, tp > 1 ? new CpuTensorParallelModel(c, model.weights(), tp,
                        Math.max(1, options.threadCount() / tp), options.kvTokens, CpuModels.BLOCK_SIZE)
                        : CpuModels.of(model, executor, options.kvTokens), tokenizer, executor, null);
                if (tp > 1) engine.owned.add(engine.targetModel);
                engine.owned.add(model);
            }
            engine.kvTokens = options.kvTokens;
            return engine;
        } catch (RuntimeException e) {
            executor.close();
            arena.close();
            throw e;
        }
    }

    /**
     * A random model can emit every id below vocab_size, so a tokenizer serves only when it has exactly that many:
     * --tokenizer (refused otherwise), else a tokenizer.json next to the config, else the bundled model's; failing
     * those, text is token ids ({@link TokenIdTokenizer}).
     */
    static Tokenizer randomWeightsTokenizer(Path explicit, Path config, ModelConfig c, PrintStream err) {
        Path source = randomWeightsTokenizerSource(explicit, config, c, err);
        return source != null ? Tokenizers.load(source) : new TokenIdTokenizer(c.vocabSize(), c.bosTokenId(), c.eosTokenIds());
    }

    /** Where {@link #randomWeightsTokenizer} finds its tokenizer; null for token ids (the server's rule too). */
    static Path randomWeightsTokenizerSource(Path explicit, Path config, ModelConfig c, PrintStream err) {
        if (explicit != null) {
            Tokenizer t = Tokenizers.load(ModelOptions.requireExists(explicit, "tokenizer"));
            if (t.vocabSize() != c.vocabSize()) {
                throw new IllegalArgumentException("tokenizer " + explicit + " has " + t.vocabSize() + " tokens, the --random-weights "
                        + "config's vocab_size is " + c.vocabSize() + ": a random model can emit any id, so they must be equal "
                        + "(without --tokenizer, prompts and output are token ids)");
            }
            return explicit;
        }
        Path dir = Files.isDirectory(config) ? config : config.toAbsolutePath().getParent();
        List<Path> candidates = new ArrayList<>();
        if (Files.isRegularFile(dir.resolve("tokenizer.json"))) candidates.add(dir);
        if (Defaults.bundledPairExists()) candidates.add(Defaults.target());
        for (Path p : candidates) {
            Tokenizer t = Tokenizers.load(p);
            if (t.vocabSize() == c.vocabSize()) {
                err.println("tokenizer: " + Defaults.display(p));
                return p;
            }
        }
        err.println("no tokenizer with exactly " + c.vocabSize() + " tokens: prompts and output are token ids");
        return null;
    }

    /**
     * A drafter from its spec: {@code ngram[:MIN-MAX]}, {@code layers:N} (the target's first N layers), or a model
     * path; with {@code treeWidth > 1} a model draft proposes a tree of that width and {@code gamma} depth.
     */
    Drafter drafter(String spec, int treeWidth, int gamma, PrintStream err) {
        return drafter(spec, treeWidth, gamma, new DraftModeOptions(), err);
    }

    /** As above, with the draft run as {@code mode} says (EasySpec replicas, CARD on a device of its own). */
    Drafter drafter(String spec, int treeWidth, int gamma, DraftModeOptions mode, PrintStream err) {
        DraftModeOptions.Mode m = mode.mode == null ? DraftModeOptions.Mode.SEQUENTIAL : mode.mode();
        if (spec.equals("ngram") || spec.startsWith("ngram:")) {
            int min = 1;
            int max = 3;
            if (spec.startsWith("ngram:")) {
                String[] range = spec.substring(6).split("-");
                try {
                    min = Integer.parseInt(range[0]);
                    max = range.length > 1 ? Integer.parseInt(range[1]) : min;
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("--draft ngram:MIN-MAX expects numbers, got " + spec);
                }
            }
            if (m != DraftModeOptions.Mode.SEQUENTIAL) {
                throw new IllegalArgumentException("--draft-mode " + mode.mode + " needs a model draft (a path or layers:N), not " + spec);
            }
            return new NgramDrafter(min, max);
        }
        if (m != DraftModeOptions.Mode.SEQUENTIAL) {
            if (treeWidth > 1) throw new IllegalArgumentException("--draft-mode " + mode.mode + " drafts chains: drop --tree-width");
            if (cudaRanks != null && m == DraftModeOptions.Mode.EASYSPEC) return cudaEasySpec(spec, mode, err);
            if ((cuda != null || cudaRanks != null) && m == DraftModeOptions.Mode.CARD) return cudaCard(spec, mode, err);
            if (cuda != null || cudaRanks != null) {
                throw new IllegalArgumentException("--draft-mode easyspec with --backend cuda runs over the target's GPUs: "
                        + "give --tp 2 or more");
            }
            return parallelDrafter(spec, m, mode, gamma, err);
        }
        if (cudaRanks != null) return new ModelDrafter(cudaSequentialDraft(spec, err));
        LanguageModel draft;
        if (spec.startsWith("layers:")) {
            int layers = parseLayers(spec);
            draft = cuda != null ? cuda.earlyExit(target, layers, kvTokens())
                    : CpuModels.earlyExit(target, layers, executor, kvTokens());
        } else {
            LoadedModel loaded;
            if (spec.startsWith("random:")) {
                var random = draftWeights(spec, err);
                loaded = new LoadedModel(Path.of(spec.substring(7)), random.getKey(), random.getValue(), null, null, Map.of());
            } else {
                loaded = loadDraft(Path.of(spec), err);
            }
            draft = cuda != null ? cuda.of(loaded, kvTokens()) : CpuModels.of(loaded, executor, kvTokens());
        }
        if (treeWidth > 1) return TreeDrafter.of(draft, treeWidth, gamma);
        return new ModelDrafter(draft);
    }

    /** An EasySpec or CARD drafter on CPU devices of the draft's own. */
    private Drafter parallelDrafter(String spec, DraftModeOptions.Mode m, DraftModeOptions mode, int gamma, PrintStream err) {
        ModelConfig config;
        TransformerWeights weights;
        if (spec.startsWith("layers:")) {
            int layers = parseLayers(spec);
            config = target.config().firstLayers(layers);
            weights = target.weights().firstLayers(layers);
        } else {
            var draft = draftWeights(spec, err);
            config = draft.getKey();
            weights = draft.getValue();
        }
        if (m == DraftModeOptions.Mode.EASYSPEC) {
            LayerGroupPlan plan = mode.plan(config.layers());
            EasySpecDraftModel model = new EasySpecDraftModel(new CpuLayerParallelModel(config, weights, plan, mode.devices(),
                    1, kvTokens(), CpuModels.BLOCK_SIZE), mode.calibration());
            owned.add(model);
            return new ModelDrafter(model);
        }
        ParallelExecutor draftDevice = new ParallelExecutor(mode.devices(), "card-draft");
        owned.add(draftDevice);
        return new CardDrafter(new CpuTransformer(config, weights, draftDevice, kvTokens(), CpuModels.BLOCK_SIZE),
                mode.cardWidth(false), Math.max(mode.cardDepth, 1));
    }

    private static int parseLayers(String spec) {
        try {
            return Integer.parseInt(spec.substring(7));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--draft layers:N expects a number of layers, got " + spec);
        }
    }

    private LoadedModel loadDraft(Path spec, PrintStream err) {
        Path path = ModelOptions.requireExists(spec, "draft model");
        LoadedModel loaded = ModelFiles.load(path, ModelFiles.LoadOptions.DEFAULT
                .withProgress(new ProgressBar(err, "loading draft " + path.getFileName())));
        owned.add(loaded);
        if (loaded.config().vocabSize() != target.config().vocabSize()) {
            throw new IllegalArgumentException("draft " + path + " has a vocabulary of " + loaded.config().vocabSize()
                    + " tokens, the target " + target.config().vocabSize() + ": they must share one tokenizer");
        }
        return loaded;
    }

    /** Draft config and host weights from a path, {@code random:CONFIG.json} (seeded random weights) or refused. */
    private Map.Entry<ModelConfig, TransformerWeights> draftWeights(String spec, PrintStream err) {
        if (spec.startsWith("layers:")) {
            throw new IllegalArgumentException("--draft layers:N shares the target's weights; with --tp or a draft on its own GPU give a draft model");
        }
        if (spec.startsWith("random:")) {
            Path file = ModelOptions.requireExists(Path.of(spec.substring(7)), "--draft random: config");
            ModelConfig c = HuggingFaceModel.config(file);
            checkDraftVocab(c, file);
            Arena arena = Arena.ofShared();
            owned.add(arena::close);
            err.println("draft: " + c.parameterCount() + " random weights (seed " + (RandomWeightsOption.SEED + 1) + ")");
            return Map.entry(c, RandomHostModels.weights(c, RandomWeightsOption.SEED + 1, arena));
        }
        LoadedModel loaded = loadDraft(Path.of(spec), err);
        return Map.entry(loaded.config(), loaded.weights());
    }

    private void checkDraftVocab(ModelConfig c, Path path) {
        if (c.vocabSize() != target.config().vocabSize()) {
            throw new IllegalArgumentException("draft " + path + " has a vocabulary of " + c.vocabSize()
                    + " tokens, the target " + target.config().vocabSize() + ": they must share one tokenizer");
        }
    }

    /** EasySpec over the tensor-parallel target's GPUs: a draft replica on each, NCCL all-gather in fuzzy steps. */
    private Drafter cudaEasySpec(String spec, DraftModeOptions mode, PrintStream err) {
        var draft = draftWeights(spec, err);
        ModelConfig c = draft.getKey();
        LayerGroupPlan plan = mode.layerGroups != null ? LayerGroupPlan.parse(mode.layerGroups)
                : LayerGroupPlan.standard(c.layers(), cudaRanks.size(), c.layers() / 8);
        EasySpecDraftModel model = new EasySpecDraftModel(CudaLayerParallelModel.of(cudaRanks, c, draft.getValue(), kvTokens, plan),
                mode.calibration());
        owned.add(model);
        return new ModelDrafter(model);
    }

    /**
     * CARD on GPUs: the draft on the first GPU the target does not use (GPU 1 next to a one-GPU target, GPU N next to
     * a target over GPUs 0..N-1), drafting from its own thread while the target verifies.
     */
    private Drafter cudaCard(String spec, DraftModeOptions mode, PrintStream err) {
        int gpu = cudaRanks == null ? 1 : cudaRanks.size();
        if (io.specdec.cuda.CudaDevice.count() <= gpu) {
            throw new IllegalArgumentException("--draft-mode card with --backend cuda puts the draft on a GPU of its own (GPU "
                    + gpu + "), but the driver sees " + io.specdec.cuda.CudaDevice.count());
        }
        var draft = draftWeights(spec, err);
        CudaModels draftGpu = CudaModels.open(gpu);
        owned.add(draftGpu);
        ModelConfig c = draft.getKey();
        CudaTransformer model = new CudaTransformer(draftGpu.device(), draftGpu.cublasHandle(), c,
                DeviceWeights.upload(draftGpu.device(), c, draft.getValue()), kvTokens(), CudaModels.BLOCK_SIZE);
        owned.add(model);
        return new CardDrafter(model, mode.cardWidth(true), Math.max(1, mode.cardDepth));
    }

    /** A draft on GPU 0 (the first rank's context) next to a tensor-parallel target. */
    private LanguageModel cudaSequentialDraft(String spec, PrintStream err) {
        var draft = draftWeights(spec, err);
        CudaRank first = cudaRanks.getFirst();
        CudaTransformer model = new CudaTransformer(first.device(), first.cublas(), draft.getKey(),
                DeviceWeights.upload(first.device(), draft.getKey(), draft.getValue()), kvTokens, CudaModels.BLOCK_SIZE);
        owned.add(model);
        return model;
    }

    /** The KV capacity the target was opened with (every open path records it), given to drafts too. */
    private int kvTokens() {
        return kvTokens;
    }

    @Override public void close() {
        executor.close();
        if (cuda != null) cuda.close();
        for (AutoCloseable c : owned.reversed()) {
            try {
                c.close();
            } catch (Exception ignored) {
                // closing unmaps files; nothing useful to do on failure at exit
            }
        }
    }
}
