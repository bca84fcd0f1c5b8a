package io.specdec.cuda.check;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Results of a check program: one row per check (stage, check name, status, numbers), printed as a JSON line when
 * added and rewritten to {@code DIR/stage-X.json} at once, so a stage killed by its time limit still leaves what it
 * had measured. {@link #table} prints the compact summary.
 */
final class CheckResults {
    enum Status { PASS, FAIL, INFO, SKIP }

    private final Path dir;
    private final List<Map<String, Object>> rows = new ArrayList<>();
    private final ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    CheckResults(Path dir) throws IOException {
        this.dir = dir;
        Files.createDirectories(dir);
    }

    /** A row; {@code fields} alternate name, value. Non-finite doubles are written as null. */
    synchronized Map<String, Object> add(String stage, String check, Status status, Object... fields) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("stage", stage);
        row.put("check", check);
        row.put("status", status.name());
        for (int i = 0; i + 1 < fields.length; i += 2) {
            Object v = fields[i + 1];
            if (v instanceof Double d && !Double.isFinite(d)) v = null;
            if (v instanceof Float f && !Float.isFinite(f)) v = null;
            row.put(String.valueOf(fields[i]), v);
        }
        rows.add(row);
        try {
            System.out.println(new ObjectMapper().writeValueAsString(row));
            System.out.flush();
            write(stage);
        } catch (IOException e) {
            System.err.println("[multi-gpu check] cannot write results to " + dir + ": " + e);
        }
        return row;
    }

    Map<String, Object> fail(String stage, String check, Throwable e) {
        String message = String.valueOf(e);
        if (e.getCause() != null && e.getCause() != e) message += " / cause: " + e.getCause();
        System.out.println("FAILED " + stage + " " + check + ": " + message);
        e.printStackTrace(System.err);
        return add(stage, check, Status.FAIL, "error", message);
    }

    private void write(String stage) throws IOException {
        List<Map<String, Object>> mine = rows.stream().filter(r -> stage.equals(r.get("stage"))).toList();
        Path tmp = dir.resolve("stage-" + stage + ".json.tmp");
        json.writeValue(tmp.toFile(), mine);
        Files.move(tmp, dir.resolve("stage-" + stage + ".json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    synchronized List<Map<String, Object>> rows() {
        return List.copyOf(rows);
    }

    /** One line per row: status, stage, check, then the numbers. */
    synchronized String table() {
        StringBuilder b = new StringBuilder();
        for (Map<String, Object> r : rows) {
            b.append(String.format(Locale.ROOT, "%-4s %s %-26s", r.get("status"), r.get("stage"), r.get("check")));
            for (Map.Entry<String, Object> e : r.entrySet()) {
                if (List.of("stage", "check", "status", "device").contains(e.getKey())) continue;
                Object v = e.getValue();
                b.append(' ').append(e.getKey()).append('=');
                b.append(v instanceof Double d ? String.format(Locale.ROOT, "%.4g", d) : String.valueOf(v));
            }
            b.append('\n');
        }
        return b.toString();
    }

    void writeTable(String name) {
        try {
            Files.writeString(dir.resolve(name), table());
        } catch (IOException e) {
            System.err.println("[multi-gpu check] cannot write " + name + ": " + e);
        }
    }
}
