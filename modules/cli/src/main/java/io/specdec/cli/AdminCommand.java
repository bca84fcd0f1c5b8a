package io.specdec.cli;

import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.specdec.api.v1.AdminServiceGrpc;
import io.specdec.api.v1.DrainNodeRequest;
import io.specdec.api.v1.GetClusterStatusRequest;
import io.specdec.api.v1.GetSpeculationPolicyRequest;
import io.specdec.api.v1.SetSpeculationPolicyRequest;
import io.specdec.api.v1.SpeculationPolicy;
import io.specdec.api.v1.WatchEventsRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/** Operator commands over AdminService (JSON output). */
@Command(name = "admin", mixinStandardHelpOptions = true, description = "Operate a specdec cluster.",
        subcommands = {AdminCommand.Status.class, AdminCommand.Drain.class, AdminCommand.Policy.class, AdminCommand.Events.class})
final class AdminCommand {

    static int run(RemoteOptions remote, java.util.function.Function<AdminServiceGrpc.AdminServiceBlockingStub, MessageOrBuilder> call)
            throws Exception {
        ManagedChannel ch = remote.channel();
        try {
            MessageOrBuilder reply = call.apply(remote.withToken(AdminServiceGrpc.newBlockingStub(ch)));
            System.out.println(JsonFormat.printer().alwaysPrintFieldsWithNoPresence().print(reply));
            return 0;
        } catch (StatusRuntimeException e) {
            System.err.println("specdec: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            return 1;
        } finally {
            ch.shutdownNow();
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true, description = "Members, devices, replicas and their load.")
    static final class Status implements Callable<Integer> {
        @Mixin RemoteOptions remote;

        @Override public Integer call() throws Exception {
            return run(remote, s -> s.withDeadlineAfter(30, TimeUnit.SECONDS).getClusterStatus(GetClusterStatusRequest.getDefaultInstance()));
        }
    }

    @Command(name = "drain", mixinStandardHelpOptions = true,
            description = "Stop admitting on a node, finish its in-flight requests, then remove it from the cluster.")
    static final class Drain implements Callable<Integer> {
        @Mixin RemoteOptions remote;

        @Parameters(arity = "0..1", paramLabel = "ADDRESS", description = "Member address (pekko://specdec@host:port); default: the node answering.")
        String address = "";

        @Option(names = "--timeout", defaultValue = "0", description = "Seconds to wait for in-flight requests; 0 = no limit.")
        int timeout;

        @Override public Integer call() throws Exception {
            return run(remote, s -> s.drainNode(DrainNodeRequest.newBuilder().setAddress(address).setTimeoutSeconds(timeout).build()));
        }
    }

    @Command(name = "policy", mixinStandardHelpOptions = true,
            description = "Show the speculation policy, or change it with --set and the fields to change.")
    static final class Policy implements Callable<Integer> {
        @Mixin RemoteOptions remote;
        @Option(names = "--set", description = "Change the policy (unspecified fields keep their value).") boolean set;
        @Option(names = "--enabled", arity = "1") Boolean enabled;
        @Option(names = "--drafter", paramLabel = "model|ngram") String drafter;
        @Option(names = "--gamma", description = "Fixed γ; 0 = adaptive.") Integer gamma;
        @Option(names = "--gamma-min") Integer gammaMin;
        @Option(names = "--gamma-max") Integer gammaMax;
        @Option(names = "--auto-off-running-above", description = "Plain decoding when more requests than this run; 0 = never.") Integer autoOff;

        @Override public Integer call() throws Exception {
            return run(remote, s -> {
                SpeculationPolicy current = s.getSpeculationPolicy(GetSpeculationPolicyRequest.getDefaultInstance());
                if (!set) return current;
                SpeculationPolicy.Builder b = current.toBuilder();
                if (enabled != null) b.setEnabled(enabled);
                if (drafter != null) b.setDrafter(drafter);
                if (gamma != null) b.setGamma(gamma);
                if (gammaMin != null) b.setGammaMin(gammaMin);
                if (gammaMax != null) b.setGammaMax(gammaMax);
                if (autoOff != null) b.setAutoOffRunningAbove(autoOff);
                return s.setSpeculationPolicy(SetSpeculationPolicyRequest.newBuilder().setPolicy(b).build());
            });
        }
    }

    @Command(name = "events", mixinStandardHelpOptions = true, description = "Stream cluster and placement events (Ctrl-C stops).")
    static final class Events implements Callable<Integer> {
        @Mixin RemoteOptions remote;

        @Override public Integer call() throws Exception {
            ManagedChannel ch = remote.channel();
            try {
                var it = remote.withToken(AdminServiceGrpc.newBlockingStub(ch)).watchEvents(WatchEventsRequest.getDefaultInstance());
                while (it.hasNext()) System.out.println(JsonFormat.printer().omittingInsignificantWhitespace().print(it.next()));
                return 0;
            } catch (StatusRuntimeException e) {
                System.err.println("specdec: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
                return 1;
            } finally {
                ch.shutdownNow();
            }
        }
    }
}
