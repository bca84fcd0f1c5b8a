package io.specdec.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** Bar chart (PNG) of `bench --json` files: prompt processing, generation, speculative generation and the floor. */
@Command(name = "plot", mixinStandardHelpOptions = true, description = "Plot bench JSON results as a PNG bar chart.")
final class PlotCommand implements Callable<Integer> {
    @Parameters(paramLabel = "JSON", arity = "1..*", description = "Files written by bench --json.")
    List<Path> inputs;

    @Option(names = "--out", required = true, paramLabel = "PNG", description = "Image to write.")
    Path out;

    @Option(names = "--title", defaultValue = "specdec bench", description = "Chart title.")
    String title;

    @Override public Integer call() throws Exception {
        ObjectMapper json = new ObjectMapper();
        List<String> labels = new ArrayList<>();
        List<Double> pp = new ArrayList<>(), tg = new ArrayList<>(), spec = new ArrayList<>(), floor = new ArrayList<>();
        for (Path p : inputs) {
            JsonNode j = json.readTree(p.toFile());
            labels.add(p.getFileName().toString().replaceFirst("\\.json$", ""));
            pp.add(first(j, "pp"));
            tg.add(firstExact(j, "tg", false));
            spec.add(firstExact(j, "tg", true));
            JsonNode f = j.path("floor").path("decode_floor_tokens_per_second");
            floor.add(f.isNumber() ? f.asDouble() : 0); // absent or "not measured" for cache-resident models
        }
        CategoryChart chart = new CategoryChartBuilder().width(1200).height(600).title(title)
                .xAxisTitle("configuration").yAxisTitle("tokens / s").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW);
        chart.getStyler().setXAxisLabelRotation(20);
        chart.addSeries("prompt processing", labels, pp);
        chart.addSeries("generation", labels, tg);
        if (spec.stream().anyMatch(x -> x > 0)) chart.addSeries("generation, speculative", labels, spec);
        if (floor.stream().anyMatch(x -> x > 0)) chart.addSeries("decode floor (weights / stream bandwidth)", labels, floor);
        BitmapEncoder.saveBitmap(chart, out.toString().replaceFirst("\\.png$", ""), BitmapEncoder.BitmapFormat.PNG);
        System.err.println("wrote " + out);
        return 0;
    }

    private static double first(JsonNode j, String prefix) {
        for (var it = j.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (k.startsWith(prefix) && j.get(k).has("tokens_per_second_mean")) return j.get(k).get("tokens_per_second_mean").asDouble();
        }
        return 0;
    }

    private static double firstExact(JsonNode j, String prefix, boolean speculative) {
        for (var it = j.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (k.startsWith(prefix) && k.endsWith("_speculative") == speculative && j.get(k).has("tokens_per_second_mean")) {
                return j.get(k).get("tokens_per_second_mean").asDouble();
            }
        }
        return 0;
    }
}
