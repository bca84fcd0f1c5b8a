package io.specdec.cpu;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvBlockStores;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.core.parallel.LayerParallelModel;

import java.util.ArrayList;
import java.util.List;

/**
 * A draft replicated on N CPU devices that can draft layer-parallel (EasySpec, docs/ALGORITHMS.md §3). The replicas
 * share the weights (read-only) and one block table; each keeps its own K/V. A fuzzy forward is {@link FuzzyLayers}
 * over the devices' in-memory collectives.
 */
public final class CpuLayerParallelModel implements LayerParallelModel {
    private final ModelConfig config;
    private final LayerGroupPlan plan;
    private final CpuDeviceGroup devices;
    private final CpuTransformer[] replicas;
    private final ParallelExecutor[] executors;
    private final PagedKvCache cache;

    public CpuLayerParallelModel(ModelConfig config, TransformerWeights weights, LayerGroupPlan plan, int replicas,
                                 int threadsPerDevice, int kvTokens, int blockSize) {
        if (plan.layers() != config.layers()) {
            throw new IllegalArgumentException("layer plan " + plan + " covers " + plan.layers() + " layers, the draft has " + config.layers());
        }
        if (plan.width() > replicas) {
            throw new IllegalArgumentException("layer plan " + plan + " runs " + plan.width() + " layers at once but only "
                    + replicas + " draft devices were given");
        }
        this.config = config;
        this.plan = plan;
        this.devices = new CpuDeviceGroup(replicas, "easyspec");
        this.replicas = new CpuTransformer[replicas];
        this.executors = new ParallelExecutor[replicas];
        List<CpuKvStore> stores = new ArrayList<>();
        for (int r = 0; r < replicas; r++) stores.add(CpuTransformer.storeFor(config, kvTokens, blockSize));
        this.cache = new PagedKvCache(stores.getFirst().slots() / blockSize, blockSize, KvBlockStores.allOf(stores));
        for (int r = 0; r < replicas; r++) {
            executors[r] = new ParallelExecutor(threadsPerDevice, "draft" + r);
            this.replicas[r] = new CpuTransformer(config, weights, executors[r], stores.get(r), cache, null);
        }
    }

    @Override public ModelConfig config() { return config; }

    @Override public LayerGroupPlan plan() { return plan; }

    @Override public int replicas() { return replicas.length; }

    public PagedKvCache cache() { return cache; }

    @Override public KvSequence newSequence() { return cache.newSequence(); }

    @Override
    public List<float[][]> forward(List<SequenceInput> batch) {
        CpuTransformer.Step step = replicas[0].prepare(batch);
        return devices.onEachDevice(r -> replicas[r].compute(step)).getFirst();
    }

    @Override
    public List<float[][]> forwardFuzzy(List<SequenceInput> batch) {
        CpuTransformer.Step step = replicas[0].prepare(batch);
        return devices.onEachDevice(r -> fuzzy(r, step)).getFirst();
    }

    private List<float[][]> fuzzy(int rank, CpuTransformer.Step step) {
        CpuTransformer model = replicas[rank];
        float[] x = FuzzyLayers.residual(model, devices.collectives().member(rank), plan, step);
        // every device holds the same residual; only the first needs the logits
        return rank == 0 ? model.logits(step.batch(), x) : null;
    }

    @Override public void close() {
        devices.close();
        for (ParallelExecutor e : executors) e.close();
    }
}
