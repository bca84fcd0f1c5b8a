package io.specdec.cpu;

import io.specdec.core.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
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
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += a[ao + i] * b[bo + i];
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
