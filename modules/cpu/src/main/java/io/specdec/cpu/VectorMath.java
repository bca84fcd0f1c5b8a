package io.specdec.cpu;

import io.specdec.core.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/** Small vector kernels of the forward pass over float arrays. */
final class VectorMath {
    private static final VectorSpecies<Float> F = WeightRows.F;
    private static final int L = WeightRows.L;

    private VectorMath() {
    }

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i <= n - L; i += L) acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
        float s = sum(acc);
        for (; i < n; i++) s += a[ao + i] * b[bo + i];
        return s;
    }

    /** Lane i swapped with lane i ^ d: the steps of {@link #sum}'s fixed reduction tree (null where d >= L). */
    private static final VectorShuffle<Float> XOR1 = swap(1), XOR2 = swap(2), XOR4 = swap(4), XOR8 = swap(8);

    private static VectorShuffle<Float> swap(int d) {
        return d < L ? VectorShuffle.fromOp(F, i -> i ^ d) : null;
    }

    /**
     * The sum of {@code v}'s lanes by a fixed tree (lane i plus lane i ^ L/2, then i ^ L/4, ...). Not
     * {@code reduceLanes(ADD)}: its order is unspecified and differs between the interpreter and C2 (the same call gave
     * other bits once compiled), and replicas that must agree bit for bit (a group's ranks, each running its own draft
     * replica) may run either at the same moment. Lane-wise adds and constant shuffles compute alike in both, at about
     * the cost of the compiled reduceLanes.
     */
    static float sum(FloatVector v) {
        if (L > 16) return sumInLaneOrder(v);
        if (L == 16) v = v.add(v.rearrange(XOR8));
        if (L >= 8) v = v.add(v.rearrange(XOR4));
        if (L >= 4) v = v.add(v.rearrange(XOR2));
        if (L >= 2) v = v.add(v.rearrange(XOR1));
        return v.lane(0);
    }

    private static float sumInLaneOrder(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < v.length(); i++) s += v.lane(i);
        return s;
    }

    /** out[o..o+n) += s * v[vo..vo+n) */
    static void addScaled(float[] out, int o, float[] v, int vo, float s, int n) {
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector.fromArray(F, v, vo + i).fma(FloatVector.broadcast(F, s), FloatVector.fromArray(F, out, o + i)).intoArray(out, o + i);
        }
        for (; i < n; i++) out[o + i] += s * v[vo + i];
    }

    /** out[o..o+n) = x[xo..xo+n) * weight / rms(x) */
    static void rmsNorm(float[] out, int o, float[] x, int xo, Tensor weight, int n, float eps) {
        float ss = dot(x, xo, x, xo, n);
        float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
        for (int i = 0; i < n; i++) out[o + i] = weight.get(i) * (scale * x[xo + i]);
    }

    static void add(float[] acc, float[] x, int n) {
        int i = 0;
        for (; i <= n - L; i += L) FloatVector.fromArray(F, acc, i).add(FloatVector.fromArray(F, x, i)).intoArray(acc, i);
        for (; i < n; i++) acc[i] += x[i];
    }
}
