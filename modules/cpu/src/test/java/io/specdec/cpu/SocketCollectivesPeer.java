package io.specdec.cpu;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * A rank of {@link SocketCollectivesTest}'s group in a process of its own: joins as rank 1 of 2, runs one all-reduce
 * and one all-gather of {@link SocketCollectivesTest#part(int)}, prints both results and exits.
 * Arguments: group id (hex), rendezvous folder.
 */
public final class SocketCollectivesPeer {
    public static void main(String[] args) {
        SocketCollectives c = SocketCollectives.join(HexFormat.of().parseHex(args[0]), 1, 2, Path.of(args[1]),
                Duration.ofSeconds(30), Duration.ofSeconds(30));
        float[] sum = SocketCollectivesTest.summand(1);
        c.allReduceSum(sum);
        float[] all = new float[2 * SocketCollectivesTest.part(1).length];
        c.allGather(SocketCollectivesTest.part(1), all);
        System.out.println("sum " + Arrays.toString(sum));
        System.out.println("gather " + Arrays.toString(SocketCollectivesTest.bits(all)));
        c.close("done");
    }
}
