package io.specdec.server;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.SpecdecNode;
import io.specdec.cluster.StreamEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Prometheus metrics under vLLM's names where vLLM has one (so its dashboards and autoscalers work), plus
 * {@code specdec_cluster_*}. Request timings are measured at this frontend; queue, batch and KV gauges are summed
 * over the replicas this node can see. Its own registry: no global state.
 */
public final class ServingMetrics {
    private static final double[] LATENCY_BUCKETS = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
            1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final String model;
    private final Histogram ttft;
    private final Histogram interToken;
    private final Histogram timePerOutputToken;
    private final Histogram e2e;
    private final Counter promptTokens;
    private final Counter generationTokens;
    private final Counter success;
    private final Counter failures;
    private final Counter drafts;
    private final Counter draftTokens;
    private final Counter acceptedTokens;
    private final Counter acceptedPerPosition;
    private volatile List<Coordinator.Load> loads = List.of();

    public ServingMetrics(SpecdecNode node, String model) {
        this.model = model;
        ttft = Histogram.builder().name("vllm:time_to_first_token_seconds").help("Time to first token.")
                .labelNames("model_name").classicUpperBounds(LATENCY_BUCKETS).register(registry);
        interToken = Histogram.builder().name("vllm:inter_token_latency_seconds").help("Time between streamed tokens.")
                .labelNames("model_name").classicUpperBounds(LATENCY_BUCKETS).register(registry);
        timePerOutputToken = Histogram.builder().name("vllm:time_per_output_token_seconds")
                .help("Per request: decode time over output tokens after the first.")
                .labelNames("model_name").classicUpperBounds(LATENCY_BUCKETS).register(registry);
        e2e = Histogram.builder().name("vllm:e2e_request_latency_seconds").help("End-to-end request latency.")
                .labelNames("model_name").classicUpperBounds(LATENCY_BUCKETS).register(registry);
        promptTokens = Counter.builder().name("vllm:prompt_tokens_total").help("Prefill tokens processed.")
                .labelNames("model_name").register(registry);
        generationTokens = Counter.builder().name("vllm:generation_tokens_total").help("Generated tokens.")
                .labelNames("model_name").register(registry);
        success = Counter.builder().name("vllm:request_success_total").help("Finished requests by finish reason.")
                .labelNames("model_name", "finished_reason").register(registry);
        failures = Counter.builder().name("specdec_request_failures_total").help("Requests that ended with an error status.")
                .labelNames("model_name", "code").register(registry);
        drafts = Counter.builder().name("vllm:spec_decode_num_drafts_total").help("Speculative rounds (drafts verified).")
                .labelNames("model_name").register(registry);
        draftTokens = Counter.builder().name("vllm:spec_decode_num_draft_tokens_total").help("Draft tokens proposed.")
                .labelNames("model_name").register(registry);
        acceptedTokens = Counter.builder().name("vllm:spec_decode_num_accepted_tokens_total").help("Draft tokens accepted.")
                .labelNames("model_name").register(registry);
        acceptedPerPosition = Counter.builder().name("vllm:spec_decode_num_accepted_tokens_per_pos_total")
                .help("Draft tokens accepted, per draft position (0-based).")
                .labelNames("model_name", "position").register(registry);
        GaugeWithCallback.builder().name("vllm:num_requests_running").help("Requests in a running batch.")
                .labelNames("model_name")
                .callback(cb -> cb.call(loads.stream().mapToInt(Coordinator.Load::running).sum(), model)).register(registry);
        GaugeWithCallback.builder().name("vllm:num_requests_waiting").help("Requests waiting for admission.")
                .labelNames("model_name")
                .callback(cb -> cb.call(loads.stream().mapToInt(Coordinator.Load::waiting).sum(), model)).register(registry);
        GaugeWithCallback.builder().name("vllm:kv_cache_usage_perc").help("Fraction of KV cache blocks in use (0..1).")
                .labelNames("model_name")
                .callback(cb -> {
                    long used = loads.stream().mapToLong(Coordinator.Load::kvBlocksUsed).sum();
                    long total = loads.stream().mapToLong(Coordinator.Load::kvBlocksTotal).sum();
                    cb.call(total == 0 ? 0 : (double) used / total, model);
                }).register(registry);
        GaugeWithCallback.builder().name("specdec_cluster_members").help("Cluster members by status.")
                .labelNames("status")
                .callback(cb -> {
                    for (MemberStatus s : List.of(MemberStatus.up(), MemberStatus.joining(), MemberStatus.leaving(),
                            MemberStatus.exiting(), MemberStatus.down())) {
                        long n = 0;
                        for (Member m : node.cluster().state().getMembers()) if (m.status().equals(s)) n++;
                        cb.call(n, s.toString());
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("specdec_cluster_unreachable_members").help("Members this node sees as unreachable.")
                .callback(cb -> cb.call(node.cluster().state().getUnreachable().size())).register(registry);
        GaugeWithCallback.builder().name("specdec_cluster_replicas").help("Model replicas serving, as this frontend sees them.")
                .callback(cb -> cb.call(loads.size())).register(registry);
    }

    public PrometheusRegistry registry() { return registry; }

    /** Refreshed by the server every second from the replicas' loads. */
    public void updateLoads(List<Coordinator.Load> loads) { this.loads = List.copyOf(loads); }

    public void firstToken(long sinceStartNanos) { ttft.labelValues(model).observe(sinceStartNanos / 1e9); }

    public void interToken(long nanos) { interToken.labelValues(model).observe(nanos / 1e9); }

    public void finished(StreamEvent.Finished f, long startNanos, long firstTokenNanos, long endNanos) {
        e2e.labelValues(model).observe((endNanos - startNanos) / 1e9);
        if (f.completionTokens() > 1 && firstTokenNanos > 0) {
            timePerOutputToken.labelValues(model).observe((endNanos - firstTokenNanos) / 1e9 / (f.completionTokens() - 1));
        }
        promptTokens.labelValues(model).inc(f.promptTokens());
        generationTokens.labelValues(model).inc(f.completionTokens());
        success.labelValues(model, f.finishReason().toLowerCase()).inc();
        drafts.labelValues(model).inc(f.rounds());
        draftTokens.labelValues(model).inc(f.drafted());
        acceptedTokens.labelValues(model).inc(f.accepted());
        long[] at = f.acceptedAtPosition();
        for (int i = 0; at != null && i < at.length; i++) if (at[i] > 0) acceptedPerPosition.labelValues(model, Integer.toString(i)).inc(at[i]);
    }

    public void failed(String code) { failures.labelValues(model, code).inc(); }

    static long nanos(long millis) { return TimeUnit.MILLISECONDS.toNanos(millis); }
}
