package io.specdec.cluster;

import com.typesafe.config.ConfigFactory;
import io.specdec.core.generate.Generator;
import io.specdec.core.generate.TokenListener;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.tokenizer.Tokenizer;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Three ActorSystems on loopback ports form one Pekko cluster (two workers with a replica each, one frontend-only
 * node); requests entered at the frontend are served by the workers with the in-process engine's output.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ClusterServingTest {
    static final List<SpecdecNode> nodes = new ArrayList<>();
    static SpecdecNode frontend;

    @BeforeAll
    static void formCluster() throws Exception {
        ModelRuntime.Spec spec = TestModel.spec("layers:4");
        int seedPort = TestModel.freePort();
        String seed = "127.0.0.1:" + seedPort;
        var fast = ConfigFactory.parseString("pekko.cluster.split-brain-resolver.stable-after = 3s");
        var settings = new Coordinator.Settings(64, 32, 64);
        nodes.add(SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", seedPort, List.of(seed), List.of("worker"), spec, 1, settings, fast)));
        nodes.add(SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", TestModel.freePort(), List.of(seed), List.of("worker"), spec, 1, settings, fast)));
        frontend = SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", TestModel.freePort(), List.of(seed), List.of("frontend"), null, 0, settings, fast));
        nodes.add(frontend);
        awaitReplicas(frontend, 2);
    }

    static void awaitReplicas(SpecdecNode node, int n) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (node.replicas().toCompletableFuture().get().size() < n) {
            assertThat(System.nanoTime()).as("replicas formed within 60 s").isLessThan(end);
            Thread.sleep(200);
        }
    }

    @AfterAll
    static void stop() {
        for (SpecdecNode n : nodes.reversed()) n.close();
    }

    record Outcome(List<Integer> tokens, StringBuilder text, CompletableFuture<StreamEvent> end) { }

    static Outcome generate(SpecdecNode via, GenerationJob job) {
        Outcome o = new Outcome(new CopyOnWriteArrayList<>(), new StringBuilder(), new CompletableFuture<>());
        via.generate(job, e -> {
            switch (e) {
                case StreamEvent.Tokens t -> {
                    for (int id : t.ids()) o.tokens().add(id);
                    o.text().append(t.text());
                }
                case StreamEvent.Finished f -> {
                    o.text().append(f.trailingText());
                    o.end().complete(f);
                }
                case StreamEvent.Failed f -> o.end().complete(f);
            }
        });
        return o;
    }

    static GenerationJob job(String text, SamplingParams params, String mode) {
        return new GenerationJob(UUID.randomUUID().toString(), text, null, null, params, mode, 0, "", false, 0, 0, null);
    }

    @Test
    void threeNodesFormOneClusterAndServeThroughTheFrontendWithTheEnginesOutput() throws Exception {
        assertThat(frontend.cluster().state().getMembers()).hasSize(3);
        SamplingParams params = SamplingParams.greedy().withMaxTokens(60);
        Outcome out = generate(frontend, job("Once upon a time", params, "default"));
        StreamEvent end = out.end().get(60, TimeUnit.SECONDS);
        assertThat(end).isInstanceOf(StreamEvent.Finished.class);

        ModelRuntime local = new ModelRuntime(TestModel.spec(null), "reference");
        try {
            Tokenizer tok = local.tokenizer();
            int[] prompt = tok.encode("Once upon a time", tok.addBosByDefault(), false);
            int[] expected = Generator.plain(local.target()).generate(prompt, params, TokenListener.NONE).tokens();
            assertThat(out.tokens()).containsExactlyElementsOf(java.util.Arrays.stream(expected).boxed().toList());
            assertThat(((StreamEvent.Finished) end).drafter()).isNotEqualTo("off");
        } finally {
            local.close();
        }
    }

    @Test
    void concurrentRequestsAreSpreadOverBothReplicasAndLeaveNoKvBlocksBehind() throws Exception {
        List<Outcome> outs = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            SamplingParams p = SamplingParams.defaults().toBuilder().seed((long) i).maxTokens(40).build();
            outs.add(generate(frontend, job("Lily had a " + i, p, i % 3 == 0 ? "off" : "default")));
        }
        List<String> replicas = new ArrayList<>();
        for (Outcome o : outs) {
            StreamEvent end = o.end().get(120, TimeUnit.SECONDS);
            assertThat(end).isInstanceOf(StreamEvent.Finished.class);
            replicas.add(((StreamEvent.Finished) end).replica());
        }
        assertThat(replicas.stream().distinct().count()).isEqualTo(2);
        assertKvEmpty();
    }

    @Test
    void cancellationStopsTheRequestAndFreesItsBlocks() throws Exception {
        SamplingParams p = SamplingParams.greedy().toBuilder().maxTokens(400).ignoreEos(true).build();
        CompletableFuture<Void> firstTokens = new CompletableFuture<>();
        List<StreamEvent> events = new CopyOnWriteArrayList<>();
        ActorRef<RequestStream.Command> stream = frontend.generate(job("The dog", p, "default"), e -> {
            events.add(e);
            firstTokens.complete(null);
        }).toCompletableFuture().get(10, TimeUnit.SECONDS);
        firstTokens.get(30, TimeUnit.SECONDS);
        stream.tell(RequestStream.Cancel.INSTANCE);
        Thread.sleep(500);
        assertKvEmpty();
        assertThat(events).noneMatch(e -> e instanceof StreamEvent.Finished);
    }

    @Test
    void aFullQueueAnswersResourceExhaustedAndAPastDeadlineDeadlineExceeded() throws Exception {
        GenerationJob late = new GenerationJob(UUID.randomUUID().toString(), "Hi", null, null,
                SamplingParams.greedy().withMaxTokens(300), "default", 0, "", false, 0, System.currentTimeMillis() + 50, null);
        StreamEvent end = generate(frontend, late).end().get(30, TimeUnit.SECONDS);
        assertThat(end).isInstanceOfSatisfying(StreamEvent.Failed.class, f -> assertThat(f.status()).isEqualTo("DEADLINE_EXCEEDED"));
        assertKvEmpty();
    }

    static void assertKvEmpty() throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            List<Coordinator.Load> loads = frontend.loads().toCompletableFuture().get();
            boolean empty = loads.size() == 2 && loads.stream().allMatch(l -> l.kvBlocksUsed() == 0 && l.running() == 0);
            if (empty) break;
            assertThat(System.nanoTime()).as("KV blocks back to zero: %s", loads).isLessThan(end);
            Thread.sleep(100);
        }
        for (SpecdecNode n : nodes) for (ModelRuntime r : n.runtimes()) {
            assertThat(r.targetCache().freeBlocks()).isEqualTo(r.targetCache().totalBlocks());
        }
    }
}
