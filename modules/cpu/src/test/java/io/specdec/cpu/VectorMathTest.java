package io.specdec.cpu;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The lane sum every CPU dot product ends in gives the same bits before and after the JIT compiles it: the fixed tree
 * of {@link VectorMath#sum}, computed here in scalar code. (reduceLanes(ADD), which it replaces, gave other bits once
 * compiled, so two replicas of one draft could disagree depending on which ran compiled code.)
 */
class VectorMathTest {
    /** The tree in scalar floats: lane i plus lane i ^ L/2, then i ^ L/4, ..., lane 0 of the last level. */
    private static float tree(float[] lanes) {
        float[] v = lanes.clone();
        for (int d = v.length / 2; d >= 1; d /= 2) {
            float[] next = new float[v.length];
            for (int i = 0; i < v.length; i++) next[i] = v[i] + v[i ^ d];
            v = next;
        }
        return v[0];
    }

    /** A dot product as the kernels compute it: lane-wise fma over the vectors, then the lane sum. */
    private static float dot(float[] a, float[] b) {
        FloatVector acc = FloatVector.zero(WeightRows.F);
        for (int i = 0; i + WeightRows.L <= a.length; i += WeightRows.L) {
            acc = FloatVector.fromArray(WeightRows.F, a, i).fma(FloatVector.fromArray(WeightRows.F, b, i), acc);
        }
        return VectorMath.sum(acc);
    }

    /** The same in scalar code: each lane's fma chain, then the tree. */
    private static float scalarDot(float[] a, float[] b) {
        int lanes = WeightRows.L;
        float[] acc = new float[lanes];
        for (int i = 0; i + lanes <= a.length; i += lanes) {
            for (int j = 0; j < lanes; j++) acc[j] = Math.fma(a[i + j], b[i + j], acc[j]);
        }
        return tree(acc);
    }

    @Test
    void theLaneSumIsTheFixedTreeInterpretedAndCompiled() {
        SplittableRandom r = new SplittableRandom(3);
        float[][] a = new float[16][4096], b = new float[16][4096];
        for (int k = 0; k < a.length; k++) {
            for (int i = 0; i < a[k].length; i++) {
                a[k][i] = (float) r.nextGaussian();
                b[k][i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-2, 3)));
            }
        }
        float sink = 0;
        for (int round = 0; round < 3; round++) {   // first round interpreted; later ones after ~10^5 calls (compiled)
            for (int k = 0; k < a.length; k++) {
                assertThat(Float.floatToIntBits(dot(a[k], b[k]))).as("round %d, input %d", round, k)
                        .isEqualTo(Float.floatToIntBits(scalarDot(a[k], b[k])));
            }
            for (int it = 0; it < 100_000; it++) sink += dot(a[it & 15], b[it & 15]);
        }
        assertThat(sink).isNotNaN();
    }
}
