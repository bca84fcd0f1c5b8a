package io.specdec.cpu;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvBlockStores;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.TensorParallelShard;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/**
 * A model split tensor-parallel over N CPU devices (thread groups), the CPU twin of the GPU group: each device holds
 * a {@link TensorParallelShard} of the weights and the K/V of its own heads; attention and MLP outputs are completed
 * by an all-reduce, logits by an all-gather. One block table is shared, so a sequence is appended once per forward.
 * Its output equals the whole model's up to float summation order.
 */
public final class CpuTensorParallelModel implements LanguageModel {
    private final ModelConfig config;
    private final CpuDeviceGroup devices;
    private final CpuTransformer[] shards;
    private final ParallelExecutor[] executors;
    private final PagedKvCache cache;
    private final Arena arena = Arena.ofShared();

    /**
     * @param threadsPerDevice loop threads of each device
     * @param kvTokens         tokens the shared KV cache holds
     */
    public CpuTensorParallelModel(ModelConfig config, TransformerWeights weights, int size, int threadsPerDevice,
                                  int kvTokens, int blockSize) {
        new TensorParallelShard(0, size).checkDivides(config);
        this.config = config;
        this.devices = new CpuDeviceGroup(size, "tp");
        this.shards = new CpuTransformer[size];
        this.executors = new ParallelExecutor[size];
        List<CpuKvStore> stores = new ArrayList<>();
        List<ModelConfig> configs = new ArrayList<>();
        List<TransformerWeights> parts = new ArrayList<>();
        for (int r = 0; r < size; r++) {
            TensorParallelShard shard = new TensorParallelShard(r, size);
            ModelConfig c = shard.shardConfig(config);
            configs.add(c);
            parts.add(shard.slice(config, weights, arena));
            stores.add(CpuTransformer.storeFor(c, kvTokens, blockSize));
        }
        this.cache = new PagedKvCache(stores.getFirst().slots() / blockSize, blockSize, KvBlockStores.allOf(stores));
        for (int r = 0; r < size; r++) {
            executors[r] = new ParallelExecutor(threadsPerDevice, "tp" + r);
            shards[r] = new CpuTransformer(configs.get(r), parts.get(r), executors[r], stores.get(r), cache,
                    devices.collectives().member(r));
        }
    }

    @Override public ModelConfig config() { return config; }

    public int size() { return shards.length; }

    public PagedKvCache cache() { return cache; }

    @Override public KvSequence newSequence() { return cache.newSequence(); }

    @Override
    public List<float[][]> forward(List<SequenceInput> batch) {
        CpuTransformer.Step step = shards[0].prepare(batch);
        return devices.onEachDevice(r -> shards[r].compute(step)).getFirst();
    }

    @Override public void close() {
        devices.close();
        for (ParallelExecutor e : executors) e.close();
        arena.close();
    }
}
