package io.specdec.cluster;

import com.typesafe.config.ConfigFactory;
import io.specdec.core.sampling.SamplingParams;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.SingletonActor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Tensor-parallel group formation and per-iteration plans over real Pekko remoting: several ActorSystems on
 * loopback ports, each hosting device {@link GroupMember}s (no model: the protocol alone), one {@link Placement}
 * singleton. Groups get one communicator id and ranks in (address, device index) order; the leader's steps reach
 * every member in order; a node that goes away, or a gap in the steps, dissolves the group and the remaining
 * devices are grouped again under a new id.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class TensorGroupTest {

    /** What a member's shard saw, in order. */
    static final class RecordingShard implements GroupShard {
        final List<GroupMember.JoinGroup> joins = new CopyOnWriteArrayList<>();
        final List<GroupMember.GroupStep> steps = new CopyOnWriteArrayList<>();
        final List<String> leaves = new CopyOnWriteArrayList<>();

        @Override public void join(GroupMember.JoinGroup join) { joins.add(join); }

        @Override public StepResult step(GroupMember.GroupStep step) {
            steps.add(step);
            return null;
        }

        @Override public void leave(String groupId) { leaves.add(groupId); }

        List<GroupMember.GroupStep> stepsOf(String groupId) {
            return steps.stream().filter(s -> s.groupId().equals(groupId)).toList();
        }
    }

    record Device(Node node, int index, ActorRef<GroupMember.Command> ref, RecordingShard shard) {
        @Override public String toString() { return node.port() + "/cpu" + index; } // Node lists its devices

        GroupMember.State state() throws Exception {
            return AskPattern.<GroupMember.Command, GroupMember.State>ask(ref, GroupMember.GetState::new,
                    Duration.ofSeconds(5), node.system().scheduler()).toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    record Node(ActorSystem<Void> system, int port, List<Device> devices) {
        @Override public String toString() { return "node :" + port; }
    }

    final List<Node> nodes = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (Node n : nodes.reversed()) n.system().terminate();
        for (Node n : nodes) n.system().getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    Node start(String seed, int port, int devices, int tensorParallel) {
        var extra = ConfigFactory.parseString("""
                pekko.cluster.split-brain-resolver.stable-after = 3s
                specdec.placement.tensor-parallel = %d
                specdec.placement.group-formation-timeout = 10s
                """.formatted(tensorParallel));
        List<RecordingShard> shards = new ArrayList<>();
        for (int d = 0; d < devices; d++) shards.add(new RecordingShard());
        CompletableFuture<List<ActorRef<GroupMember.Command>>> refs = new CompletableFuture<>();
        Behavior<Void> guardian = Behaviors.setup(ctx -> {
            List<ActorRef<GroupMember.Command>> members = new ArrayList<>();
            for (int d = 0; d < devices; d++) {
                members.add(ctx.spawn(GroupMember.create("cpu" + d, new RandomCommunicatorIds(), shards.get(d)), "group-cpu" + d));
            }
            ClusterSingleton.get(ctx.getSystem()).init(SingletonActor.of(Placement.create(), "placement"));
            refs.complete(members);
            return Behaviors.empty();
        });
        ActorSystem<Void> system = ActorSystem.create(guardian, "specdec",
                SpecdecNode.config("127.0.0.1", port, List.of(seed), List.of("worker"), extra));
        List<Device> list = new ArrayList<>();
        Node node = new Node(system, port, list);
        List<ActorRef<GroupMember.Command>> members = refs.join();
        for (int d = 0; d < devices; d++) list.add(new Device(node, d, members.get(d), shards.get(d)));
        nodes.add(node);
        return node;
    }

    /** Starts one node per entry of {@code devicesPerNode}, the first being the seed (and the Placement's host). */
    void startCluster(int tensorParallel, int... devicesPerNode) {
        int seedPort = TestModel.freePort();
        String seed = "127.0.0.1:" + seedPort;
        for (int i = 0; i < devicesPerNode.length; i++) {
            start(seed, i == 0 ? seedPort : TestModel.freePort(), devicesPerNode[i], tensorParallel);
        }
    }

    List<Device> liveDevices() {
        return nodes.stream().filter(n -> !n.system().getWhenTerminated().toCompletableFuture().isDone())
                .flatMap(n -> n.devices().stream()).toList();
    }

    /** Ready groups (group id to members in rank order) once {@code expected} of them, each complete, exist. */
    Map<String, List<Device>> awaitReadyGroups(int expected, int size, Set<String> notThese) throws Exception {
        return await("%d ready groups of %d, none of %s".formatted(expected, size, notThese), () -> {
            Map<String, List<Device>> groups = new LinkedHashMap<>();
            for (Device d : liveDevices()) {
                GroupMember.State s = d.state();
                if (s.groupId().isEmpty() || !s.ready() || notThese.contains(s.groupId())) continue;
                groups.computeIfAbsent(s.groupId(), k -> new ArrayList<>()).add(d);
            }
            boolean done = groups.size() == expected && groups.values().stream().allMatch(l -> l.size() == size);
            return done ? groups : null;
        });
    }

    interface Probe<T> { T get() throws Exception; }

    static <T> T await(String what, Probe<T> probe) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            T t = probe.get();
            if (t != null) return t;
            assertThat(System.nanoTime()).as("within 60 s: " + what).isLessThan(end);
            Thread.sleep(200);
        }
    }

    static void awaitTrue(String what, BooleanSupplier condition) throws Exception {
        await(what, () -> condition.getAsBoolean() ? Boolean.TRUE : null);
    }

    static final Comparator<Device> RANK_ORDER = Comparator.<Device>comparingInt(d -> d.node().port())
            .thenComparingInt(Device::index);

    /** Same id (NCCL's size) for all, ranks 0..n-1 distinct and in (address, device index) order. */
    static List<Device> checkGroup(String groupId, List<Device> members) throws Exception {
        List<GroupMember.State> states = new ArrayList<>();
        for (Device d : members) states.add(d.state());
        byte[] id = states.getFirst().communicatorId();
        assertThat(id).hasSize(CommunicatorIds.NCCL_ID_BYTES);
        List<Device> byRank = new ArrayList<>(members);
        byRank.sort(Comparator.comparingInt(d -> states.get(members.indexOf(d)).rank()));
        for (int i = 0; i < states.size(); i++) {
            GroupMember.State s = states.get(i);
            assertThat(s.groupId()).isEqualTo(groupId);
            assertThat(s.size()).isEqualTo(members.size());
            assertThat(s.communicatorId()).isEqualTo(id);
        }
        assertThat(states.stream().map(GroupMember.State::rank).sorted().toList())
                .containsExactlyElementsOf(java.util.stream.IntStream.range(0, members.size()).boxed().toList());
        assertThat(byRank).isSortedAccordingTo(RANK_ORDER);
        // Every member's shard joined with exactly what its state says.
        for (Device d : members) {
            GroupMember.JoinGroup j = d.shard().joins.getLast();
            assertThat(j.groupId()).isEqualTo(groupId);
            assertThat(j.communicatorId()).isEqualTo(id);
            assertThat(j.members().stream().map(r -> key(r, d.node().port())).toList())
                    .containsExactlyElementsOf(byRank.stream().map(m -> key(m.ref(), m.node().port())).toList());
        }
        return byRank;
    }

    /** "port/name" of a member ref as seen on the node listening on {@code localPort} (local refs have no port). */
    static String key(ActorRef<?> ref, int localPort) {
        return ref.path().address().getPort().orElse(localPort) + "/" + ref.path().name();
    }

    /** Iteration i admits request "r<i>" (prompt [i, i+1, i+2]), finishes the one admitted two iterations earlier. */
    static List<GroupMember.Lead> plans(int from, int count) {
        List<GroupMember.Lead> out = new ArrayList<>();
        for (int i = from; i < from + count; i++) {
            SamplingParams p = SamplingParams.defaults().toBuilder().seed((long) i).maxTokens(10 + i).build();
            var admit = new StepPlan.Admit("r" + i, new int[] {i, i + 1, i + 2}, p, i % 2 == 0 ? "ngram" : null, 4, 1, 8, false, 0);
            List<String> removals = i % 5 == 0 ? List.of("r" + (i - 1)) : List.of();
            List<String> finished = i >= from + 2 && (i - 2) % 5 != 4 ? List.of("r" + (i - 2)) : List.of();
            out.add(new GroupMember.Lead(new StepPlan(i, List.of(admit), removals), finished));
        }
        return out;
    }

    /** The leader sends {@code leads}; every other member applies them in order, with the leader's batch. */
    static void leadAndCheck(String groupId, List<Device> byRank, List<GroupMember.Lead> leads) throws Exception {
        Device leader = byRank.getFirst();
        for (GroupMember.Lead l : leads) leader.ref().tell(l);
        for (Device d : byRank) {
            awaitTrue("rank " + byRank.indexOf(d) + " applied " + leads.size() + " steps",
                    () -> d.shard().stepsOf(groupId).size() >= leads.size());
        }
        GroupMember.State leaderState = leader.state();
        assertThat(leaderState.lastSeq()).isEqualTo(leads.size());
        for (Device d : byRank) {
            List<GroupMember.GroupStep> steps = d.shard().stepsOf(groupId);
            assertThat(steps).hasSize(leads.size());
            for (int i = 0; i < steps.size(); i++) {
                GroupMember.GroupStep s = steps.get(i);
                GroupMember.Lead sent = leads.get(i);
                assertThat(s.seq()).isEqualTo(i + 1);
                assertThat(s.plan().iteration()).isEqualTo(sent.plan().iteration());
                assertThat(s.finished()).isEqualTo(sent.finished());
                assertThat(s.plan().removals()).isEqualTo(sent.plan().removals());
                StepPlan.Admit got = s.plan().admits().getFirst();
                StepPlan.Admit want = sent.plan().admits().getFirst();
                assertThat(got.requestId()).isEqualTo(want.requestId());
                assertThat(got.prompt()).isEqualTo(want.prompt());
                assertThat(got.params()).isEqualTo(want.params());
                assertThat(got.drafter()).isEqualTo(want.drafter());
            }
            GroupMember.State st = d.state();
            assertThat(st.lastSeq()).isEqualTo(leads.size());
            assertThat(st.running()).isEqualTo(leaderState.running()).isNotEmpty();
        }
    }

    /** Terminates a node other than the seed that hosts a member of the group; returns the group's survivors. */
    List<Device> killAMemberNode(List<Device> group) {
        Node victim = group.stream().map(Device::node).filter(n -> n != nodes.getFirst()).findFirst().orElseThrow();
        victim.system().terminate();
        victim.system().getWhenTerminated().toCompletableFuture().join();
        return group.stream().filter(d -> d.node() != victim).toList();
    }

    @Test
    void groupsOfTwoGetOneIdAndOrderedRanksReceiveTheLeadersStepsAndReformWithANewIdWhenANodeDies() throws Exception {
        startCluster(2, 1, 1, 1);
        Map<String, List<Device>> groups = awaitReadyGroups(1, 2, Set.of());
        String first = groups.keySet().iterator().next();
        List<Device> byRank = checkGroup(first, groups.get(first));
        byte[] firstId = byRank.getFirst().state().communicatorId();
        leadAndCheck(first, byRank, plans(1, 30));

        List<Device> survivors = killAMemberNode(byRank);
        Map<String, List<Device>> regrouped = awaitReadyGroups(1, 2, Set.of(first));
        String second = regrouped.keySet().iterator().next();
        List<Device> newRanks = checkGroup(second, regrouped.get(second));
        assertThat(second).isNotEqualTo(first);
        assertThat(newRanks.getFirst().state().communicatorId()).isNotEqualTo(firstId);
        assertThat(newRanks).containsAll(survivors);
        for (Device d : survivors) assertThat(d.shard().leaves).contains(first);
        // Sequence numbers start again at 1 in the new group.
        leadAndCheck(second, newRanks, plans(100, 5));
    }

    @Test
    void groupsOfThreeSpanNodesAndSeveralDevicesPerNodeAndReformWhenANodeDies() throws Exception {
        startCluster(3, 2, 2, 1); // five devices: one group of three, two free
        Map<String, List<Device>> groups = awaitReadyGroups(1, 3, Set.of());
        String first = groups.keySet().iterator().next();
        List<Device> byRank = checkGroup(first, groups.get(first));
        leadAndCheck(first, byRank, plans(1, 20));

        List<Device> survivors = killAMemberNode(byRank);
        Map<String, List<Device>> regrouped = awaitReadyGroups(1, 3, Set.of(first));
        String second = regrouped.keySet().iterator().next();
        List<Device> newRanks = checkGroup(second, regrouped.get(second));
        for (Device d : survivors) assertThat(d.shard().leaves).contains(first);
        if (liveDevices().size() == 3) assertThat(newRanks).containsAll(survivors); // else any three of four
        leadAndCheck(second, newRanks, plans(50, 5));
    }

    @Test
    void aGapInTheStepsBreaksTheGroupAndItIsFormedAgainWithANewId() throws Exception {
        startCluster(2, 2);
        Map<String, List<Device>> groups = awaitReadyGroups(1, 2, Set.of());
        String first = groups.keySet().iterator().next();
        List<Device> byRank = checkGroup(first, groups.get(first));
        leadAndCheck(first, byRank, plans(1, 3));
        Device follower = byRank.get(1);
        GroupMember.Lead skipped = plans(5, 1).getFirst();
        follower.ref().tell(new GroupMember.GroupStep(first, 5, skipped.plan(), skipped.finished(), List.of("r5")));

        Map<String, List<Device>> regrouped = awaitReadyGroups(1, 2, Set.of(first));
        String second = regrouped.keySet().iterator().next();
        checkGroup(second, regrouped.get(second));
        assertThat(follower.shard().stepsOf(first)).hasSize(3);
        Set<String> left = new HashSet<>();
        for (Device d : byRank) left.addAll(d.shard().leaves);
        assertThat(left).contains(first);
    }
}
