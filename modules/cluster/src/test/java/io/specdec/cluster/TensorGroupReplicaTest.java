package io.specdec.cluster;

import com.typesafe.config.ConfigFactory;
import io.specdec.core.generate.Generator;
import io.specdec.core.generate.TokenListener;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A tensor-parallel group of two ActorSystems on loopback ports (one CPU device each, {@code rank-model = cpu}) is ONE
 * replica: each member holds its rank of the bundled target and runs the leader's plans on it; the output equals
 * one device's (greedy, and sampled with a seed). A member stopped mid-generation dissolves the group: the request
 * fails with UNAVAILABLE instead of hanging, and the remaining device serves alone again.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class TensorGroupReplicaTest {
    final List<SpecdecNode> nodes = new ArrayList<>();

    @AfterEach
    void stop() {
        for (SpecdecNode n : nodes.reversed()) n.close();
    }

    static ModelRuntime.Spec bundledTarget() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("models").resolve("target"))) dir = dir.getParent();
        Assumptions.assumeTrue(dir != null, "the bundled model models/target was not found above the working directory");
        return new ModelRuntime.Spec("target", dir.resolve("models").resolve("target"), null, null, 1, 4096);
    }

    void startGroup(ModelRuntime.Spec spec) throws Exception {
        startGroup(spec, nodes);
    }

    /** Two nodes of one device each, added to {@code nodes}; the seed (frontend) gets the lower port, so its device is rank 0. */
    static void startGroup(ModelRuntime.Spec spec, List<SpecdecNode> nodes) throws Exception {
        startGroup(spec, nodes, null);
    }

    /** As above, the ranks opened by {@code rankModels} (null: {@code rank-model = cpu} from the config). */
    static void startGroup(ModelRuntime.Spec spec, List<SpecdecNode> nodes, RankModels rankModels) throws Exception {
        startGroup(spec, nodes, rankModels, "");
    }

    /** As above, with {@code extraConfig} (HOCON) over the group's settings. */
    static void startGroup(ModelRuntime.Spec spec, List<SpecdecNode> nodes, RankModels rankModels, String extraConfig)
            throws Exception {
        int a = TestModel.freePort(), b = TestModel.freePort();
        int seedPort = Math.min(a, b), otherPort = Math.max(a, b);
        String seed = "127.0.0.1:" + seedPort;
        var config = ConfigFactory.parseString(extraConfig).withFallback(ConfigFactory.parseString("""
                pekko.cluster.split-brain-resolver.stable-after = 3s
                specdec.placement.tensor-parallel = 2
                specdec.placement.rank-model = cpu
                specdec.placement.cpu-rank.collective-timeout = 20s
                """));
        var settings = new Coordinator.Settings(16, 8, 64);
        var seedNode = new SpecdecNode.Options("127.0.0.1", seedPort, List.of(seed), List.of("frontend", "worker"), spec, 1,
                settings, config);
        var otherNode = new SpecdecNode.Options("127.0.0.1", otherPort, List.of(seed), List.of("worker"), spec, 1, settings, config);
        nodes.add(rankModels == null ? SpecdecNode.start(seedNode) : SpecdecNode.start(seedNode, new RandomCommunicatorIds(), rankModels));
        nodes.add(rankModels == null ? SpecdecNode.start(otherNode) : SpecdecNode.start(otherNode, new RandomCommunicatorIds(), rankModels));
        SpecdecNode leader = nodes.get(0), follower = nodes.get(1);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (true) {
            GroupMember.State l = TensorGroupServingTest.state(leader, leader.groupMembers().getFirst());
            GroupMember.State f = TensorGroupServingTest.state(follower, follower.groupMembers().getFirst());
            // Ready, and the follower's own replica no longer takes requests: the group is the only replica.
            if (l.ready() && f.ready() && leader.replicas().toCompletableFuture().get().size() == 1) {
                assertThat(l.rank()).isZero();
                assertThat(f.rank()).isEqualTo(1);
                assertThat(f.groupId()).isEqualTo(l.groupId());
                assertThat(leader.replicas().toCompletableFuture().get().getFirst().path().address())
                        .isEqualTo(leader.system().path().address());
                return;
            }
            assertThat(System.nanoTime()).as("group of two ready and serving as one replica within 90 s").isLessThan(end);
            Thread.sleep(200);
        }
    }

    static List<Integer> reference(ModelRuntime local, String text, SamplingParams params) {
        Tokenizer tok = local.tokenizer();
        int[] prompt = tok.encode(text, tok.addBosByDefault(), false);
        int[] ids = Generator.plain(local.target()).generate(prompt, params, TokenListener.NONE).tokens();
        return Arrays.stream(ids).boxed().toList();
    }

    @Test
    void aGroupOfTwoActorSystemsGeneratesTheOutputOfOneDevice() throws Exception {
        ModelRuntime.Spec spec = bundledTarget();
        startGroup(spec);
        SpecdecNode leader = nodes.get(0), follower = nodes.get(1);
        List<String> prompts = List.of("Once upon a time", "The little dog", "Lily and Tom went to the park");
        SamplingParams greedy = SamplingParams.greedy().withMaxTokens(48);
        SamplingParams sampled = SamplingParams.builder().temperature(0.9).topP(0.95).seed(42L).maxTokens(48).build();
        // Concurrently: the group batches them, every rank the same way.
        List<ClusterServingTest.Outcome> outs = new ArrayList<>();
        for (String p : prompts) outs.add(ClusterServingTest.generate(leader, ClusterServingTest.job(p, greedy, "off")));
        outs.add(ClusterServingTest.generate(leader, ClusterServingTest.job(prompts.getFirst(), sampled, "off")));
        outs.add(ClusterServingTest.generate(leader, ClusterServingTest.job(prompts.get(1), greedy, "default")));
        List<StreamEvent> ends = new ArrayList<>();
        for (ClusterServingTest.Outcome o : outs) ends.add(o.end().get(120, TimeUnit.SECONDS));
        try (ModelRuntime local = new ModelRuntime(spec, "reference")) {
            for (int i = 0; i < prompts.size(); i++) {
                assertThat(ends.get(i)).as("prompt %d", i).isInstanceOf(StreamEvent.Finished.class);
                assertThat(outs.get(i).tokens()).as("greedy ids of \"%s\"", prompts.get(i))
                        .containsExactlyElementsOf(reference(local, prompts.get(i), greedy));
            }
            assertThat(ends.get(3)).isInstanceOf(StreamEvent.Finished.class);
            assertThat(outs.get(3).tokens()).as("sampled ids, seed 42")
                    .containsExactlyElementsOf(reference(local, prompts.getFirst(), sampled));
            assertThat(ends.get(4)).isInstanceOf(StreamEvent.Finished.class);
            assertThat(outs.get(4).tokens()).as("speculated (n-gram) greedy ids")
                    .containsExactlyElementsOf(reference(local, prompts.get(1), greedy));
        }
        // The follower really ran every step the leader ran, with the same batch.
        GroupMember.State l = TensorGroupServingTest.state(leader, leader.groupMembers().getFirst());
        GroupMember.State f = TensorGroupServingTest.state(follower, follower.groupMembers().getFirst());
        assertThat(l.lastSeq()).isPositive();
        assertThat(f.lastSeq()).isEqualTo(l.lastSeq());
        assertThat(f.groupId()).isEqualTo(l.groupId());
        assertThat(follower.runtimes().getFirst().targetCache().freeBlocks())
                .as("the follower's own model served nothing").isEqualTo(follower.runtimes().getFirst().targetCache().totalBlocks());
    }

    @Test
    void twoDevicesOfOneNodeFormOneGroupReplicaWithOneActorAndThreadEach() throws Exception {
        ModelRuntime.Spec spec = bundledTarget();
        var config = ConfigFactory.parseString("""
                specdec.placement.tensor-parallel = 2
                specdec.placement.rank-model = cpu
                """);
        SpecdecNode node = SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", TestModel.freePort(), List.of(),
                List.of("frontend", "worker"), spec, 2, new Coordinator.Settings(16, 8, 64), config));
        nodes.add(node);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (!(TensorGroupServingTest.state(node, node.groupMembers().get(1)).ready()
                && node.replicas().toCompletableFuture().get().size() == 1)) {
            assertThat(System.nanoTime()).as("one group replica within 90 s").isLessThan(end);
            Thread.sleep(200);
        }
        SamplingParams greedy = SamplingParams.greedy().withMaxTokens(40);
        ClusterServingTest.Outcome out = ClusterServingTest.generate(node, ClusterServingTest.job("Once upon a time", greedy, "off"));
        assertThat(out.end().get(60, TimeUnit.SECONDS)).isInstanceOf(StreamEvent.Finished.class);
        try (ModelRuntime local = new ModelRuntime(spec, "reference")) {
            assertThat(out.tokens()).containsExactlyElementsOf(reference(local, "Once upon a time", greedy));
        }
        assertThat(TensorGroupServingTest.state(node, node.groupMembers().get(1)).lastSeq()).isPositive();
    }

    /**
     * Starts a long greedy request on the leader ({@code mode}: its speculation), stops the follower's node once tokens
     * flow (its member leaves the communicator as it stops) and returns the request's last event.
     */
    static StreamEvent stopFollowerMidGeneration(SpecdecNode leader, SpecdecNode follower, String mode) throws Exception {
        CompletableFuture<Void> firstTokens = new CompletableFuture<>();
        CompletableFuture<StreamEvent> end = new CompletableFuture<>();
        SamplingParams longRun = SamplingParams.greedy().toBuilder().maxTokens(900).ignoreEos(true).build();
        leader.generate(ClusterServingTest.job("Once upon a time", longRun, mode), e -> {
            if (e instanceof StreamEvent.Tokens) firstTokens.complete(null);
            else end.complete(e);
        });
        firstTokens.get(60, TimeUnit.SECONDS);
        follower.system().terminate();
        return end.get(60, TimeUnit.SECONDS);
    }

    @Test
    void aMemberStoppedMidGenerationDissolvesTheGroupAndTheRequestFailsCleanly() throws Exception {
        ModelRuntime.Spec spec = bundledTarget();
        startGroup(spec);
        SpecdecNode leader = nodes.get(0), follower = nodes.get(1);
        StreamEvent last = stopFollowerMidGeneration(leader, follower, "off");
        assertThat(last).isInstanceOfSatisfying(StreamEvent.Failed.class, f -> assertThat(f.status()).isEqualTo("UNAVAILABLE"));
        // The group is gone; the leader's device serves alone again, with one device's output.
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!TensorGroupServingTest.state(leader, leader.groupMembers().getFirst()).groupId().isEmpty()) {
            assertThat(System.nanoTime()).as("group dissolved within 60 s").isLessThan(until);
            Thread.sleep(200);
        }
        SamplingParams greedy = SamplingParams.greedy().withMaxTokens(32);
        ClusterServingTest.Outcome after = ClusterServingTest.generate(leader, ClusterServingTest.job("The little dog", greedy, "off"));
        assertThat(after.end().get(60, TimeUnit.SECONDS)).isInstanceOf(StreamEvent.Finished.class);
        try (ModelRuntime local = new ModelRuntime(spec, "reference")) {
            assertThat(after.tokens()).containsExactlyElementsOf(reference(local, "The little dog", greedy));
        }
    }
}
