package io.specdec.cli;

import java.io.PrintStream;
import java.util.function.DoubleConsumer;

/** A one-line progress bar on stderr, drawn only when stderr is a terminal and the work takes a while. */
final class ProgressBar implements DoubleConsumer {
    private final PrintStream err;
    private final String label;
    private final long start = System.nanoTime();
    private final boolean enabled;
    private int lastPercent = -1;

    ProgressBar(PrintStream err, String label) {
        this.err = err;
        this.label = label;
        this.enabled = System.console() != null;
    }

    @Override public void accept(double fraction) {
        if (!enabled) return;
        int percent = (int) Math.round(Math.min(1, Math.max(0, fraction)) * 100);
        if (percent == lastPercent || System.nanoTime() - start < 300_000_000L && percent < 100) return;
        lastPercent = percent;
        int filled = percent * 30 / 100;
        err.print("\r" + label + " [" + "#".repeat(filled) + " ".repeat(30 - filled) + "] " + percent + "%");
        if (percent == 100) err.print("\r" + " ".repeat(label.length() + 40) + "\r");
        err.flush();
    }
}
