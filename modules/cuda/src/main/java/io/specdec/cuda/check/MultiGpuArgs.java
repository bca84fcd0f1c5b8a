package io.specdec.cuda.check;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Command line of {@link MultiGpuCheck}:
 * <pre>
 *   --out DIR            where the JSON results go (required)
 *   --stages a,b,c,d,e   a: TP=N vs TP=1 logits, b: 70B-shape TP decode vs HBM floor, c: speculative decoding with a
 *                        1B-shape draft on one GPU, d: EasySpec drafting over the GPUs (on one GPU: the draft step
 *                        behind the layer-parallel machinery vs the plain step), e: c and d with an 8B-shape
 *                        draft, f: CARD (1B-shape draft on GPU 0 overlapping an 8B-shape target on the last GPU)
 *                        vs standard speculative decoding on the same GPUs, g: the GPU-resident chain round (draft ids
 *                        by NCCL broadcast) vs the host path, greedy and sampled, TpChainCheck, only when named;
 *                        "all" = a..f (default a,b,c,d)
 *   --gpus N             GPUs to use (default: all the driver sees)
 *   --time-limit S       seconds per stage (default 240)
 *   --configs DIR        folder with llama-3-70b/, llama-3-8b/, llama-3.2-1b/ config.json (default bench/gpu)
 *   --prompt P --new-tokens T    decode lengths (default 128, 256)
 *   --gammas 3,4,...     γ values of stage c (default 3..8); --alphas 0.6,0.8,0.9 injected acceptance rates
 *   --sizes 2,4          EasySpec layer-parallel sizes (default 2, and 4 when N >= 4; none on one GPU)
 *   --edge E             EasySpec layers kept alone at each end of the draft (default 1)
 *   --graphs on|off|both CUDA graphs for the tensor-parallel target (stage b measures each; c/d use the first)
 * </pre>
 */
public record MultiGpuArgs(Path out, List<String> stages, int gpus, int timeLimitSeconds, Path configs, int prompt,
                           int newTokens, int[] gammas, double[] alphas, int[] sizes, int edge, List<Boolean> graphs) {

    public static final List<String> ALL_STAGES = List.of("a", "b", "c", "d", "e", "f");
    /** Every stage, in run order; g (the held chain round, bench/gpu/tp-chain.sh) only when named. */
    static final List<String> KNOWN_STAGES = List.of("a", "b", "c", "d", "e", "f", "g");

    /** @param visibleGpus GPUs the driver sees (the default for --gpus and for the default sizes) */
    public static MultiGpuArgs parse(String[] args, int visibleGpus) {
        return parse(args, visibleGpus, false);
    }

    /** @param ranksShareGpus --gpus may exceed the GPUs the driver sees (ranks share GPUs: a test mode) */
    public static MultiGpuArgs parse(String[] args, int visibleGpus, boolean ranksShareGpus) {
        Path out = null, configs = Path.of("bench/gpu");
        List<String> stages = List.of("a", "b", "c", "d");
        int gpus = visibleGpus, limit = 240, prompt = 128, newTokens = 256, edge = 1;
        int[] gammas = {3, 4, 5, 6, 7, 8}, sizes = null;
        double[] alphas = {0.6, 0.8, 0.9};
        List<Boolean> graphs = List.of(true, false);
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            if (!flag.startsWith("--")) throw new IllegalArgumentException("unexpected argument '" + flag + "' (flags start with --)");
            if (i + 1 >= args.length) throw new IllegalArgumentException(flag + " needs a value");
            String v = args[++i];
            switch (flag) {
                case "--out" -> out = Path.of(v);
                case "--stages" -> stages = stages(v);
                case "--gpus" -> gpus = positive(flag, v);
                case "--time-limit" -> limit = positive(flag, v);
                case "--configs" -> configs = Path.of(v);
                case "--prompt" -> prompt = positive(flag, v);
                case "--new-tokens" -> newTokens = positive(flag, v);
                case "--gammas" -> gammas = ints(flag, v);
                case "--alphas" -> alphas = alphas(v);
                case "--sizes" -> sizes = ints(flag, v);
                case "--edge" -> edge = Integer.parseInt(v);
                case "--graphs" -> graphs = switch (v) {
                    case "on" -> List.of(true);
                    case "off" -> List.of(false);
                    case "both" -> List.of(true, false);
                    default -> throw new IllegalArgumentException("--graphs takes on, off or both, not '" + v + "'");
                };
                default -> throw new IllegalArgumentException("unknown flag " + flag);
            }
        }
        if (out == null) throw new IllegalArgumentException("--out DIR is required (the JSON results go there)");
        if (gpus > visibleGpus && !ranksShareGpus) throw new IllegalArgumentException("--gpus " + gpus + " but the driver sees " + visibleGpus);
        if (sizes == null) sizes = gpus >= 4 ? new int[]{2, 4} : gpus >= 2 ? new int[]{2} : new int[0];
        for (int s : sizes) {
            if (s < 2 || s > gpus) throw new IllegalArgumentException("EasySpec size " + s + " needs 2.." + gpus + " GPUs");
        }
        for (int g : gammas) {
            if (g > 15) throw new IllegalArgumentException("γ " + g + " > 15 (verify forwards of up to 16 tokens run the decode kernels)");
        }
        if (edge < 0) throw new IllegalArgumentException("--edge must be >= 0");
        return new MultiGpuArgs(out, stages, gpus, limit, configs, prompt, newTokens, gammas, alphas, sizes, edge, graphs);
    }

    private static List<String> stages(String v) {
        if (v.equals("all")) return ALL_STAGES;
        Set<String> s = new LinkedHashSet<>();
        for (String p : v.split(",")) {
            String t = p.trim().toLowerCase(Locale.ROOT);
            if (!KNOWN_STAGES.contains(t)) throw new IllegalArgumentException("unknown stage '" + t + "' (stages: a,b,c,d,e,f,g or all)");
            s.add(t);
        }
        List<String> ordered = new ArrayList<>(KNOWN_STAGES);
        ordered.retainAll(s);
        return List.copyOf(ordered);
    }

    private static int positive(String flag, String v) {
        int n;
        try {
            n = Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " needs a number, not '" + v + "'");
        }
        if (n <= 0) throw new IllegalArgumentException(flag + " must be positive, not " + n);
        return n;
    }

    private static int[] ints(String flag, String v) {
        String[] p = v.split(",");
        int[] out = new int[p.length];
        for (int i = 0; i < p.length; i++) out[i] = positive(flag, p[i]);
        return out;
    }

    private static double[] alphas(String v) {
        String[] p = v.split(",");
        double[] out = new double[p.length];
        for (int i = 0; i < p.length; i++) {
            out[i] = Double.parseDouble(p[i].trim());
            if (!(out[i] > 0 && out[i] < 1)) throw new IllegalArgumentException("α must lie in (0, 1): " + p[i]);
        }
        return out;
    }

    public boolean runs(String stage) { return stages.contains(stage); }
}
