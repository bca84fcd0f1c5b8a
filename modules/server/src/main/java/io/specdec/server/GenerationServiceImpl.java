package io.specdec.server;

import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.specdec.api.v1.Delta;
import io.specdec.api.v1.Final;
import io.specdec.api.v1.FinishReason;
import io.specdec.api.v1.GenerateRequest;
import io.specdec.api.v1.GenerateResponse;
import io.specdec.api.v1.GenerationServiceGrpc;
import io.specdec.api.v1.ListModelsRequest;
import io.specdec.api.v1.ListModelsResponse;
import io.specdec.api.v1.ModelCard;
import io.specdec.api.v1.SpeculationStats;
import io.specdec.api.v1.TokenLogprob;
import io.specdec.api.v1.TokenizeRequest;
import io.specdec.api.v1.TokenizeResponse;
import io.specdec.api.v1.TopLogprob;
import io.specdec.api.v1.Usage;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.GenerationJob;
import io.specdec.cluster.RequestStream;
import io.specdec.cluster.SpecdecNode;
import io.specdec.cluster.StreamEvent;
import org.apache.pekko.actor.typed.ActorRef;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/** GenerationService over the cluster: each Generate call becomes one request stream through this node's router. */
final class GenerationServiceImpl extends GenerationServiceGrpc.GenerationServiceImplBase {
    private final SpecdecNode node;
    private final RequestMapper mapper;
    private final ServingMetrics metrics;
    private final ModelNames models;

    GenerationServiceImpl(SpecdecNode node, RequestMapper mapper, ServingMetrics metrics, ModelNames models) {
        this.node = node;
        this.mapper = mapper;
        this.metrics = metrics;
        this.models = models;
    }

    @Override
    public void generate(GenerateRequest request, StreamObserver<GenerateResponse> responses) {
        ServerCallStreamObserver<GenerateResponse> call = (ServerCallStreamObserver<GenerateResponse>) responses;
        long start = System.nanoTime();
        try {
            models.check(request.getModel());
            Deadline deadline = Context.current().getDeadline();
            long deadlineMillis = deadline == null ? 0
                    : System.currentTimeMillis() + Math.max(1, deadline.timeRemaining(TimeUnit.MILLISECONDS));
            GenerationJob job = mapper.map(request, deadlineMillis);
            Relay relay = new Relay(call, start);
            call.setOnCancelHandler(relay::cancel);
            node.generate(job, relay::onEvent).whenComplete((stream, error) -> {
                if (error != null) relay.fail(GrpcErrors.toStatus(error));
                else relay.started(stream);
            });
        } catch (RuntimeException e) {
            metrics.failed(GrpcErrors.toStatus(e).getStatus().getCode().name());
            responses.onError(GrpcErrors.toStatus(e));
        }
    }

    /** Writes one request's events to its gRPC stream; events arrive in order on an actor thread. */
    private final class Relay {
        private final ServerCallStreamObserver<GenerateResponse> call;
        private final long start;
        private final AtomicReference<ActorRef<RequestStream.Command>> stream = new AtomicReference<>();
        private volatile boolean cancelled;
        private boolean closed;
        private long firstToken;
        private long lastToken;

        Relay(ServerCallStreamObserver<GenerateResponse> call, long start) {
            this.call = call;
            this.start = start;
        }

        void started(ActorRef<RequestStream.Command> ref) {
            stream.set(ref);
            if (cancelled) ref.tell(RequestStream.Cancel.INSTANCE);
        }

        void cancel() {
            cancelled = true;
            ActorRef<RequestStream.Command> ref = stream.get();
            if (ref != null) ref.tell(RequestStream.Cancel.INSTANCE);
        }

        synchronized void fail(RuntimeException status) {
            if (closed || cancelled) return;
            closed = true;
            metrics.failed(GrpcErrors.toStatus(status).getStatus().getCode().name());
            call.onError(status);
        }

        synchronized void onEvent(StreamEvent event) {
            if (closed || cancelled) return;
            long now = System.nanoTime();
            switch (event) {
                case StreamEvent.Tokens t -> {
                    if (t.ids().length > 0) {
                        if (firstToken == 0) {
                            firstToken = now;
                            metrics.firstToken(now - start);
                        } else {
                            metrics.interToken(now - lastToken);
                        }
                        lastToken = now;
                    }
                    Delta.Builder d = Delta.newBuilder().setText(t.text());
                    for (int i = 0; i < t.ids().length; i++) {
                        d.addTokenIds(t.ids()[i]);
                        if (t.logprobs() != null) {
                            TokenLogprob.Builder lp = TokenLogprob.newBuilder().setTokenId(t.ids()[i]).setLogprob(t.logprobs()[i]);
                            for (int j = 0; j < t.topIds()[i].length; j++) {
                                lp.addTop(TopLogprob.newBuilder().setTokenId(t.topIds()[i][j]).setLogprob(t.topLogprobs()[i][j]));
                            }
                            d.addLogprobs(lp);
                        }
                    }
                    call.onNext(GenerateResponse.newBuilder().setDelta(d).build());
                }
                case StreamEvent.Finished f -> {
                    closed = true;
                    metrics.finished(f, start, firstToken, now);
                    call.onNext(GenerateResponse.newBuilder().setFinal(finalMessage(f, now)).build());
                    call.onCompleted();
                }
                case StreamEvent.Failed f -> {
                    closed = true;
                    metrics.failed(f.status());
                    call.onError(GrpcErrors.toStatus(f));
                }
            }
        }

        private Final finalMessage(StreamEvent.Finished f, long now) {
            SpeculationStats.Builder s = SpeculationStats.newBuilder().setDrafter(f.drafter()).setRounds(f.rounds())
                    .setDraftedTokens(f.drafted()).setAcceptedTokens(f.accepted())
                    .setAcceptanceRate(f.drafted() == 0 ? 0 : (double) f.accepted() / f.drafted())
                    .setTargetForwards(f.targetForwards())
                    .setTokensPerTargetForward(f.targetForwards() == 0 ? 0 : (double) f.completionTokens() / f.targetForwards());
            long[] drafted = f.draftedAtPosition();
            long[] accepted = f.acceptedAtPosition();
            for (int i = 0; drafted != null && i < drafted.length; i++) {
                s.addAcceptanceByPosition(drafted[i] == 0 ? 0 : (double) accepted[i] / drafted[i]);
            }
            return Final.newBuilder()
                    .setFinishReason(switch (f.finishReason()) {
                        case "LENGTH" -> FinishReason.FINISH_REASON_LENGTH;
                        case "EOS" -> FinishReason.FINISH_REASON_EOS;
                        case "STOP_TOKEN" -> FinishReason.FINISH_REASON_STOP_TOKEN;
                        case "STOP_STRING" -> FinishReason.FINISH_REASON_STOP_STRING;
                        default -> FinishReason.FINISH_REASON_UNSPECIFIED;
                    })
                    .setTextTail(f.trailingText())
                    .setUsage(Usage.newBuilder().setPromptTokens(f.promptTokens()).setCompletionTokens(f.completionTokens()))
                    .setTimeToFirstTokenSeconds(firstToken == 0 ? 0 : (firstToken - start) / 1e9)
                    .setE2ESeconds((now - start) / 1e9)
                    .setSpeculation(s)
                    .setModel(models.name())
                    .setReplica(f.replica())
                    .build();
        }
    }

    @Override
    public void tokenize(TokenizeRequest request, StreamObserver<TokenizeResponse> responses) {
        try {
            models.check(request.getModel());
            if (request.getText().length() > RequestMapper.MAX_PROMPT_CHARS) {
                throw new IllegalArgumentException("text longer than " + RequestMapper.MAX_PROMPT_CHARS + " characters");
            }
            Coordinator.Tokenized t = node.tokenize(request.getText(), request.getAddBos(), request.getParseSpecial())
                    .toCompletableFuture().get(10, TimeUnit.SECONDS);
            if (t.error() != null) throw new IllegalArgumentException(t.error());
            TokenizeResponse.Builder b = TokenizeResponse.newBuilder().addAllPieces(t.pieces());
            for (int id : t.ids()) b.addTokenIds(id);
            responses.onNext(b.build());
            responses.onCompleted();
        } catch (Exception e) {
            responses.onError(GrpcErrors.toStatus(e));
        }
    }

    @Override
    public void listModels(ListModelsRequest request, StreamObserver<ListModelsResponse> responses) {
        try {
            Coordinator.ModelDescription d = models.description();
            int replicas = node.replicas().toCompletableFuture().get(10, TimeUnit.SECONDS).size();
            responses.onNext(ListModelsResponse.newBuilder().addModels(ModelCard.newBuilder().setName(d.name())
                    .setArchitecture(d.architecture()).setVocabSize(d.vocabSize())
                    .setMaxSequenceLength(d.maxSequenceLength()).setReplicas(replicas).addAllDrafters(d.drafters())).build());
            responses.onCompleted();
        } catch (Exception e) {
            responses.onError(GrpcErrors.toStatus(e));
        }
    }
}
