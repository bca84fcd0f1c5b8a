package io.specdec.core.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * Loads a HuggingFace {@code tokenizer.json} (BPE models only), with the {@code tokenizer_config.json} and
 * {@code generation_config.json} beside it when present: they name BOS/EOS, add_bos_token and the chat template.
 */
public final class HuggingFaceTokenizerFile {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern BYTE_PIECE = Pattern.compile("<0x[0-9A-Fa-f]{2}>");

    private HuggingFaceTokenizerFile() {}

    public static BpeTokenizer load(Path tokenizerJson) {
        JsonNode root = readJson(tokenizerJson);
        JsonNode config = readOptionalJson(tokenizerJson.resolveSibling("tokenizer_config.json"));
        JsonNode generation = readOptionalJson(tokenizerJson.resolveSibling("generation_config.json"));
        String source = tokenizerJson.toString();

        JsonNode model = root.path("model");
        String modelType = model.path("type").asText("BPE");
        if (!modelType.equals("BPE")) {
            throw new TokenizerFormatException(source + ": model.type '" + modelType
                    + "' is not supported; only BPE tokenizers are");
        }
        BpeStyle style = style(root, model, source);
        Vocabulary vocabulary = vocabulary(root, model, style, source);
        MergeOrder merges = MergeOrder.ByRank.fromPairs(mergePairs(model.path("merges"), source), vocabulary, source);

        int bosId = tokenIdOf(config.path("bos_token"), vocabulary);
        int eosId = tokenIdOf(config.path("eos_token"), vocabulary);
        Set<Integer> eosIds = new LinkedHashSet<>();
        if (eosId >= 0) {
            eosIds.add(eosId);
        }
        forEachInt(generation.path("eos_token_id"), eosIds::add);
        boolean addBos = config.has("add_bos_token")
                ? config.get("add_bos_token").asBoolean()
                : bosId >= 0 && templatePrependsBos(root.path("post_processor"), vocabulary.piece(bosId));
        return new BpeTokenizer(vocabulary, merges, style,
                new BpeTokenizer.SpecialTokens(bosId, eosId, eosIds, addBos), chatTemplate(config.path("chat_template")));
    }

    private static BpeStyle style(JsonNode root, JsonNode model, String source) {
        List<JsonNode> pre = flatten(root.path("pre_tokenizer"), "pretokenizers");
        List<JsonNode> normalizers = flatten(root.path("normalizer"), "normalizers");
        List<JsonNode> decoders = flatten(root.path("decoder"), "decoders");
        boolean byteLevel = hasType(pre, "ByteLevel") || hasType(decoders, "ByteLevel");
        if (byteLevel) {
            Pattern split = null;
            for (JsonNode step : pre) {
                if (step.path("type").asText().equals("Split") && split == null) {
                    JsonNode pattern = step.path("pattern");
                    split = pattern.has("Regex")
                            ? PreTokenizerPattern.compile(pattern.get("Regex").asText())
                            : Pattern.compile(Pattern.quote(pattern.path("String").asText()));
                } else if (step.path("type").asText().equals("ByteLevel") && step.path("use_regex").asBoolean(true)
                        && split == null) {
                    split = PreTokenizerPattern.compile(PreTokenizerPattern.GPT2);
                }
            }
            if (split == null) {
                split = Pattern.compile("(?s).+"); // no splitting: the whole segment is one word
            }
            return new BpeStyle.ByteLevel(split, model.path("ignore_merges").asBoolean(false));
        }
        boolean prepend = normalizers.stream().anyMatch(n -> n.path("type").asText().equals("Prepend")
                && n.path("prepend").asText().equals("\u2581"));
        boolean replacesSpace = normalizers.stream().anyMatch(n -> n.path("type").asText().equals("Replace")
                && n.path("pattern").path("String").asText().equals(" "));
        for (JsonNode step : pre) {
            if (step.path("type").asText().equals("Metaspace")) {
                replacesSpace = true;
                String scheme = step.path("prepend_scheme").asText("");
                prepend |= step.path("add_prefix_space").asBoolean(false)
                        || scheme.equals("always") || scheme.equals("first");
            }
        }
        if (!replacesSpace) {
            throw new TokenizerFormatException(source + ": neither a ByteLevel pre-tokenizer nor a SentencePiece "
                    + "space replacement (normalizer Replace ' ' or pre_tokenizer Metaspace); cannot tell the BPE style");
        }
        return new BpeStyle.SentencePiece(prepend, model.path("byte_fallback").asBoolean(false));
    }

    private static Vocabulary vocabulary(JsonNode root, JsonNode model, BpeStyle style, String source) {
        JsonNode vocab = model.path("vocab");
        if (!vocab.isObject()) {
            throw new TokenizerFormatException(source + ": model.vocab is missing or not an object");
        }
        int size = 0;
        for (JsonNode id : vocab) {
            size = Math.max(size, id.asInt() + 1);
        }
        for (JsonNode added : root.path("added_tokens")) {
            size = Math.max(size, added.path("id").asInt() + 1);
        }
        String[] pieces = new String[size];
        float[] scores = new float[size];
        TokenType[] types = new TokenType[size];
        Arrays.fill(pieces, "");
        Arrays.fill(types, TokenType.UNUSED);
        boolean byteFallback = style instanceof BpeStyle.SentencePiece spm && spm.byteFallback();
        for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            int id = entry.getValue().asInt();
            pieces[id] = entry.getKey();
            types[id] = byteFallback && BYTE_PIECE.matcher(entry.getKey()).matches() ? TokenType.BYTE : TokenType.NORMAL;
            scores[id] = -id; // SentencePiece convention; merges come from the explicit ranked list anyway
        }
        String unknown = model.path("unk_token").isTextual() ? model.get("unk_token").asText() : null;
        for (JsonNode added : root.path("added_tokens")) {
            int id = added.path("id").asInt();
            pieces[id] = added.path("content").asText();
            types[id] = added.path("special").asBoolean(false) ? TokenType.CONTROL : TokenType.USER_DEFINED;
        }
        for (int id = 0; id < size; id++) {
            if (pieces[id].equals(unknown)) {
                types[id] = TokenType.UNKNOWN;
            }
        }
        return Vocabulary.of(pieces, scores, types);
    }

    /** Merges are "left right" strings (tokenizers before 0.20) or [left, right] arrays (later). */
    private static List<String[]> mergePairs(JsonNode merges, String source) {
        List<String[]> pairs = new ArrayList<>(merges.size());
        for (JsonNode merge : merges) {
            if (merge.isArray() && merge.size() == 2) {
                pairs.add(new String[] {merge.get(0).asText(), merge.get(1).asText()});
            } else {
                String text = merge.asText();
                int space = text.indexOf(' ', 1);
                if (space < 0) {
                    throw new TokenizerFormatException(source + ": merge #" + pairs.size() + " '" + text
                            + "' is not 'left right'");
                }
                pairs.add(new String[] {text.substring(0, space), text.substring(space + 1)});
            }
        }
        return pairs;
    }

    /** A token given as a string or as {"content": ...}; -1 when absent or not in the vocabulary. */
    private static int tokenIdOf(JsonNode token, Vocabulary vocabulary) {
        String content = token.isTextual() ? token.asText() : token.path("content").asText(null);
        return content == null ? -1 : vocabulary.id(content).orElse(-1);
    }

    private static boolean templatePrependsBos(JsonNode postProcessor, String bosPiece) {
        for (JsonNode step : flatten(postProcessor, "processors")) {
            JsonNode first = step.path("single").path(0).path("SpecialToken").path("id");
            if (step.path("type").asText().equals("TemplateProcessing") && first.asText().equals(bosPiece)) {
                return true;
            }
        }
        return false;
    }

    /** chat_template is a string, or a list of {name, template} where "default" is the plain one. */
    private static Optional<String> chatTemplate(JsonNode node) {
        if (node.isTextual()) {
            return Optional.of(node.asText());
        }
        String first = null;
        for (JsonNode named : node) {
            if (named.path("name").asText().equals("default")) {
                return Optional.of(named.path("template").asText());
            }
            first = first == null ? named.path("template").asText(null) : first;
        }
        return Optional.ofNullable(first);
    }

    private static void forEachInt(JsonNode node, Consumer<Integer> action) {
        if (node.isInt()) {
            action.accept(node.asInt());
        }
        for (JsonNode element : node) {
            if (element.isInt()) {
                action.accept(element.asInt());
            }
        }
    }

    /** A component and, when it is a Sequence, its parts in order. */
    private static List<JsonNode> flatten(JsonNode node, String childrenField) {
        List<JsonNode> out = new ArrayList<>();
        if (node == null || node.isNull() || node.isMissingNode()) {
            return out;
        }
        out.add(node);
        for (JsonNode child : node.path(childrenField)) {
            out.addAll(flatten(child, childrenField));
        }
        return out;
    }

    private static boolean hasType(List<JsonNode> nodes, String type) {
        return nodes.stream().anyMatch(n -> n.path("type").asText().equals(type));
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new TokenizerFormatException(file + ": cannot read tokenizer JSON: " + e.getMessage(), e);
        }
    }

    private static JsonNode readOptionalJson(Path file) {
        return Files.isRegularFile(file) ? readJson(file) : JSON.missingNode();
    }
}
