package io.specdec.cli;

import io.specdec.core.model.ModelFormatException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code specdec} command. */
@Command(name = "specdec", mixinStandardHelpOptions = true, version = "specdec 0.1.0",
        description = "Lossless speculative decoding for Llama-family models.",
        subcommands = {GenerateCommand.class, ServeCommand.class, AdminCommand.class, TokenizeCommand.class,
                DetokenizeCommand.class, BenchCommand.class, PlotCommand.class, LoadTestCommand.class,
                CommandLine.HelpCommand.class})
public final class Main {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (0 ok, 1 usage error, 2 bad input or file). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            // Problems with the user's input or files are reported in one line; anything else keeps its stack trace.
            if (e instanceof ModelFormatException || e instanceof IllegalArgumentException
                    || e instanceof java.io.UncheckedIOException || e instanceof java.io.IOException
                    || e.getClass().getSimpleName().endsWith("FormatException")) {
                commandLine.getErr().println("specdec: " + e.getMessage());
                return 2;
            }
            throw e;
        });
        return cli.execute(args);
    }
}
