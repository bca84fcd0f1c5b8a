package io.specdec.cli.check;

import com.typesafe.config.ConfigFactory;
import io.specdec.cli.CudaRankModels;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.CpuRankModels;
import io.specdec.cluster.RandomCommunicatorIds;
import io.specdec.cluster.GenerationJob;
import io.specdec.cluster.GroupMember;
import io.specdec.cluster.ModelRuntime;
import io.specdec.cluster.SpecdecNode;
import io.specdec.cluster.StreamEvent;
import io.specdec.core.format.ModelFiles;
import io.specdec.core.generate.Generator;
import io.specdec.core.generate.TokenListener;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.tokenizer.Tokenizer;
import io.specdec.cuda.CudaModels;
import io.specdec.cuda.CudaTransformer;
import io.specdec.cuda.Nccl;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Issue #6, point 1 end to end across processes: one JVM per GPU, each a Pekko cluster node with one device whose
 * group member holds its rank of the target ({@link CudaRankModels}: NCCL communicator from the id Placement handed
 * out). The group serves as ONE replica; the node with the lowest port is rank 0 (frontend too): it sends one greedy
 * request through the cluster and compares the ids with the same request on one GPU (TP=1, {@link CudaTransformer},
 * computed before the node starts) and on the CPU. Prints one JSON line per process. Run by bench/gpu/pekko-tp.sh.
 *
 * <p>With DEVICES = GROUP_SIZE one process holds the whole group: all GPUs of the host in one JVM, one member actor
 * and thread per GPU (GPU d for device d).
 *
 * <p>{@code -Dspecdec.check.cpu=true} runs the same on CPU ranks ({@code CpuRankModels}; one JVM only, DEVICES =
 * GROUP_SIZE) with the CPU as the TP=1 reference: the check's own dry run where there is no GPU.
 *
 * <p>{@code -Dspecdec.check.draft=DIR} gives every rank a replica of that draft model ({@code RankDrafts}) and speculates
 * the request with it, {@code -Dspecdec.check.draftMode=easyspec} layer-parallel over the group's GPUs: the ids must
 * still equal TP=1's (greedy speculation is lossless), and the drafter must have proposed tokens.
 *
 * <p>{@code -Dspecdec.check.rankOnly=true} starts the nodes rank-only ({@link SpecdecNode#RANK_ONLY}): no device holds
 * the whole target, only its rank (the way a target larger than one GPU is served); the CPU reference then comes from a
 * model of its own, opened before the node.
 *
 * <p>Usage: PekkoTensorParallelCheck PORT SEED_HOST:PORT GROUP_SIZE MODEL_DIR [MAX_TOKENS] [PROMPT] [DEVICES]
 */
public final class PekkoTensorParallelCheck {
    private static final boolean CPU = Boolean.getBoolean("specdec.check.cpu");
    private static final String DRAFT = System.getProperty("specdec.check.draft");
    private static final String DRAFT_MODE = System.getProperty("specdec.check.draftMode", "sequential");
    private static final boolean RANK_ONLY = Boolean.getBoolean("specdec.check.rankOnly");

    private PekkoTensorParallelCheck() {
    }

    public static void main(String[] args) throws Exception {
        Locale.setDefault(Locale.ROOT);
        int port = Integer.parseInt(args[0]);
        String seed = args[1];
        int size = Integer.parseInt(args[2]);
        Path model = Path.of(args[3]);
        int maxTokens = args.length > 4 ? Integer.parseInt(args[4]) : 64;
        String prompt = args.length > 5 ? args[5] : "Once upon a time";
        int devices = args.length > 6 ? Integer.parseInt(args[6]) : 1;
        int seedPort = Integer.parseInt(seed.substring(seed.lastIndexOf(':') + 1));
        boolean leader = port == seedPort;
        SamplingParams greedy = SamplingParams.greedy().toBuilder().maxTokens(maxTokens).ignoreEos(true).build();
        String json;
        try {
            json = leader ? lead(port, seed, size, devices, model, greedy, prompt) : follow(port, seed, size, devices, model);
        } catch (Exception e) {
            json = String.format("{\"check\":\"pekko-tp\",\"port\":%d,\"pass\":false,\"error\":\"%s\"}", port,
                    String.valueOf(e).replace('"', '\''));
            e.printStackTrace();
        }
        System.out.println(json);
        System.exit(json.contains("\"pass\":true") ? 0 : 1);
    }

    static SpecdecNode start(int port, String seed, int size, int devices, Path model, List<String> roles) {
        var config = ConfigFactory.parseString("""
                specdec.placement.tensor-parallel = %d
                specdec.placement.group-formation-timeout = 120s
                pekko.cluster.split-brain-resolver.stable-after = 5s
                specdec.placement.rank-only = %b
                """.formatted(size, RANK_ONLY));
        ModelRuntime.Spec spec = new ModelRuntime.Spec("target", model, null, DRAFT, 1, 4096,
                new ModelRuntime.Parallelism(1, DRAFT_MODE, size, null, "every-round"));
        var options = new SpecdecNode.Options("127.0.0.1", port, List.of(seed), roles, spec, devices,
                new Coordinator.Settings(16, 8, 256), config);
        if (CPU) {
            return SpecdecNode.start(options, new RandomCommunicatorIds(),
                    new CpuRankModels(Duration.ofSeconds(20), Duration.ofSeconds(60)));
        }
        return SpecdecNode.start(options, Nccl::uniqueId, new CudaRankModels(0, null));
    }

    static GroupMember.State state(SpecdecNode node) throws Exception {
        return AskPattern.<GroupMember.Command, GroupMember.State>ask(node.groupMembers().getFirst(), GroupMember.GetState::new,
                Duration.ofSeconds(5), node.system().scheduler()).toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    static String lead(int port, String seed, int size, int devices, Path model, SamplingParams greedy, String prompt)
            throws Exception {
        // TP=1 references first: the GPU is the rank's afterwards.
        int[] promptIds;
        int[] tp1;
        int[] cpu;
        try (LoadedModel loaded = ModelFiles.load(model)) {
            Tokenizer tok = io.specdec.core.tokenizer.Tokenizers.load(loaded.tokenizerSource());
            promptIds = tok.encode(prompt, tok.addBosByDefault(), false);
            if (CPU) {
                tp1 = null;
            } else {
                try (CudaModels cuda = CudaModels.open(0); CudaTransformer whole = cuda.of(loaded, 4096)) {
                    tp1 = Generator.plain(whole).generate(promptIds, greedy, TokenListener.NONE).tokens();
                }
            }
        }
        int[] cpuAlone = null;
        if (RANK_ONLY) {   // the node's devices hold no whole target: the CPU reference gets its own
            try (ModelRuntime reference = new ModelRuntime(new ModelRuntime.Spec("target", model, null, null, 1, 4096), "reference")) {
                cpuAlone = Generator.plain(reference.target()).generate(promptIds, greedy, TokenListener.NONE).tokens();
            }
        }
        try (SpecdecNode node = start(port, seed, size, devices, model, List.of("frontend", "worker"))) {
            boolean ownModel = node.runtimes().stream().anyMatch(r -> r.target() != null);
            cpu = cpuAlone != null ? cpuAlone
                    : Generator.plain(node.runtimes().getFirst().target()).generate(promptIds, greedy, TokenListener.NONE).tokens();
            if (tp1 == null) tp1 = cpu;
            long t0 = System.nanoTime();
            long end = t0 + TimeUnit.SECONDS.toNanos(150);
            GroupMember.State s = state(node);
            while (!(s.ready() && node.replicas().toCompletableFuture().get().size() == 1)) {
                if (System.nanoTime() > end) throw new IllegalStateException("no ready group serving as one replica within 150 s: " + s);
                Thread.sleep(200);
                s = state(node);
            }
            double formedMs = (System.nanoTime() - t0) / 1e6;
            List<Integer> ids = new ArrayList<>();
            CompletableFuture<StreamEvent> last = new CompletableFuture<>();
            long g0 = System.nanoTime();
            node.generate(new GenerationJob(UUID.randomUUID().toString(), null, promptIds, null, greedy,
                    DRAFT == null ? "off" : "on", DRAFT == null ? 0 : 4, DRAFT == null ? "" : "model", false, 0, 0, null), e -> {
                if (e instanceof StreamEvent.Tokens t) for (int id : t.ids()) ids.add(id);
                else last.complete(e);
            });
            StreamEvent done = last.get(120, TimeUnit.SECONDS);
            double genMs = (System.nanoTime() - g0) / 1e6;
            int[] tp = ids.stream().mapToInt(Integer::intValue).toArray();
            GroupMember.State after = state(node);
            Thread.sleep(2000);   // the other ranks read their step count while the group still exists
            boolean finished = done instanceof StreamEvent.Finished;
            boolean equal = Arrays.equals(tp, tp1);
            StreamEvent.Finished f = finished ? (StreamEvent.Finished) done : null;
            String drafter = f == null ? "" : f.drafter();
            boolean drafted = DRAFT == null || f != null && f.drafted() > 0 && drafter.startsWith("ModelDrafter")
                    && drafter.contains("EasySpec") == DRAFT_MODE.equals("easyspec");
            return String.format("{\"check\":\"pekko-tp\",\"backend\":\"%s\",\"port\":%d,\"rank\":%d,\"size\":%d,"
                            + "\"devices\":%d,\"group\":\"%s\",\"steps\":%d,\"formed_ms\":%.0f,\"generate_ms\":%.1f,\"tokens\":%d,"
                            + "\"finished\":%b,\"end\":\"%s\",\"tp1\":\"%s\",\"equal_tp1\":%b,\"equal_cpu\":%b,\"ids_tp\":%s,"
                            + "\"ids_tp1\":%s,\"ids_cpu\":%s,\"draft_mode\":\"%s\",\"drafter\":\"%s\",\"drafted\":%d,"
                            + "\"accepted\":%d,\"rounds\":%d,\"draft_ok\":%b,\"rank_only\":%b,\"own_model\":%b,\"pass\":%b}",
                    CPU ? "cpu" : "cuda", port, after.rank(), size, devices, after.groupId(), after.lastSeq(), formedMs, genMs,
                    tp.length, finished, done.getClass().getSimpleName(), CPU ? "cpu" : "one gpu", equal,
                    Arrays.equals(tp, cpu), list(tp), list(tp1), list(cpu), DRAFT == null ? "off" : DRAFT_MODE, drafter,
                    f == null ? 0 : f.drafted(), f == null ? 0 : f.accepted(), f == null ? 0 : f.rounds(), drafted,
                    RANK_ONLY, ownModel, finished && equal && drafted && after.lastSeq() > 0 && !(RANK_ONLY && ownModel));
        }
    }

    static String follow(int port, String seed, int size, int devices, Path model) throws Exception {
        try (SpecdecNode node = start(port, seed, size, devices, model, List.of("worker"))) {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(170);
            GroupMember.State s = state(node);
            GroupMember.State seen = s;
            // Serve until the group has run steps and is gone again (the leader's node left), or time is up.
            while (System.nanoTime() < end && !(seen.lastSeq() > 0 && s.groupId().isEmpty())) {
                Thread.sleep(200);
                try {
                    s = state(node);
                } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                    // the member is busy: a step (ask again), or closing its communicator after the group ran (done)
                    if (seen.lastSeq() > 0) break;
                    continue;
                }
                if (!s.groupId().isEmpty()) seen = s;
            }
            return String.format("{\"check\":\"pekko-tp\",\"port\":%d,\"rank\":%d,\"size\":%d,\"group\":\"%s\",\"steps\":%d,\"pass\":%b}",
                    port, seen.rank(), size, seen.groupId(), seen.lastSeq(), seen.lastSeq() > 0);
        }
    }

    static String list(int[] ids) {
        return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(",", "[", "]"));
    }
}
