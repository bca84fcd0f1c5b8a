package io.specdec.cluster;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import java.time.Duration;
import java.util.function.Consumer;

/**
 * A frontend's side of one request: sends the job to the chosen coordinator, relays its events to the caller's
 * sink, and watches the coordinator, so a replica that dies mid-stream ends the stream with UNAVAILABLE instead of
 * leaving it hanging. Cancelling it tells the coordinator, which drops the request at the next iteration.
 */
public final class RequestStream {
    private RequestStream() { }

    public interface Command { }

    /** The client went away or cancelled. */
    public enum Cancel implements Command { INSTANCE }

    private record Event(StreamEvent event) implements Command { }

    private record CoordinatorGone() implements Command { }

    private enum DeadlineBackstop implements Command { INSTANCE }

    static Behavior<Command> create(ActorRef<Coordinator.Command> coordinator, GenerationJob template,
                                    Consumer<StreamEvent> sink) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            ActorRef<StreamEvent> events = ctx.messageAdapter(StreamEvent.class, Event::new);
            GenerationJob job = new GenerationJob(template.requestId(), template.text(), template.tokenIds(), template.chat(),
                    template.params(), template.speculationMode(), template.gamma(), template.drafter(),
                    template.logprobs(), template.topLogprobs(), template.deadlineMillis(), events);
            ctx.watchWith(coordinator, new CoordinatorGone());
            coordinator.tell(new Coordinator.Submit(job));
            if (job.deadlineMillis() > 0) {
                long wait = Math.max(0, job.deadlineMillis() - System.currentTimeMillis()) + 2000;
                timers.startSingleTimer(DeadlineBackstop.INSTANCE, Duration.ofMillis(wait));
            }
            return Behaviors.receive(Command.class)
                    .onMessage(Event.class, m -> {
                        sink.accept(m.event());
                        return m.event() instanceof StreamEvent.Tokens ? Behaviors.same() : Behaviors.stopped();
                    })
                    .onMessage(CoordinatorGone.class, m -> {
                        sink.accept(new StreamEvent.Failed(job.requestId(), "UNAVAILABLE", "the replica serving this request ("
                                + coordinator.path().address() + ") left the cluster mid-stream"));
                        return Behaviors.stopped();
                    })
                    .onMessage(DeadlineBackstop.class, m -> {
                        coordinator.tell(new Coordinator.Cancel(job.requestId()));
                        sink.accept(new StreamEvent.Failed(job.requestId(), "DEADLINE_EXCEEDED", "deadline passed"));
                        return Behaviors.stopped();
                    })
                    .onMessage(Cancel.class, m -> {
                        coordinator.tell(new Coordinator.Cancel(job.requestId()));
                        return Behaviors.stopped();
                    })
                    .build();
        }));
    }
}
