package io.specdec.core.sampling;

import java.util.List;

/**
 * Finds stop strings in streamed text, whatever the tokenizer. Text is fed in pieces; the matcher releases what can
 * no longer be part of a stop string and holds back a tail that could still be the start of one, so a streamed
 * client never sees a stop string or its beginning. Not thread-safe: one per request.
 */
public final class StopStringMatcher {
    private final List<String> stops;
    private final StringBuilder pending = new StringBuilder();
    private long released;
    private boolean stopped;

    public StopStringMatcher(List<String> stops) {
        for (String s : stops) {
            if (s == null || s.isEmpty()) throw new IllegalArgumentException("stop strings must be non-empty: " + stops);
        }
        this.stops = List.copyOf(stops);
    }

    /**
     * What feeding one more piece of text yields.
     *
     * @param text         text now safe to emit (never part of a stop string)
     * @param stopString   the stop string found, or null
     * @param stopPosition offset of the stop string in the whole text fed so far (where the output is cut), or -1
     */
    public record Match(String text, String stopString, long stopPosition) {
        public boolean stopped() { return stopString != null; }
    }

    /** Feeds a piece of text. After a stop has been reported, further text is ignored. */
    public Match append(String piece) {
        if (stopped) return new Match("", null, -1);
        pending.append(piece);
        int bestAt = -1;
        String best = null;
        for (String stop : stops) {
            int at = pending.indexOf(stop);
            if (at >= 0 && (bestAt < 0 || at < bestAt || (at == bestAt && stop.length() > best.length()))) {
                bestAt = at;
                best = stop;
            }
        }
        if (best != null) {
            stopped = true;
            String out = pending.substring(0, bestAt);
            long position = released + bestAt;
            released += bestAt;
            pending.setLength(0);
            return new Match(out, best, position);
        }
        int hold = longestHeldSuffix();
        String out = pending.substring(0, pending.length() - hold);
        pending.delete(0, pending.length() - hold);
        released += out.length();
        return new Match(out, null, -1);
    }

    /** At the end of generation without a stop: the held-back text, which turned out not to be a stop string. */
    public String flush() {
        if (stopped) return "";
        String out = pending.toString();
        released += out.length();
        pending.setLength(0);
        return out;
    }

    public boolean stopped() { return stopped; }

    /** Characters held back right now. */
    public int heldBack() { return pending.length(); }

    /** Length of the longest suffix of the pending text that is a proper prefix of some stop string. */
    private int longestHeldSuffix() {
        String text = pending.toString();
        int best = 0;
        for (String stop : stops) {
            int max = Math.min(stop.length() - 1, text.length());
            for (int n = max; n > best; n--) {
                if (text.regionMatches(text.length() - n, stop, 0, n)) {
                    best = n;
                    break;
                }
            }
        }
        return best;
    }
}
