package io.specdec.cluster;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A frontend's view of the serving replicas (coordinators registered with the receptionist; draining ones
 * deregister). Starts one {@link RequestStream} per request on the replica with the fewest requests this frontend
 * has in flight there.
 */
public final class Router extends AbstractBehavior<Router.Command> {

    public interface Command { }

    /** Starts a request; replies with its stream (to cancel it), or sends UNAVAILABLE to the sink when no replica serves. */
    public record Start(GenerationJob template, Consumer<StreamEvent> sink, ActorRef<ActorRef<RequestStream.Command>> replyTo)
            implements Command { }

    public record GetReplicas(ActorRef<List<ActorRef<Coordinator.Command>>> replyTo) implements Command { }

    private record Listing(Set<ActorRef<Coordinator.Command>> refs) implements Command { }

    private record StreamEnded(ActorRef<Coordinator.Command> coordinator) implements Command { }

    private final List<ActorRef<Coordinator.Command>> replicas = new ArrayList<>();
    private final Map<ActorRef<Coordinator.Command>, Integer> inFlight = new HashMap<>();
    private long streams;

    public static Behavior<Command> create() {
        return Behaviors.setup(Router::new);
    }

    private Router(ActorContext<Command> ctx) {
        super(ctx);
        ActorRef<Receptionist.Listing> adapter = ctx.messageAdapter(Receptionist.Listing.class,
                l -> new Listing(l.getServiceInstances(Coordinator.KEY)));
        ctx.getSystem().receptionist().tell(Receptionist.subscribe(Coordinator.KEY, adapter));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Listing.class, m -> {
                    replicas.clear();
                    replicas.addAll(m.refs());
                    replicas.sort((a, b) -> a.path().toString().compareTo(b.path().toString()));
                    return this;
                })
                .onMessage(Start.class, this::onStart)
                .onMessage(StreamEnded.class, m -> {
                    inFlight.computeIfPresent(m.coordinator(), (k, v) -> v <= 1 ? null : v - 1);
                    return this;
                })
                .onMessage(GetReplicas.class, m -> {
                    m.replyTo().tell(List.copyOf(replicas));
                    return this;
                })
                .build();
    }

    private Behavior<Command> onStart(Start m) {
        ActorRef<Coordinator.Command> best = null;
        for (ActorRef<Coordinator.Command> c : replicas) {
            if (best == null || inFlight.getOrDefault(c, 0) < inFlight.getOrDefault(best, 0)) best = c;
        }
        if (best == null) {
            m.sink().accept(new StreamEvent.Failed(m.template().requestId(), "UNAVAILABLE",
                    "no model replica is serving yet (cluster forming, or every replica is draining)"));
            m.replyTo().tell(getContext().getSystem().ignoreRef());
            return this;
        }
        inFlight.merge(best, 1, Integer::sum);
        ActorRef<RequestStream.Command> stream = getContext().spawn(RequestStream.create(best, m.template(), m.sink()),
                "request-" + (++streams));
        getContext().watchWith(stream, new StreamEnded(best));
        m.replyTo().tell(stream);
        return this;
    }
}
