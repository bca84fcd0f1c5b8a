package io.specdec.core.model;

/** RoPE frequency scaling as configured by HuggingFace's {@code rope_scaling}. */
public sealed interface RopeScaling {

    /** Inverse frequencies for the {@code headDim/2} rotated pairs, after scaling. */
    double[] inverseFrequencies(int headDim, double theta);

    static double[] plain(int headDim, double theta) {
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) inv[i] = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
        return inv;
    }

    record None() implements RopeScaling {
        @Override public double[] inverseFrequencies(int headDim, double theta) { return plain(headDim, theta); }
    }

    /** Position interpolation: positions divided by factor. */
    record Linear(double factor) implements RopeScaling {
        @Override public double[] inverseFrequencies(int headDim, double theta) {
            double[] inv = plain(headDim, theta);
            for (int i = 0; i < inv.length; i++) inv[i] /= factor;
            return inv;
        }
    }

    /** NTK-aware scaling: the base is stretched so high frequencies stay, low ones interpolate. */
    record Ntk(double factor) implements RopeScaling {
        @Override public double[] inverseFrequencies(int headDim, double theta) {
            double base = theta * Math.pow(factor, headDim / (headDim - 2.0));
            return plain(headDim, base);
        }
    }

    /** Llama 3.1 scaling: long wavelengths divided by factor, short ones kept, smooth blend between. */
    record Llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions)
            implements RopeScaling {
        @Override public double[] inverseFrequencies(int headDim, double theta) {
            double[] inv = plain(headDim, theta);
            double lowFreqWavelen = originalMaxPositions / lowFreqFactor;
            double highFreqWavelen = originalMaxPositions / highFreqFactor;
            for (int i = 0; i < inv.length; i++) {
                double wavelen = 2 * Math.PI / inv[i];
                if (wavelen < highFreqWavelen) continue;
                if (wavelen > lowFreqWavelen) {
                    inv[i] = inv[i] / factor;
                } else {
                    double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                    inv[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i];
                }
            }
            return inv;
        }
    }
}
