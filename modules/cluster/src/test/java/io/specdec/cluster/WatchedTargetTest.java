package io.specdec.cluster;

import io.specdec.core.backend.LanguageModel;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The replica's engine sees its target through a wrapper that remembers failed forwards. Every default method of
 * {@link LanguageModel} that the batch engine calls on its target must pass through it: a default left in place
 * silently takes the host path (the served GPU paths of held draft logits and held chain rounds were switched off
 * that way once). Methods only drafts receive, and convenience overloads, are listed as not forwarded. The group
 * ranks' draft wrapper likewise passes held rounds on.
 */
class WatchedTargetTest {
    /** Defaults the engine never calls on its target (a draft's calls, one-request or host-side helpers). */
    static final Set<String> NOT_FORWARDED = Set.of("forward(SequenceInput)", "forwardSampledHolding(SequenceInput,SamplingParams,double,HeldLogits,int)",
            "forwardSampledHolding(List,SamplingParams,double[],List,int[])", "draftHeldChain(List,SamplingParams,double[],HeldChain)",
            "draftHeldChains(List)", "verifyHeld(SequenceInput,int[],HeldLogits,SamplingParams,Sampler)",
            "verifyHeldChain(SequenceInput,HeldChain,SamplingParams,Sampler)",
            // asked of drafts only (a target recognising the draft beside it); the watched target stays watched
            "unwrapped()");

    @Test
    void everyDefaultTheEngineCallsOnItsTargetIsForwarded() throws Exception {
        Class<?> watched = Class.forName("io.specdec.cluster.ReplicaEngine$Watched");
        Set<String> overridden = Arrays.stream(watched.getDeclaredMethods()).map(WatchedTargetTest::signature).collect(Collectors.toSet());
        Set<String> defaults = Arrays.stream(LanguageModel.class.getMethods()).filter(Method::isDefault).map(WatchedTargetTest::signature)
                .collect(Collectors.toSet());
        assertThat(NOT_FORWARDED).as("the list names real defaults").isSubsetOf(defaults);
        for (String d : defaults) {
            if (!NOT_FORWARDED.contains(d)) assertThat(overridden).as("forwarded by the wrapper").contains(d);
        }
    }

    /** A group rank's draft wrapper must pass held rounds on (and say what it wraps), or ranks never hold them. */
    @Test
    void theWatchedDraftPassesHeldRoundsOn() throws Exception {
        Set<String> overridden = Arrays.stream(WatchedDraft.class.getDeclaredMethods()).map(WatchedTargetTest::signature)
                .collect(Collectors.toSet());
        assertThat(overridden).contains("draftHeldChains(List)", "draftHeldChains(List,boolean[])", "unwrapped()");
    }

    static String signature(Method m) {
        return m.getName() + Arrays.stream(m.getParameterTypes()).map(Class::getSimpleName).collect(Collectors.joining(",", "(", ")"));
    }
}
