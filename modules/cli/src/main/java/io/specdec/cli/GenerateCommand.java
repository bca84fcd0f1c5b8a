package io.specdec.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.specdec.core.generate.FinishReason;
import io.specdec.core.generate.GenerationResult;
import io.specdec.core.generate.Generator;
import io.specdec.core.generate.TokenListener;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.AdaptiveGamma;
import io.specdec.core.parallel.EasySpecDraftModel;
import io.specdec.core.speculative.CardDrafter;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.SpeculationStats;
import io.specdec.core.tokenizer.ChatMessage;
import io.specdec.core.tokenizer.ChatTemplate;
import io.specdec.core.tokenizer.StreamingDetokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** Generates a continuation, speculatively by default, streaming only the new text to stdout. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text from a prompt (speculative decoding by default; lossless).")
final class GenerateCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Mixin ModelOptions model;

    @Mixin SamplingOptions sampling;

    @Mixin DraftModeOptions draftMode;

    @Mixin RandomWeightsOption randomWeights;

    @Option(names = "--prompt", paramLabel = "TEXT", defaultValue = "",
            description = "Prompt text; empty starts from BOS (default: empty).")
    String prompt;

    @Option(names = "--chat", description = "Wrap the prompt as a user message in the model's chat template.")
    boolean chat;

    @Option(names = "--draft", paramLabel = "PATH|ngram[:MIN-MAX]|layers:N|random:CONFIG.json",
            description = "Drafter: a draft model sharing the target's tokenizer, the model-free prompt-lookup "
                    + "drafter, the target's first N layers, or (benchmarks) a draft of that config with seeded random "
                    + "weights. Default: the default model's draft; ngram for other models.")
    String draft;

    @Option(names = "--gamma", paramLabel = "G|auto", defaultValue = "4",
            description = "Draft tokens per round, or 'auto' to adapt it to the measured acceptance (default: ${DEFAULT-VALUE}).")
    String gamma;

    @Option(names = "--tree-width", paramLabel = "W", defaultValue = "1",
            description = "With a model draft: verify a tree with W children per node and depth G (default: 1 = chain).")
    int treeWidth;

    @Option(names = "--no-speculation", description = "Plain decoding with the target only.")
    boolean noSpeculation;

    @Option(names = "--json", description = "Print one JSON object of statistics as the last line of stdout.")
    boolean json;

    @Option(names = "--server", paramLabel = "HOST:PORT",
            description = "Generate on a specdec server over gRPC instead of in this process (streams the same way).")
    String server;

    @Override public Integer call() throws Exception {
        if (server != null) return remote();
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        PrintStream err = new PrintStream(System.err, true, StandardCharsets.UTF_8);
        SamplingParams params = sampling.toParams();
        try (Engine engine = Engine.open(model, randomWeights, err)) {
            int[] promptIds = promptIds(engine);
            String drafterSpec = noSpeculation ? null
                    : (draft != null ? draft : Defaults.draft(model.model == null && !randomWeights.enabled()));
            GammaPolicy gammaPolicy = gammaPolicy();
            int treeDepth = gammaPolicy.next();
            Drafter drafter = drafterSpec == null ? null : engine.drafter(drafterSpec, treeWidth, treeDepth, draftMode, err);
            Generator generator = new Generator(engine.targetModel, drafter, drafter == null ? null : gammaPolicy);

            StreamingDetokenizer detokenizer = engine.tokenizer.newStreamingDetokenizer(promptIds.length <= 1);
            long[] firstTokenNanos = {0};
            long start = System.nanoTime();
            TokenListener listener = new TokenListener() {
                @Override public void onToken(int token, String text) {
                    if (firstTokenNanos[0] == 0) firstTokenNanos[0] = System.nanoTime();
                    out.print(text);
                    out.flush();
                }

                @Override public void onFinish(FinishReason reason, String trailingText) {
                    out.print(trailingText);
                    out.flush();
                }
            };
            GenerationResult result = generator.generate(promptIds, params, listener, detokenizer::push);
            long end = System.nanoTime();
            out.println();
            if (drafter != null) drafter.close();
            SpeculationStats stats = result.stats();
            if (json) {
                Map<String, Object> j = statistics(result, promptIds.length, drafterSpec, gammaPolicy, start, firstTokenNanos[0], end);
                j.put("tensor_parallel", model.tensorParallel());
                j.put("draft_mode", drafter == null ? null : draftMode.mode().name().toLowerCase());
                if (drafter instanceof ModelDrafter md && md.model() instanceof EasySpecDraftModel easy) {
                    j.put("layer_groups", easy.model().plan().toString());
                    j.put("draft_devices", easy.model().replicas());
                    j.put("calibration", easy.policy().name().toLowerCase());
                    j.put("easyspec", easy.stats());
                }
                if (drafter instanceof CardDrafter card) j.put("card", card.stats());
                j.remove("token_ids");
                j.put("token_ids", result.tokens());
                out.println(new ObjectMapper().writeValueAsString(j));
            } else {
                double seconds = (end - start) / 1e9;
                err.printf("%d tokens in %.2f s (%.1f tok/s)%s%n", result.tokens().length, seconds,
                        result.tokens().length / seconds,
                        drafter == null ? "" : String.format(", drafter %s: acceptance %.2f, %.2f tokens per target forward",
                                drafterSpec + (draftMode.mode() == DraftModeOptions.Mode.SEQUENTIAL ? "" : " (" + draftMode.mode().name().toLowerCase() + ")"),
                                stats.acceptanceRate(), stats.tokensPerTargetForward()));
            }
            return 0;
        }
    }

    /** Streams the continuation from a server: same options, same output (text, then the JSON line with --json). */
    private int remote() throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        RemoteOptions r = new RemoteOptions();
        r.server = server;
        SamplingParams p = sampling.toParams();
        io.specdec.api.v1.GenerateRequest.Builder req = io.specdec.api.v1.GenerateRequest.newBuilder()
                .setMaxTokens(p.maxTokens()).addAllStop(p.stopStrings()).addAllStopTokenIds(p.stopTokenIds())
                .setIgnoreEos(p.ignoreEos())
                .setSampling(io.specdec.api.v1.SamplingParams.newBuilder().setTemperature(p.temperature()).setTopK(p.topK())
                        .setTopP(p.topP()).setMinP(p.minP()).setRepetitionPenalty(p.repetitionPenalty())
                        .setPresencePenalty(p.presencePenalty()).setFrequencyPenalty(p.frequencyPenalty()));
        if (p.seed() != null) req.setSeed(p.seed());
        if (chat) {
            req.setChat(io.specdec.api.v1.ChatMessages.newBuilder().addMessages(
                    io.specdec.api.v1.ChatMessage.newBuilder().setRole("user").setContent(prompt)));
        } else {
            req.setText(prompt);
        }
        var spec = io.specdec.api.v1.SpeculationOverride.newBuilder();
        if (noSpeculation) {
            spec.setMode(io.specdec.api.v1.SpeculationOverride.Mode.MODE_OFF);
        } else if (draft != null || !gamma.equals("4")) {
            spec.setMode(io.specdec.api.v1.SpeculationOverride.Mode.MODE_ON);
            if (draft != null) spec.setDrafter(draft.startsWith("ngram") ? "ngram" : "model");
            if (!gamma.equals("auto")) spec.setGamma(Integer.parseInt(gamma));
        }
        req.setSpeculation(spec);
        io.grpc.ManagedChannel ch = r.channel();
        try {
            var it = io.specdec.api.v1.GenerationServiceGrpc.newBlockingStub(ch).generate(req.build());
            java.util.List<Integer> ids = new java.util.ArrayList<>();
            while (it.hasNext()) {
                var m = it.next();
                if (m.hasDelta()) {
                    out.print(m.getDelta().getText());
                    ids.addAll(m.getDelta().getTokenIdsList());
                } else {
                    var f = m.getFinal();
                    out.print(f.getTextTail());
                    out.println();
                    if (json) {
                        Map<String, Object> j = new LinkedHashMap<>();
                        j.put("prompt_tokens", f.getUsage().getPromptTokens());
                        j.put("generated_tokens", f.getUsage().getCompletionTokens());
                        j.put("finish_reason", f.getFinishReason().name().replace("FINISH_REASON_", "").toLowerCase());
                        j.put("seconds", round(f.getE2ESeconds()));
                        j.put("time_to_first_token_ms", round(f.getTimeToFirstTokenSeconds() * 1000));
                        j.put("drafter", f.getSpeculation().getDrafter());
                        j.put("drafted_tokens", f.getSpeculation().getDraftedTokens());
                        j.put("accepted_tokens", f.getSpeculation().getAcceptedTokens());
                        j.put("acceptance_rate", round(f.getSpeculation().getAcceptanceRate()));
                        j.put("acceptance_by_position", f.getSpeculation().getAcceptanceByPositionList());
                        j.put("tokens_per_target_forward", round(f.getSpeculation().getTokensPerTargetForward()));
                        j.put("replica", f.getReplica());
                        j.put("token_ids", ids);
                        out.println(new ObjectMapper().writeValueAsString(j));
                    }
                }
            }
            return 0;
        } catch (io.grpc.StatusRuntimeException e) {
            System.err.println("specdec: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            return e.getStatus().getCode() == io.grpc.Status.Code.INVALID_ARGUMENT ? 2 : 1;
        } finally {
            ch.shutdownNow();
        }
    }

    private GammaPolicy gammaPolicy() {
        if (gamma.equals("auto")) return AdaptiveGamma.standard();
        try {
            int g = Integer.parseInt(gamma);
            if (g < 1) throw new IllegalArgumentException("--gamma must be at least 1, got " + g);
            return GammaPolicy.fixed(g);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--gamma expects a number or 'auto', got " + gamma);
        }
    }

    private int[] promptIds(Engine engine) {
        String text = prompt;
        if (chat) {
            text = ChatTemplate.of(engine.tokenizer).render(List.of(ChatMessage.user(prompt)), true);
            return engine.tokenizer.encode(text, false, true);
        }
        if (text.isEmpty()) {
            int bos = engine.tokenizer.bosId() >= 0 ? engine.tokenizer.bosId() : engine.target.config().bosTokenId();
            if (bos < 0) throw new IllegalArgumentException("empty prompt but the tokenizer has no BOS token");
            return new int[]{bos};
        }
        int[] ids = engine.tokenizer.encode(text, engine.tokenizer.addBosByDefault(), false);
        if (ids.length == 0) throw new IllegalArgumentException("the prompt encodes to no tokens");
        return ids;
    }

    private Map<String, Object> statistics(GenerationResult result, int promptTokens, String drafterSpec,
                                           GammaPolicy gammaPolicy, long start, long firstToken, long end) {
        SpeculationStats s = result.stats();
        Map<String, Object> m = new LinkedHashMap<>();
        int generated = result.tokens().length;
        double seconds = (end - start) / 1e9;
        m.put("prompt_tokens", promptTokens);
        m.put("generated_tokens", generated);
        m.put("finish_reason", result.finishReason().toString().toLowerCase());
        m.put("seconds", round(seconds));
        m.put("tokens_per_second", round(generated / seconds));
        m.put("time_to_first_token_ms", firstToken == 0 ? null : round((firstToken - start) / 1e6));
        m.put("speculation", drafterSpec == null ? "off" : treeWidth > 1 ? "tree" : "chain");
        // a draft path is recorded relative to the specdec home when inside it (results carry no machine paths)
        String prefix = drafterSpec != null && drafterSpec.startsWith("random:") ? "random:" : "";
        m.put("drafter", drafterSpec == null || drafterSpec.startsWith("ngram") || drafterSpec.startsWith("layers:")
                ? drafterSpec : prefix + Defaults.display(java.nio.file.Path.of(drafterSpec.substring(prefix.length()))));
        m.put("gamma", drafterSpec == null ? null : gammaPolicy.toString());
        m.put("drafted_tokens", s.drafted());
        m.put("accepted_tokens", s.accepted());
        m.put("acceptance_rate", round(s.acceptanceRate()));
        // where sampled chain acceptance ran: "host", or "device-fused" (draft and target logits stayed on the GPU)
        m.put("acceptance", drafterSpec == null ? null : result.acceptance());
        // how draft ids reached the verifier: "host", or "device-nccl" (a held chain round: ids stayed on the GPUs)
        m.put("draft_tokens", drafterSpec == null ? null : result.draftTokens());
        double[] perPosition = s.acceptancePerPosition();
        int used = perPosition.length;
        while (used > 0 && s.draftedAtPosition()[used - 1] == 0) used--;
        double[] byPosition = new double[used];
        for (int i = 0; i < used; i++) byPosition[i] = round(perPosition[i]);
        m.put("acceptance_by_position", byPosition);
        m.put("target_forwards", s.targetForwards());
        m.put("tokens_per_target_forward", round(s.tokensPerTargetForward()));
        m.put("draft_ms", round(s.draftNanos() / 1e6));
        m.put("verify_ms", round(s.verifyNanos() / 1e6));
        m.put("token_ids", result.tokens());
        return m;
    }

    private static double round(double x) {
        return Math.round(x * 10000) / 10000.0;
    }
}
