package io.specdec.core.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Seeded random strings mixing ASCII, whitespace, accented Latin, Cyrillic, CJK, emoji (with ZWJ and modifiers). */
final class RandomText {

    private static final int[][] RANGES = {
            {'a', 'z'}, {'A', 'Z'}, {'0', '9'}, {' ', ' '}, {' ', ' '}, {'\n', '\n'}, {'\t', '\t'}, {'!', '/'},
            {0xC0, 0x17F}, {0x400, 0x44F}, {0x4E00, 0x9FFF}, {0x3040, 0x30FF}, {0xAC00, 0xD7A3},
            {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF}, {0x200D, 0x200D}, {0x1F3FB, 0x1F3FF}, {0xFE0F, 0xFE0F},
            {0x0300, 0x036F}, {0x10000, 0x1000F},
    };

    private RandomText() {}

    static List<String> strings(long seed, int count, int maxCodePoints) {
        Random random = new Random(seed);
        List<String> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            StringBuilder sb = new StringBuilder();
            int length = random.nextInt(maxCodePoints + 1);
            for (int j = 0; j < length; j++) {
                int[] range = RANGES[random.nextInt(RANGES.length)];
                sb.appendCodePoint(range[0] + random.nextInt(range[1] - range[0] + 1));
            }
            out.add(sb.toString());
        }
        return out;
    }
}
